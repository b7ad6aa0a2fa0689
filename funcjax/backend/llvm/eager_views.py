"""Native eager entries for moves and products: a warm ``x[0]``, ``x[1:3]``, ``x.reshape(2, 4)``,
``x.T`` or ``x @ y`` on an ``Array`` runs as a generated CPython ``METH_FASTCALL`` builtin that
replays, in native code, a program ``numpy/_programs.py`` has built and checked.

``_programs`` decides everything: it keeps a program for a key (the operand types, the
static arguments, the x64 flag) only if tracing raised and warned nothing, and it tells this
module (``enable``) about a program it has replayed often whose form is one of:

- ``"view"``: a chain of moves (reshape, transpose, basic slicing, reversal) of one operand,
  whose result numpy makes as a view of the operand's buffer. Given the operand's strides,
  the result's shape, strides and offset into that buffer are fixed: read from the result
  of the replay that enables the entry. The native result is the same view, made with
  numpy's C API (``PyArray_NewFromDescr`` on the operand's data, dtype and writeable flag,
  then ``PyArray_SetBaseObject``, which collapses the base as numpy's own views do).
- ``"matmul"``: a plain 2-D product (``np.matmul`` of two operands, each possibly a reshape
  of an operand to 2-D, and a reshape of the product). The native call runs numpy's matmul
  inner loop for the dtype with the strides numpy passes it, on a fresh buffer, wrapped as
  the program wraps it; it is enabled only if it gives the replay's bits.

A table entry matches a call by each operand's type as ``_programs`` keys it (an exact Array's
aval equals its buffer's dtype and shape: the dtype object, the weak flag object and the
dimensions are compared, so fresh arrays of one type share an entry) and strides, the x64
flag object, and the static arguments encoded as words: an exact ``int`` by value, ``None``,
``Ellipsis``, a ``slice`` of those, a ``tuple`` of those. The result's aval is the program's
own (one object per program, ``straight_line.canonical``). The call
must also be eager (``eager_entry.require_runs_now``), outside ``jax_debug_nans``, with
``_programs.enabled`` set, no keywords, exactly ``Array`` operands (not committed or sharded
subclasses, not tracers) with live aligned buffers on the default device. Anything else
(and any miss) calls the Python method, which keys, builds, refuses, raises or traces as
before.
"""

import ctypes
import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler, eager_entry, fast_call, spmd_pool
from funcjax.backend.llvm.loops import for_range
from funcjax.core.array import Array

MAX_DIMS = 8
MAX_WORDS = 16  # words of a key's static arguments
SLOTS = 32  # programs per entry; past that, the oldest is replaced
MAX_WORK = 1 << 16  # multiply-adds of a native product (the call holds the GIL)
I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
_NAME = "funcjax_eager_views"
_GETTER = "funcjax_eager_views_get"
_WRITEABLE = 0x400
# word tags of the static arguments (as ``words`` encodes them)
_INT, _NONE, _SLICE, _TUPLE, _ELLIPSIS = 1, 2, 3, 4, 5


class _Operand(ctypes.Structure):
    """An operand's part of a key: its type (dtype object, weak flag object, shape) and
    strides."""
    _fields_ = [("descr", ctypes.c_void_p), ("weak", ctypes.c_void_p), ("nd", ctypes.c_int64),
                ("dims", ctypes.c_int64 * MAX_DIMS), ("strides", ctypes.c_int64 * MAX_DIMS)]

    def set(self, array):
        value = array._value
        self.weak, self.nd = id(array._aval.weak_type), value.ndim
        self.dims[:value.ndim], self.strides[:value.ndim] = value.shape, value.strides
        self.descr = id(value.dtype)


class _Program(ctypes.Structure):
    _fields_ = [("a", _Operand), ("b", _Operand), ("x64", ctypes.c_void_p),
                ("n_words", ctypes.c_int64), ("words", ctypes.c_int64 * MAX_WORDS),
                ("out_aval", ctypes.c_void_p), ("out_nd", ctypes.c_int64),
                ("out_dims", ctypes.c_int64 * MAX_DIMS),
                ("out_strides", ctypes.c_int64 * MAX_DIMS), ("offset", ctypes.c_int64),
                ("loop", ctypes.c_void_p), ("data", ctypes.c_void_p),
                ("core", ctypes.c_int64 * 4), ("steps", ctypes.c_int64 * 9)]


def _field(name):
    """The offset of ``name`` (``"a.dims"``: of a field of an operand) in ``_Program``."""
    head, _, rest = name.partition(".")
    return getattr(_Program, head).offset + (getattr(_Operand, rest).offset if rest else 0)


def words(statics):
    """The key words of the static arguments ``statics`` (as the entry encodes them), or None
    if the entry cannot match them."""
    out = []

    def scalar(v):
        if type(v) is int and -2**63 <= v < 2**63:
            out.extend((_INT, v))
        elif v is None:
            out.append(_NONE)
        elif v is Ellipsis:
            out.append(_ELLIPSIS)
        else:
            raise TypeError

    def item(v, depth):
        if type(v) is slice:
            out.append(_SLICE)
            for field in (v.start, v.stop, v.step):
                scalar(field)
        elif type(v) is tuple and depth == 0:
            out.extend((_TUPLE, len(v)))
            for e in v:
                item(e, 1)
        else:
            scalar(v)
    try:
        for v in statics:
            item(v, 0)
    except TypeError:
        return None
    return out if len(out) <= MAX_WORDS else None


@functools.cache
def _layout():
    """``eager_entry``'s layout plus numpy's view-making functions and the slice layout, or
    None."""
    found = eager_entry._layout()
    if found is None:
        return None
    try:
        capsule = np._core._multiarray_umath._ARRAY_API
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        api = (ctypes.c_void_p * 300).from_address(get(capsule, None))
        s = slice(7, None, -3)
        word = fast_call._word
        if [word(id(s) + o) for o in (16, 24, 32)] != [id(7), id(None), id(-3)] or \
                ctypes.c_int64.from_address(id((1, 2, 3)) + 16).value != 3:
            return None
        found = dict(found, PyArray_NewFromDescr=api[94], PyArray_SetBaseObject=api[282],
                     slice=id(slice), tuple=id(tuple), Ellipsis=id(Ellipsis))
        for name in ("PyArray_NewFromDescr", "PyArray_SetBaseObject"):
            llvm.add_symbol(fast_call._SYMBOL + name, found[name])
        return found
    except (AttributeError, ValueError, TypeError, OSError):
        return None


class NativeMoves:
    """The native entry of one Array method (or property: a getset descriptor) ``attr``
    whose Python version is ``fallback``: ``kind`` "view" (one operand and static
    arguments) or "matmul" (two operands); a table of ``SLOTS`` programs that ``enable``
    fills."""

    def __init__(self, attr, fallback, kind, enabled):
        self.attr, self.fallback, self.kind = attr, fallback, kind
        self.table = (_Program * SLOTS)()
        self.refs = [None] * SLOTS  # what each slot points at, kept alive
        self.next = 0
        self.counter = ctypes.c_int64(0)  # completed native calls
        self.enabled = enabled  # a ctypes flag: 0 turns the entry into the fallback
        method = not isinstance(fallback, property)
        function = fallback if method else fallback.fget
        engine = compiler.compile_ir(_entry_ir(self, function, method), cacheable=False,
                                     cold=True)
        self.engine = engine
        self.defn = fast_call._MethodDef(attr.encode(), engine.address(_NAME),
                                         fast_call._METH_FASTCALL | fast_call._METH_KEYWORDS,
                                         None)
        self.keep = [function]
        if method:
            self.attribute = eager_entry._new_method(ctypes.py_object(Array),
                                                     ctypes.addressof(self.defn))
        else:  # a getset descriptor whose getter calls the entry with the Array (``x.T``)
            self.getset = _GetSetDef(attr.encode(), engine.address(_GETTER), None, None,
                                     id(self))
            self.attribute = _new_getset(ctypes.py_object(Array),
                                         ctypes.addressof(self.getset))

    @property
    def calls(self):
        return self.counter.value

    def _slot(self, refs, statics, x64):
        """The next slot (the oldest is replaced), emptied, keyed by ``statics`` and ``x64``;
        the caller sets its operands last (``a.descr`` marks it full)."""
        k = self.next
        self.next = (k + 1) % SLOTS
        slot = self.table[k]
        slot.a.descr = 0  # a half-written slot never matches
        self.refs[k] = refs
        slot.x64, slot.n_words = id(x64), len(statics)
        slot.words[:len(statics)] = statics
        return slot

    def enable_view(self, array, statics, x64, out):
        """Makes ``array.attr(*statics)`` (whose checked program gave ``out``, a view of
        ``array``'s buffer) native for operands of ``array``'s type and strides."""
        keyed = words(statics)
        value, result = array._value, out._value
        owner = value if value.base is None or value.flags.owndata else value.base
        if keyed is None or type(result) is not np.ndarray or result.base is not owner or \
                result.dtype is not value.dtype or value.ndim > MAX_DIMS or \
                result.ndim > MAX_DIMS or result.flags.writeable != value.flags.writeable or \
                not value.flags.aligned or self.kind != "view":
            return False
        slot = self._slot((value.dtype, out._aval, x64), keyed, x64)
        slot.out_aval, slot.out_nd = id(out._aval), result.ndim
        slot.out_dims[:result.ndim], slot.out_strides[:result.ndim] = result.shape, result.strides
        slot.offset = result.ctypes.data - value.ctypes.data
        slot.a.set(array)  # last: the slot matches from now on
        return True

    def enable_matmul(self, a, b, a2d, b2d, x64, out):
        """Makes ``a @ b`` (whose checked program is ``np.matmul`` of ``a`` and ``b``
        reshaped to ``a2d``, ``b2d``, giving ``out``) native for operands of these types
        and strides, if numpy's matmul loop gives ``out``'s bits."""
        x, y = a._value, b._value
        dtype = x.dtype
        if self.kind != "matmul" or y.dtype is not dtype or dtype.kind not in "fiu" or \
                x.ndim > MAX_DIMS or y.ndim > MAX_DIMS or type(out._value) is not np.ndarray:
            return False
        x2, y2 = x.reshape(a2d), y.reshape(b2d)
        (m, n), (n2, p) = x2.shape, y2.shape
        if n != n2 or not m * n * p or m * n * p > MAX_WORK or out._value.size != m * p or \
                x2.ctypes.data != x.ctypes.data or y2.ctypes.data != y.ctypes.data or \
                out._value.dtype is not dtype:
            return False
        found = eager_entry.ufunc_loop(np.matmul, dtype, dtype)
        if found is None:
            return False
        core = (1, m, n, p)
        item = dtype.itemsize

        def step(arr_shape, arr_strides):  # numpy passes 0 for a core dimension of 1
            return [0 if d == 1 else s for d, s in zip(arr_shape, arr_strides)]
        steps = [0, 0, 0, *step(x2.shape, x2.strides), *step(y2.shape, y2.strides),
                 *step((m, p), (p * item, item))]
        if not _agrees(found, core, steps, x2, y2, out._value):
            return False
        slot = self._slot((dtype, out._aval, x64), [], x64)
        slot.loop, slot.data = found
        slot.core[:], slot.steps[:] = core, steps
        result = out._value
        slot.out_aval, slot.out_nd = id(out._aval), result.ndim
        slot.out_dims[:result.ndim] = result.shape
        slot.b.set(b)
        slot.a.set(a)  # last
        return True


class _GetSetDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("get", ctypes.c_void_p), ("set", ctypes.c_void_p),
                ("doc", ctypes.c_char_p), ("closure", ctypes.c_void_p)]


_new_getset = ctypes.pythonapi.PyDescr_NewGetSet
_new_getset.restype = ctypes.py_object
_new_getset.argtypes = [ctypes.py_object, ctypes.c_void_p]

_LOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p)


def _agrees(found, core, steps, x2, y2, expected):
    """Whether the matmul loop ``found`` with these dimensions and steps gives ``expected``
    (the program's product of ``x2`` and ``y2``) and numpy's bits on probe values laid out
    as ``x2`` and ``y2`` are."""
    loop, data = found
    rng = np.random.default_rng(0)
    cases = [(x2, y2, expected)]
    for _ in range(3):
        probes = []
        for arr in (x2, y2):
            if min(arr.strides) < 0:
                return False
            span = 1 + sum((d - 1) * s for d, s in zip(arr.shape, arr.strides)) // arr.itemsize
            values = (rng.standard_normal(span) * 8).astype(arr.dtype)
            probes.append(np.lib.stride_tricks.as_strided(values, arr.shape, arr.strides))
        with np.errstate(all="ignore"):
            cases.append((*probes, np.matmul(*probes)))
    for a, b, want in cases:
        out = np.zeros(want.shape, want.dtype)
        pointers = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, out.ctypes.data)
        _LOOP(loop)(pointers, (ctypes.c_int64 * 4)(*core), (ctypes.c_int64 * 9)(*steps),
                    data or None)
        if out.tobytes() != np.ascontiguousarray(want).tobytes():
            return False
    return True


_moves = {}  # attr -> NativeMoves, or None where there are no native entries


def moves_for(attr, fallback, kind, enabled):
    """The ``NativeMoves`` of the Array attribute ``attr`` (installed in place of
    ``fallback`` on first use), or None if unavailable."""
    if attr not in _moves:
        _moves[attr] = None
        if _layout() is not None:
            _moves[attr] = NativeMoves(attr, fallback, kind, enabled)
            setattr(Array, attr, _moves[attr].attribute)
    return _moves[attr]


def installed():
    """``{attr: (native attribute, Python attribute)}`` of the entries installed now."""
    return {attr: (m.attribute, m.fallback) for attr, m in _moves.items()
            if m is not None and Array.__dict__.get(attr) is m.attribute}


# -- the generated entry ---------------------------------------------------------------------
def _alloca(b, ty, count=1):
    """A stack slot of ``count`` ``ty`` made in the entry block (once per call, wherever it
    is used: in a loop too)."""
    with b.goto_entry_block():
        return b.alloca(ty, size=ir.Constant(I64, count))


def _encode(entry, obj, buf, pos, depth):
    """Appends ``obj``'s key words (``words``) to ``buf`` at the index cell ``pos``; ``miss``
    for anything else. ``depth`` 0 takes tuples, 1 slices, 2 scalars only."""
    L, b, fn, load = _layout(), entry.b, entry.fn, entry.load
    i64 = functools.partial(ir.Constant, I64)

    def put(value):
        at = b.load(pos, typ=I64)
        entry.require(b.icmp_signed("<", at, i64(MAX_WORDS)), "room")
        b.store(value, b.gep(buf, [at], source_etype=I64))
        b.store(b.add(at, i64(1)), pos)
    kind = b.ptrtoint(load(obj, 8), I64)
    done = fn.append_basic_block("encoded")
    cases = [("int", L["int"]), ("none", None), ("ellipsis", None)]
    if depth <= 1:
        cases.append(("slice", L["slice"]))
    if depth == 0:
        cases.append(("tuple", L["tuple"]))
    for name, type_address in cases:
        this, other = fn.append_basic_block(name), fn.append_basic_block(f"not_{name}")
        if type_address is None:
            match = eager_entry._is(entry, obj, L["None_" if name == "none" else "Ellipsis"])
        else:
            match = b.icmp_unsigned("==", kind, i64(type_address))
        b.cbranch(match, this, other)
        b.position_at_end(this)
        if name == "int":
            overflow = _alloca(b, I32)
            b.store(ir.Constant(I32, 0), overflow)
            v = entry.call("PyLong_AsLongLongAndOverflow", I64, [PTR, PTR], obj, overflow)
            entry.require(b.icmp_signed("==", b.load(overflow, typ=I32), ir.Constant(I32, 0)),
                          "no_overflow")
            put(i64(_INT))
            put(v)
        elif name == "none":
            put(i64(_NONE))
        elif name == "ellipsis":
            put(i64(_ELLIPSIS))
        elif name == "slice":
            put(i64(_SLICE))
            for offset in (16, 24, 32):
                _encode(entry, load(obj, offset), buf, pos, 2)
        else:
            n = load(obj, 16, I64)
            put(i64(_TUPLE))
            put(n)
            with for_range(b, n) as j:
                item = b.load(b.gep(obj, [b.add(i64(3), j)], source_etype=PTR), typ=PTR)
                _encode(entry, item, buf, pos, 1)
        b.branch(done)
        b.position_at_end(other)
    b.branch(entry.miss)
    b.position_at_end(done)


def _equal_words(entry, first, second, n):
    """Whether the ``n`` words at ``first`` and ``second`` are equal (an i1)."""
    b = entry.b
    diff = _alloca(b, I64)
    b.store(ir.Constant(I64, 0), diff)
    with for_range(b, n) as j:
        x = b.load(b.gep(first, [j], source_etype=I64), typ=I64)
        y = b.load(b.gep(second, [j], source_etype=I64), typ=I64)
        b.store(b.or_(b.load(diff, typ=I64), b.xor(x, y)), diff)
    return b.icmp_unsigned("==", b.load(diff, typ=I64), ir.Constant(I64, 0))


def _find(entry, owner, matches):
    """The address of the first table slot for which ``matches(slot)`` (emitted in its own
    block) holds, or ``miss``."""
    b, fn = entry.b, entry.fn
    i64 = functools.partial(ir.Constant, I64)
    table = entry.const_ptr(ctypes.addressof(owner.table))
    before = b.block
    head, check, found = (fn.append_basic_block(n) for n in ("slot", "check", "found"))
    b.branch(head)
    b.position_at_end(head)
    k = b.phi(I64)
    k.add_incoming(i64(0), before)
    entry.require(b.icmp_signed("<", k, i64(SLOTS)), "slots_left")
    slot = b.gep(table, [b.mul(k, i64(ctypes.sizeof(_Program)))], source_etype=I8)
    b.branch(check)
    b.position_at_end(check)
    hit = matches(slot)
    k.add_incoming(b.add(k, i64(1)), b.block)
    b.cbranch(hit, found, head)
    b.position_at_end(found)
    return slot


def _new_array(entry, value, out_aval):
    """Returns a new ``Array`` around the ndarray ``value`` (a new reference, given away)
    with the aval ``out_aval``, counted as a native call."""
    L, b, call = _layout(), entry.b, entry.call
    obj = call("PyType_GenericAlloc", PTR, [PTR, I64], entry.const_ptr(L["Array"]),
               ir.Constant(I64, 0))
    fast_call._fail_if_null(b, entry.fn, obj, [value], call)
    for slot, target in (("aval", out_aval), ("device", entry.const_ptr(L["device_object"])),
                         ("value", None)):
        if target is not None:
            call("Py_IncRef", ir.VoidType(), [PTR], target)
        b.store(value if target is None else target,
                b.gep(obj, [ir.Constant(I64, L[slot])], source_etype=I8))
    return obj


def _entry_ir(owner, fallback, method):
    L = _layout()
    compiler.host()
    entry = fast_call.EntryFunction("eager_views", _NAME, keywords=True)
    fn, b, load, require, call = entry.fn, entry.b, entry.load, entry.require, entry.call
    self_, args, nargs, kwnames = fn.args
    i64, i32 = functools.partial(ir.Constant, I64), functools.partial(ir.Constant, I32)

    def arg(k):
        return b.load(b.gep(args, [k if isinstance(k, ir.Value) else i64(k)], source_etype=PTR),
                      typ=PTR)

    def field(slot, name, ty=PTR):
        return load(slot, _field(name), ty)

    def at(slot, name):
        return b.gep(slot, [i64(_field(name))], source_etype=I8)
    require(eager_entry._is(entry, kwnames, 0), "no_keywords")
    first = 0 if method else 1  # the first argument after the operand
    if not method:
        require(b.icmp_signed(">=", nargs, i64(1)), "operand")
    array = self_ if method else arg(0)
    matmul = owner.kind == "matmul"
    if matmul:
        require(b.icmp_signed("==", nargs, i64(first + 1)), "two_operands")
        other = arg(first)
    aval, value = eager_entry.checked_array(entry, array, 0, strong=False, contiguous=False)
    if matmul:
        aval2, value2 = eager_entry.checked_array(entry, other, 1, strong=False,
                                                  contiguous=False)
    flag = load(entry.const_ptr(ctypes.addressof(owner.enabled)), 0, I8)
    require(b.icmp_unsigned("!=", flag, ir.Constant(I8, 0)), "programs_enabled")
    eager_entry.require_runs_now(entry)
    x64 = b.ptrtoint(eager_entry.config_flag(entry, "x64"), I64)
    require(eager_entry._is(entry, eager_entry.config_flag(entry, "debug_nans"), L["False"]),
            "no_debug_nans")
    buf = _alloca(b, I64, MAX_WORDS)
    pos = _alloca(b, I64)
    b.store(i64(0), pos)
    if not matmul:
        with for_range(b, nargs, start=first) as k:
            _encode(entry, arg(k), buf, pos, 0)
    n_words = b.load(pos, typ=I64)
    operands = [("a", aval, value)] + ([("b", aval2, value2)] if matmul else [])

    def same(first, second):
        return b.icmp_unsigned("==", b.ptrtoint(first, I64), b.ptrtoint(second, I64))

    def matches(slot):
        """The slot's key is this call's: the x64 flag, the static words, each operand's
        dtype object, weak flag, shape and strides."""
        quick = b.and_(b.icmp_unsigned("==", b.ptrtoint(field(slot, "x64"), I64), x64),
                       b.icmp_signed("==", field(slot, "n_words", I64), n_words))
        for name, operand_aval, operand in operands:
            quick = b.and_(quick, same(field(slot, f"{name}.descr"), load(operand, 56)))
            quick = b.and_(quick, same(field(slot, f"{name}.weak"),
                                       load(operand_aval, L["weak"])))
            quick = b.and_(quick, b.icmp_signed("==", field(slot, f"{name}.nd", I64),
                                                b.sext(load(operand, 24, I32), I64)))
        before = b.block
        full, joined = fn.append_basic_block("same_key"), fn.append_basic_block("joined")
        b.cbranch(quick, full, joined)
        b.position_at_end(full)
        hit = _equal_words(entry, at(slot, "words"), buf, n_words)
        for name, _, operand in operands:
            nd = b.sext(load(operand, 24, I32), I64)
            hit = b.and_(hit, b.and_(
                _equal_words(entry, at(slot, f"{name}.dims"), load(operand, 32), nd),
                _equal_words(entry, at(slot, f"{name}.strides"), load(operand, 40), nd)))
        from_full = b.block
        b.branch(joined)
        b.position_at_end(joined)
        result = b.phi(ir.IntType(1))
        result.add_incoming(ir.Constant(ir.IntType(1), 0), before)
        result.add_incoming(hit, from_full)
        return result
    slot = _find(entry, owner, matches)
    out_aval = field(slot, "out_aval")
    if matmul:  # a fresh buffer of the result's shape, numpy's loop, a private view
        descr = load(value, 56)
        call("Py_IncRef", ir.VoidType(), [PTR], descr)
        base = call("PyArray_Empty", PTR, [I32, PTR, PTR, I32],
                    b.trunc(field(slot, "out_nd", I64), I32), at(slot, "out_dims"), descr,
                    i32(0))
        fast_call._fail_if_null(b, fn, base, [], call)
        pointers = _alloca(b, PTR, 3)
        for k, ptr in enumerate((load(value, 16), load(value2, 16), load(base, 16))):
            b.store(ptr, b.gep(pointers, [i64(k)], source_etype=PTR))
        spmd_pool._call_ptr(b, field(slot, "loop"), ir.FunctionType(ir.VoidType(), [PTR] * 4),
                            [pointers, at(slot, "core"), at(slot, "steps"), field(slot, "data")])
        view = call("PyArray_View", PTR, [PTR, PTR, PTR], base, ir.Constant(PTR, None),
                    ir.Constant(PTR, None))
        call("Py_DecRef", ir.VoidType(), [PTR], base)
        fast_call._fail_if_null(b, fn, view, [], call)
    else:  # the view: the operand's dtype and writeable flag, its buffer as the base
        descr = load(value, 56)
        call("Py_IncRef", ir.VoidType(), [PTR], descr)
        data = b.gep(load(value, 16), [field(slot, "offset", I64)], source_etype=I8)
        flags = b.and_(load(value, 64, I32), i32(_WRITEABLE))
        view = call("PyArray_NewFromDescr", PTR, [PTR, PTR, I32, PTR, PTR, PTR, I32, PTR],
                    entry.const_ptr(L["ndarray"]), descr,
                    b.trunc(field(slot, "out_nd", I64), I32), at(slot, "out_dims"),
                    at(slot, "out_strides"), data, flags, ir.Constant(PTR, None))
        fast_call._fail_if_null(b, fn, view, [], call)
        call("Py_IncRef", ir.VoidType(), [PTR], value)
        status = call("PyArray_SetBaseObject", I32, [PTR, PTR], view, value)
        failed, ok = fn.append_basic_block("base_failed"), fn.append_basic_block("based")
        b.cbranch(b.icmp_signed("<", status, i32(0)), failed, ok)
        b.position_at_end(failed)
        call("Py_DecRef", ir.VoidType(), [PTR], view)
        b.ret(ir.Constant(PTR, None))
        b.position_at_end(ok)
    obj = _new_array(entry, view, out_aval)
    counter = entry.const_ptr(ctypes.addressof(owner.counter))
    b.store(b.add(b.load(counter, typ=I64), i64(1)), counter)
    b.ret(obj)
    eager_entry.call_fallback(entry, fallback, method)
    if not method:  # ``PyObject *get(PyObject *obj, void *owner)``: the entry with (obj,)
        getter = ir.Function(entry.module, ir.FunctionType(PTR, [PTR, PTR]), _GETTER)
        gb = ir.IRBuilder(getter.append_basic_block("entry"))
        obj, closure = getter.args
        stack = gb.alloca(PTR)
        gb.store(obj, stack)
        gb.ret(gb.call(fn, [closure, stack, i64(1), ir.Constant(PTR, None)]))
    return str(entry.module)
