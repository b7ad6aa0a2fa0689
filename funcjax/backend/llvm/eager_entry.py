"""Native eager entries: a hot elementwise ``funcjax.numpy`` function (``jnp.sin``,
``jnp.add``) and the Array operators that forward to it (``x + y``, ``x * 2``) run as a
generated CPython ``METH_FASTCALL`` builtin that calls numpy's own inner loop.

The Python path (``funcjax.numpy._util.eager_elementwise``) decides, with every check, that
an elementwise primitive whose impl is a numpy ufunc (or names the ufunc it runs on floats,
as ``div`` does) maps arrays of one strong dtype to arrays of the same type. After a function
has taken that path ``_util.NATIVE_AFTER`` times for a dtype, ``enable`` records
the dtype in the function's table: the descriptor numpy uses for it and the ufunc's inner loop
for exactly that dtype (``ff->f``), read from the ufunc object and taken only if it gives
the ufunc's own bits on probe values. The same code serves as the function (``jnp.add``) and
as method descriptors on ``Array`` for the operators that forward to it (``__add__`` and
``__radd__``, ``__neg__``). The builtin then repeats, in
native code, only what makes a call eligible, and falls back to the Python function (which
converts, promotes, broadcasts, traces or raises as before) for anything else:

- the (first) operand is exactly an ``Array`` (not a subclass: committed and sharded arrays,
  tracers), with a ``ShapedArray`` that is strong, on the default device, and whose buffer is
  exactly an ``ndarray``, C-contiguous, aligned, of a dtype in the table, at most ``MAX_SIZE``
  elements (numpy releases the GIL on large arrays; the entry does not);
- the other operand is such an Array of the same dtype object and shape, or a Python ``float``
  (float32 without x64) or ``int`` (float32 within +-2**31; int32 without x64, in range) that
  ``_util._takes_scalar`` lets adapt, converted as numpy converts it;
- no transformation is active (the thread's trace is unset or eager evaluation) and no
  ``default_device`` block is open in any thread (``placement.blocks``, read from its
  address): ``eval.runs_now``. Committed and sharded arrays are not exactly Arrays, so they
  take the Python path, which places results.

The result is a new Array sharing the operand's ``ShapedArray`` (the type rule gave that
type), around a private view of a fresh buffer, as ``wrap_fresh`` builds it. Where the result
type is another (comparisons, casts, reductions), it is the one the Python path's type rule
gave for the same operand aval object and table entry (``NativeFunction.remember``).

The same entry serves functions of other forms, with loops of numpy's signature:

- a static argument matched by identity (``x ** 2``: numpy's square loop; ``x.astype(t)``: a
  generated cast loop), enabled from the checked programs of ``numpy/_programs.py``;
- ``where(c, x, y)``: a strong bool Array ``c`` of x's shape, then ``x`` and ``y`` as in a
  binary entry, through a generated select loop;
- ``sum(x)``, ``sum(x, axis)``, ``x.sum(axis=axis)``: numpy's add loop, run as numpy's reduce
  runs it (from 0; each output's row reduced pairwise, or whole rows added in order).

Entries take keywords (``METH_KEYWORDS``) only to pass them, with everything else they do not
take, to the Python function. numpy's loop runs
without numpy's floating-point error checks, which eager mode turns off anyway. Layouts (the
ufunc object's fields, besides those ``fast_call.layout`` verifies) are checked on live
objects once; if anything differs, nothing is built.
"""

import ctypes
import functools
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler, fast_call, spmd_pool
from funcjax.backend.llvm.loops import for_range
from funcjax.config import config
from funcjax.core import placement
from funcjax.core.array import COMPARISONS as ARRAY_COMPARISONS
from funcjax.core.array import OPERATORS as ARRAY_OPERATORS
from funcjax.core.array import Array, ArrayMethods
from funcjax.core.trace import _context
from funcjax.interpreters.eval import EvalTrace

MAX_SIZE = 1 << 14  # elements
_ENTRIES = 8  # dtypes per function
_STATIC_ENTRIES = 48  # (dtype, static argument) pairs: astype (7 dtypes each way), sum (axes)
I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
_SYMBOL = fast_call._SYMBOL
_NAME = "funcjax_eager_entry"
_C_API = ("PyObject_GetAttr", "PyDict_GetItem", "PyObject_Vectorcall", "PyFloat_AsDouble",
          "PyLong_AsLongLongAndOverflow", "PyErr_Clear")
# scalar kinds of a table entry
_NO_SCALAR, _FLOAT32, _INT32 = 0, 1, 2


_AVALS = 8  # (operand type, table entry) -> result type, where it is not the operand's


class _Entry(ctypes.Structure):
    _fields_ = [("descr", ctypes.c_void_p), ("loop", ctypes.c_void_p),
                ("data", ctypes.c_void_p), ("scalar", ctypes.c_int64),
                ("itemsize", ctypes.c_int64), ("out_descr", ctypes.c_void_p),
                ("out_itemsize", ctypes.c_int64), ("static", ctypes.c_void_p)]


@functools.cache
def _layout():
    """``fast_call.layout()`` plus the addresses used here, or None."""
    found = fast_call.layout()
    if found is None:
        return None
    try:
        u = np.add
        base = id(u)
        word = fast_call._word
        ints = [ctypes.c_int32.from_address(base + o).value for o in (16, 20, 24, 48)]
        if ints != [u.nin, u.nout, u.nargs, u.ntypes] or \
                ctypes.string_at(word(base + 56)) != b"add":
            return None
        codes = ctypes.string_at(word(base + 64), u.ntypes * u.nargs)
        if list(codes) != [np.dtype(c).num for t in u.types for c in t.replace("->", "")]:
            return None
        found = dict(found)
        for name in _C_API:
            found[name] = fast_call._c_function(name)
            llvm.add_symbol(_SYMBOL + name, found[name])
        found.update(float=id(float), int=id(int), None_=id(None), EvalTrace=id(EvalTrace))
        return found
    except (AttributeError, ValueError, TypeError, OSError):
        return None


def ufunc_loop(ufunc, dtype, out_dtype):
    """``(loop, data)``: ``ufunc``'s inner loop taking exactly ``dtype`` and giving
    ``out_dtype``, or None."""
    base = id(ufunc)
    word = fast_call._word
    codes = ctypes.string_at(word(base + 64), ufunc.ntypes * ufunc.nargs)
    want = bytes([dtype.num] * ufunc.nin + [out_dtype.num])
    for k in range(ufunc.ntypes):
        if codes[k * ufunc.nargs:(k + 1) * ufunc.nargs] == want:
            loop = word(word(base + 32) + 8 * k)
            data = word(base + 40)
            return (loop, word(data + 8 * k) if data else 0) if loop else None
    return None


_LOOP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p)


def probe_values(dtype):
    """Values an inner loop must get right for ``dtype`` (special values included)."""
    if dtype.kind == "f":
        with np.errstate(all="ignore"):  # (1e30 is inf in float16)
            return np.array([0.0, -0.0, 1.5, -2.25, 0.1, 3.0, 1e-40, 1e30, -7e3, np.inf,
                             -np.inf, np.nan, 0.5, 2.0, -1.0, 1e-3, 2.5, -0.5, 3e9,
                             -3e9]).astype(dtype)
    info = np.iinfo(dtype)
    return np.array([0, 1, 2, 3, 7, 13, 100, info.max, info.min, info.max - 1]
                    + ([-1, -2, -13, -100, 5, 6] if info.min else [4, 5, 6, 9, 11, 12]),
                    np.int64).astype(dtype)


def _agrees(reference, nin, dtype, out_dtype, loop, data, shape=None, reduce=False,
            operands_of=None):
    """Whether the inner loop gives ``reference``'s results (the Python path's), bit for bit,
    on probe values: a ufunc that numpy runs through another loop is not taken. A
    ``reference`` that only takes arrays of ``shape`` gets the probes in chunks of it;
    ``operands_of(chunk)`` makes the operands from a chunk of probes (default: the chunk
    and, for two operands, the chunk rotated)."""
    probe = probe_values(dtype)
    size = probe.size if shape is None else int(np.prod(shape))
    chunks = [np.resize(np.roll(probe, -start), probe.shape if shape is None else shape)
              for start in range(0, probe.size, max(size, 1))]
    if reduce:  # reductions of finite values of the lengths where numpy's loops change form
        finite = probe[np.isfinite(probe)] if dtype.kind == "f" else probe
        chunks += [np.resize(np.roll(finite, k), n) for k, n in
                   enumerate([1, 2, 7, 8, 9, 16, 127, 128, 129, 1000, MAX_SIZE])]
    for chunk in chunks:
        operands = operands_of(chunk) if operands_of else [chunk, np.roll(chunk, 3)][:nin]
        out = np.zeros(() if reduce else chunk.shape, out_dtype)
        reduced = chunk
        if reduce == "first":  # from the first element, over the others
            out[()], reduced = chunk[0], chunk[1:]
        arrays = [out, reduced, out] if reduce else [*operands, out]
        pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        steps = (ctypes.c_int64 * len(arrays))(*[a.itemsize * (a is not out or not reduce)
                                                  for a in arrays])
        count = ctypes.c_int64(reduced.size)
        _LOOP(loop)(pointers, ctypes.addressof(count), steps, data or None)
        try:
            with np.errstate(all="ignore"):
                expected = np.asarray(reference(*operands))
        except Exception:  # noqa: BLE001 - a reference that cannot run: no entry
            return False
        if expected.dtype != out_dtype or expected.tobytes() != out.tobytes():
            return False
    return True


def _ir_type(dtype):
    return {"f": {4: ir.FloatType(), 8: ir.DoubleType()}.get(dtype.itemsize),
            "i": ir.IntType(8 * dtype.itemsize), "u": ir.IntType(8 * dtype.itemsize),
            "b": ir.IntType(8)}.get(dtype.kind)


def _cast(b, v, dtype, out_dtype):
    """``v`` of ``dtype`` converted as ``convert_element_type``'s impl converts it: floats to
    integers as XLA does (NaN -> 0, saturating), anything to bool as ``!= 0``."""
    to = _ir_type(out_dtype)
    if out_dtype.kind == "b":
        zero = ir.Constant(v.type, 0)
        nonzero = b.fcmp_unordered("!=", v, zero) if dtype.kind == "f" else \
            b.icmp_unsigned("!=", v, zero)
        return b.zext(nonzero, to)
    if dtype.kind == "f":
        if out_dtype.kind == "f":
            return _float_resize(b, v, dtype, to)
        sat = "llvm.fptosi.sat" if out_dtype.kind == "i" else "llvm.fptoui.sat"
        name = f"{sat}.i{to.width}.{'f32' if dtype.itemsize == 4 else 'f64'}"
        callee = b.module.globals.get(name) or ir.Function(
            b.module, ir.FunctionType(to, [v.type]), name)
        return b.call(callee, [v])
    signed = dtype.kind == "i"
    if out_dtype.kind == "f":
        return b.sitofp(v, to) if signed else b.uitofp(v, to)
    if to.width < v.type.width:
        return b.trunc(v, to)
    if to.width > v.type.width:
        return b.sext(v, to) if signed else b.zext(v, to)
    return v


def _float_resize(b, v, dtype, to):
    return b.fpext(v, to) if dtype.itemsize == 4 and isinstance(to, ir.DoubleType) else \
        b.fptrunc(v, to) if dtype.itemsize == 8 and isinstance(to, ir.FloatType) else v


@functools.cache
def generated_loop(kind, in_dtypes, out_dtype):
    """``(loop, 0)``: a compiled inner loop with numpy's signature, over operands of
    ``in_dtypes`` giving ``out_dtype``: ``"cast"`` (one operand, converted as
    ``convert_element_type``) or ``"select"`` (``c ? x : y``, ``c`` bool); None if a type
    has no loop here (float16, complex)."""
    types = [_ir_type(d) for d in (*in_dtypes, out_dtype)]
    if kind == "select":  # moved as bits, never as values
        types = [t and ir.IntType(8 * d.itemsize) for t, d in zip(types, (*in_dtypes, out_dtype))]
    if None in types or _layout() is None:
        return None
    compiler.host()
    module = ir.Module(name=f"eager_{kind}")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * 4), "eager_loop")
    args, dims, steps, _ = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    n = b.load(dims, typ=I64)
    bases = [b.load(b.gep(args, [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
             for k in range(len(types))]
    strides = [b.load(b.gep(steps, [ir.Constant(I64, k)], source_etype=I64), typ=I64)
               for k in range(len(types))]
    with for_range(b, n) as i:
        ptrs = [b.gep(p, [b.mul(i, s)], source_etype=ir.IntType(8))
                for p, s in zip(bases, strides)]
        values = [b.load(p, typ=t) for p, t in zip(ptrs, types)]
        if kind == "cast":
            out = _cast(b, values[0], in_dtypes[0], out_dtype)
        else:
            c, x, y = values[:3]
            out = b.select(b.icmp_unsigned("!=", c, ir.Constant(c.type, 0)), x, y)
        b.store(out, ptrs[-1])
    b.ret_void()
    engine = compiler.compile_ir(str(module), cacheable=False, cold=True)
    _generated.append(engine)
    return engine.address("eager_loop"), 0


_generated = []  # engines of generated loops: alive as long as the process
_BOOL = np.dtype(bool)


class NativeFunction:
    """The native entries of one elementwise function: ``function`` for ``jnp.name(...)``, and
    Array operator methods; all share one table of dtypes (``enable`` adds to it).

    ``static``: the call's last argument is a static one (``2`` in ``x ** 2``, the dtype in
    ``x.astype(jnp.int32)``), matched by identity with the object a table entry was enabled
    for (kept alive here); such entries are taken only without x64. Where a table entry
    gives another dtype than its operand's (``x > 0``), the result's type is looked up by the
    identity of the operand's in ``avals`` (pairs ``remember`` fills from the Python path)."""

    def __init__(self, ufunc, nin, general, operators, static=False, reduce=False,
                 select=False):
        self.ufunc, self.nin, self.static, self.reduce = ufunc, nin, static, reduce
        self.select = select
        self.size = _STATIC_ENTRIES if static or reduce else _ENTRIES
        self.table = (_Entry * self.size)()
        self.used = 0
        self.avals = (ctypes.c_void_p * (3 * _AVALS))()
        self.aval_refs = [None] * (3 * _AVALS)
        self.next_aval = 0
        self.counter = ctypes.c_int64(0)  # completed native calls (tests read ``calls``)
        self.keep = [general]  # objects the code points at
        self.names = NAMES
        self.engines = []
        self.function = None if general is None else \
            self._build(general, method=False, reverse=False)
        self.methods = {name: self._build(fallback, method=True, reverse=reverse)
                        for name, (fallback, reverse) in operators.items()}

    @property
    def calls(self):
        return self.counter.value

    def enable(self, dtype, out_dtype=None, static=None, loop=None, reference=None,
               shape=None, operands_of=None):
        """Runs ``dtype`` (with the static argument ``static``) natively from now on, giving
        ``out_dtype`` (default: ``dtype``) through ``loop`` (``(loop, data)`` with numpy's
        inner-loop signature; default: the ufunc's) if it gives ``reference``'s bits (default:
        the ufunc's); False if it cannot."""
        dtype = np.dtype(dtype)
        out_dtype = dtype if out_dtype is None else np.dtype(out_dtype)
        if (static is None) == self.static and not self.reduce:
            return False
        static_id = id(static) if self.static or self.reduce else 0
        if any(e.descr == id(dtype) and (e.static or 0) == static_id and
               e.out_descr == id(out_dtype) for e in self.table[:self.used]):
            return True
        if self.used == self.size or dtype.itemsize > 4 or dtype.kind not in "iuf" or \
                out_dtype.itemsize > 4 or out_dtype.kind not in "iufb":
            return False
        found = loop if loop is not None else ufunc_loop(self.ufunc, dtype, out_dtype)
        reference = self.ufunc if reference is None else reference
        if found is None or not _agrees(reference, self.nin, dtype, out_dtype, *found, shape,
                                        self.reduce, operands_of):
            return False
        scalar = _FLOAT32 if dtype == np.float32 else _INT32 if dtype == np.int32 else \
            _NO_SCALAR
        self.keep += [dtype, out_dtype, static]
        entry = self.table[self.used]
        entry.loop, entry.data, entry.scalar = found[0], found[1], scalar
        entry.itemsize, entry.out_itemsize = dtype.itemsize, out_dtype.itemsize
        entry.out_descr, entry.static = id(out_dtype), static_id
        entry.descr = id(dtype)  # last: a half-written entry never matches
        self.used += 1
        return True

    def knows(self, dtype, static):
        static_id = id(static) if self.static or self.reduce else 0
        return any(e.descr == id(dtype) and (e.static or 0) == static_id
                   for e in self.table[:self.used])

    def remember(self, aval, out_aval, static=None):
        """Records that the result of an operand of type ``aval`` (with the static argument
        ``static``) has type ``out_aval`` (the Python path's type rule said so), for entries
        whose result has another type than their operand."""
        static_id = id(static) if self.static or self.reduce else 0
        index = next((k for k, e in enumerate(self.table[:self.used])
                      if e.descr == id(aval.dtype) and (e.static or 0) == static_id and
                      e.out_descr == id(out_aval.dtype)), None)
        if index is None:
            return
        refs = self.aval_refs
        for k in range(0, len(refs), 3):
            if refs[k] is aval and refs[k + 1] == index:
                return
        k = self.next_aval
        self.next_aval = (k + 3) % len(refs)
        self.avals[k] = 0  # a half-written triple never matches
        self.avals[k + 1], self.avals[k + 2] = index, id(out_aval)
        self.avals[k] = id(aval)
        refs[k:k + 3] = aval, index, out_aval  # alive: their addresses stay theirs

    def _build(self, fallback, method, reverse):
        ir_text = _entry_ir(self, fallback, method, reverse)
        engine = compiler.compile_ir(ir_text, cacheable=False, cold=True)
        self.engines.append(engine)
        self.keep.append(fallback)
        defn = fast_call._MethodDef(b"eager_entry", engine.address(_NAME),
                                    fast_call._METH_FASTCALL | fast_call._METH_KEYWORDS, None)
        self.keep.append(defn)
        if method:
            return _new_method(ctypes.py_object(Array), ctypes.addressof(defn))
        return fast_call._new_function(ctypes.addressof(defn), self, None)


_new_method = ctypes.pythonapi.PyDescr_NewMethod
_new_method.restype = ctypes.py_object
_new_method.argtypes = [ctypes.py_object, ctypes.c_void_p]

_natives = {}  # general Python function (or a static method's name) -> NativeFunction or None
_UNARY_OPERATORS = {"negative": "__neg__", "abs": "__abs__"}  # (``ArrayMethods.__neg__`` is
# ``jnp.negative``, ``__abs__`` is ``jnp.abs``)


def native_for(name, general, ufunc, nin):
    """The ``NativeFunction`` of ``jnp.name`` (whose Python path is ``general``), built on
    first use, with the Array operators that forward to it installed; None if unavailable."""
    if general in _natives:
        return _natives[general]
    native = None
    if _layout() is not None and type(ufunc) is np.ufunc and ufunc.nin == nin and \
            ufunc.nout == 1:
        operators = {}
        if nin == 1 and name in _UNARY_OPERATORS:
            attr = _UNARY_OPERATORS[name]
            operators[attr] = (ArrayMethods.__dict__[attr], False)
        if nin == 2:
            for op, fn in ARRAY_OPERATORS.items():
                if fn == name:
                    operators[f"__{op}__"] = (ArrayMethods.__dict__[f"__{op}__"], False)
                    operators[f"__r{op}__"] = (ArrayMethods.__dict__[f"__r{op}__"], True)
            for op, fn in ARRAY_COMPARISONS.items():
                if fn == name:
                    operators[f"__{op}__"] = (ArrayMethods.__dict__[f"__{op}__"], False)
        native = NativeFunction(ufunc, nin, general, operators)
        for attr, method in native.methods.items():
            setattr(Array, attr, method)
    _natives[general] = native
    return native


def static_native_for(attr):
    """The ``NativeFunction`` of the Array method ``attr`` taking one static argument
    (``__pow__``, ``astype``), built and installed on first use; None if unavailable."""
    if attr in _natives:
        return _natives[attr]
    native = None
    if _layout() is not None:
        native = NativeFunction(None, 1, None, {attr: (ArrayMethods.__dict__[attr], False)},
                                static=True)
        setattr(Array, attr, native.methods[attr])
    _natives[attr] = native
    return native


def reduction_native_for(name, general, ufunc):
    """The ``NativeFunction`` reducing an array's elements (all, or over one axis) with
    ``ufunc`` as numpy's ``ufunc.reduce`` does (``jnp.name(x, axis)`` whose Python path is
    ``general``, and ``x.name(axis)``), built and installed on first use; None if
    unavailable. numpy starts a sum from 0 (so ``sum([-0.])`` is ``0.``) and every other
    reduction from the first element (``max`` keeps the first of equal ``-0.``, ``0.``)."""
    if general in _natives:
        return _natives[general]
    native = None
    if _layout() is not None:
        native = NativeFunction(ufunc, 1, general, {name: (ArrayMethods.__dict__[name], False)},
                                reduce="zero" if ufunc is np.add else "first")
        setattr(Array, name, native.methods[name])
    _natives[general] = native
    return native


def select_native_for(general):
    """The ``NativeFunction`` of ``where(c, x, y)`` (whose Python path is ``general``): a
    strong bool Array ``c``, and ``x``, ``y`` as the operands of a binary entry (the same
    type, or ``y`` a Python scalar that adapts); built on first use, None if unavailable."""
    if general not in _natives:
        _natives[general] = NativeFunction(None, 3, general, {}, select=True) \
            if _layout() is not None else None
    return _natives[general]


def installed_methods():
    """The Array operators that are native entries now."""
    return [attr for native in _natives.values() if native is not None
            for attr in native.methods if attr in Array.__dict__]


def _axis_argument(entry, args, nargs, kwnames, n_args, axis_name):
    """The axis a reduction's entry was called with (after ``n_args`` positional operands:
    the next positional argument, or the only keyword, ``axis``), None's address if none;
    any other arguments go to ``miss``."""
    b, fn, load = entry.b, entry.fn, entry.load
    i64 = functools.partial(ir.Constant, I64)
    no_names = b.icmp_unsigned("==", b.ptrtoint(kwnames, I64), i64(0))
    keyword, positional, found = (fn.append_basic_block(n) for n in
                                  ("axis_keyword", "axis_positional", "axis_found"))
    b.cbranch(no_names, positional, keyword)
    b.position_at_end(keyword)  # exactly ``axis=`` (keyword names are interned strings)
    entry.require(b.icmp_signed("==", load(kwnames, 16, I64), i64(1)), "one_keyword")
    name = load(kwnames, 24)
    entry.require(b.and_(b.icmp_unsigned("==", b.ptrtoint(name, I64), i64(axis_name)),
                         b.icmp_signed("==", nargs, i64(n_args))), "axis_keyword_only")
    from_keyword = b.block
    b.branch(found)
    b.position_at_end(positional)
    one_more = b.icmp_signed("==", nargs, i64(n_args + 1))
    entry.require(b.or_(b.icmp_signed("==", nargs, i64(n_args)), one_more),
                  "axis_positional_count")
    from_positional = b.block
    b.branch(found)
    b.position_at_end(found)
    given = b.phi(ir.IntType(1))
    given.add_incoming(ir.Constant(ir.IntType(1), 1), from_keyword)
    given.add_incoming(one_more, from_positional)
    slot = b.alloca(PTR)
    b.store(entry.const_ptr(id(None)), slot)
    source = b.select(given, b.gep(args, [i64(n_args)], source_etype=PTR), slot)
    return b.load(source, typ=PTR)


def _reduction_geometry(entry, axis, nd, dims, size, layout):
    """``(out_nd, out_dims, outer, n, inner)`` of a reduction over ``axis`` (None: all axes;
    an exact int, negative counting from the end, else ``miss``) of an array of ``nd``
    dimensions ``dims``: ``outer`` blocks of ``n`` rows of ``inner`` elements."""
    b, fn, load = entry.b, entry.fn, entry.load
    i64 = functools.partial(ir.Constant, I64)
    one_axis, done = fn.append_basic_block("one_axis"), fn.append_basic_block("geometry")
    from_whole = b.block
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(axis, I64), i64(id(None))), done, one_axis)
    b.position_at_end(one_axis)
    entry.require(b.icmp_unsigned("==", b.ptrtoint(load(axis, 8), I64), i64(layout["int"])),
                  "axis_int")
    overflow = b.alloca(I32)
    b.store(ir.Constant(I32, 0), overflow)
    v = entry.call("PyLong_AsLongLongAndOverflow", I64, [PTR, PTR], axis, overflow)
    n_dims = b.sext(nd, I64)
    a = b.select(b.icmp_signed("<", v, i64(0)), b.add(v, n_dims), v)
    entry.require(b.and_(b.icmp_signed("==", b.load(overflow, typ=I32), ir.Constant(I32, 0)),
                         b.and_(b.icmp_signed(">=", a, i64(0)), b.icmp_signed("<", a, n_dims))),
                  "axis_in_range")
    kept = b.alloca(I64, size=n_dims)
    cells = [b.alloca(I64) for _ in range(2)]  # outer, inner
    for cell in cells:
        b.store(i64(1), cell)
    with for_range(b, n_dims) as j:
        d = b.load(b.gep(dims, [j], source_etype=I64), typ=I64)
        after = b.icmp_signed(">", j, a)
        b.store(d, b.gep(kept, [b.select(after, b.sub(j, i64(1)), j)], source_etype=I64))
        cell = b.select(after, cells[1], cells[0])
        factor = b.select(b.icmp_signed("==", j, a), i64(1), d)
        b.store(b.mul(b.load(cell, typ=I64), factor), cell)
    n = b.load(b.gep(dims, [a], source_etype=I64), typ=I64)
    outer, inner = (b.load(cell, typ=I64) for cell in cells)
    kept_nd = b.sub(nd, ir.Constant(I32, 1))
    from_axis = b.block
    b.branch(done)
    b.position_at_end(done)
    results = []
    for ty, for_whole, for_axis in [(I32, ir.Constant(I32, 0), kept_nd),
                                    (PTR, dims, kept), (I64, i64(1), outer),
                                    (I64, size, n), (I64, i64(1), inner)]:
        phi = b.phi(ty)
        phi.add_incoming(for_whole, from_whole)
        phi.add_incoming(for_axis, from_axis)
        results.append(phi)
    return results


# -- the checks and the fallback every eager entry shares (also ``eager_views``) -------------
NAMES = {"trace": sys.intern("trace"), "x64": sys.intern("jax_enable_x64"),
         "debug_nans": sys.intern("jax_debug_nans"), "axis": sys.intern("axis")}


def _is(entry, ptr, address):
    return entry.b.icmp_unsigned("==", entry.b.ptrtoint(ptr, I64), ir.Constant(I64, address))


def checked_array(entry, obj, k, strong=True, contiguous=True):
    """``(aval, ndarray)`` of ``obj`` if it is exactly an ``Array`` on the default device
    whose buffer is exactly an aligned ``ndarray`` (C-contiguous if ``contiguous``) and whose
    aval is a ``ShapedArray`` (strong if ``strong``); else ``miss``."""
    L, b, load, require = _layout(), entry.b, entry.load, entry.require
    require(_is(entry, load(obj, 8), L["Array"]), f"array{k}")
    aval, value = load(obj, L["aval"]), load(obj, L["value"])
    require(b.not_(b.or_(_is(entry, aval, 0), _is(entry, value, 0))), f"slots{k}")  # set
    kind = _is(entry, load(aval, 8), L["ShapedArray"])
    require(b.and_(kind, _is(entry, load(aval, L["weak"]), L["False"])) if strong else kind,
            f"aval{k}")
    require(_is(entry, load(obj, L["device"]), L["device_object"]), f"device{k}")
    require(_is(entry, load(value, 8), L["ndarray"]), f"ndarray{k}")
    want = 0x101 if contiguous else 0x100
    flags = b.and_(load(value, 64, I32), ir.Constant(I32, want))
    require(b.icmp_signed("==", flags, ir.Constant(I32, want)), f"flags{k}")
    return aval, value


def config_flag(entry, name):
    """The object ``config.<NAMES[name]>`` (or the thread's ``trace``) is now, as a borrowed
    reference (flags are ``True``/``False``; the context holds its trace), or ``miss``.
    ``config`` keeps its flags as plain attributes, updated in place in its ``__dict__``
    (``config._publish``): read there, without an attribute lookup."""
    b, fn = entry.b, entry.fn
    if name == "trace":
        got = entry.call("PyObject_GetAttr", PTR, [PTR, PTR], entry.const_ptr(id(_context)),
                         entry.const_ptr(id(NAMES[name])))
    else:
        got = entry.call("PyDict_GetItem", PTR, [PTR, PTR], entry.const_ptr(id(_CONFIG_FLAGS)),
                         entry.const_ptr(id(NAMES[name])))
    null, ok = fn.append_basic_block(f"{name}_null"), fn.append_basic_block(f"{name}_ok")
    b.cbranch(_is(entry, got, 0), null, ok)
    b.position_at_end(null)
    entry.call("PyErr_Clear", ir.VoidType(), [])
    b.branch(entry.miss)
    b.position_at_end(ok)
    if name == "trace":
        entry.call("Py_DecRef", ir.VoidType(), [PTR], got)
    return got


_CONFIG_FLAGS = config.__dict__


def require_runs_now(entry):
    """``miss`` unless primitives run now (``eval.runs_now``): no trace but eager
    evaluation, no ``default_device`` block open in any thread."""
    L, b = _layout(), entry.b
    trace = config_flag(entry, "trace")  # (the context keeps it alive)
    eager = b.or_(_is(entry, trace, L["None_"]),
                  _is(entry, entry.load(trace, 8), L["EvalTrace"]))
    entry.require(eager, "eager")
    open_blocks = entry.load(entry.const_ptr(ctypes.addressof(placement.blocks)), 0, I64)
    entry.require(b.icmp_signed("==", open_blocks, ir.Constant(I64, 0)),
                  "no_default_device_block")


def call_fallback(entry, fallback, method):
    """The ``miss`` block: returns ``fallback`` (the Python function, which converts, raises
    or traces) called with the arguments as they came (``self`` first for a ``method``)."""
    b, fn, load = entry.b, entry.fn, entry.load
    self_, args, nargs, kwnames = fn.args
    const = functools.partial(ir.Constant, I64)
    b.position_at_end(entry.miss)
    if method:  # self, then the arguments and keyword values as they came
        with_names = fn.append_basic_block("with_names")
        counted = fn.append_basic_block("counted")
        before = b.block
        b.cbranch(_is(entry, kwnames, 0), counted, with_names)
        b.position_at_end(with_names)
        n_names = load(kwnames, 16, I64)  # (the tuple's size)
        b.branch(counted)
        b.position_at_end(counted)
        n_kw = b.phi(I64)
        n_kw.add_incoming(const(0), before)
        n_kw.add_incoming(n_names, with_names)
        total = b.add(nargs, n_kw)
        stack = b.alloca(PTR, size=b.add(total, const(1)))
        b.store(self_, stack)
        with for_range(b, total) as k:
            b.store(b.load(b.gep(args, [k], source_etype=PTR), typ=PTR),
                    b.gep(stack, [b.add(k, const(1))], source_etype=PTR))
        n_stack = b.add(nargs, const(1))
    else:
        stack, n_stack = args, nargs
    result = entry.call("PyObject_Vectorcall", PTR, [PTR, PTR, I64, PTR],
                        entry.const_ptr(id(fallback)), stack, n_stack, kwnames)
    b.ret(result)


def _entry_ir(owner, fallback, method, reverse):
    L = _layout()
    compiler.host()
    nin = owner.nin
    entry = fast_call.EntryFunction("eager_entry", _NAME, keywords=True)
    module, fn, b = entry.module, entry.fn, entry.b
    const_ptr, load, require, call = entry.const_ptr, entry.load, entry.require, entry.call
    self_, args, nargs, kwnames = fn.args

    def const(value, ty=I64):
        return ir.Constant(ty, value)

    def addr(ptr):
        return b.ptrtoint(ptr, I64)

    def is_(ptr, address):
        return b.icmp_unsigned("==", addr(ptr), const(address))

    def incref(address):
        call("Py_IncRef", ir.VoidType(), [PTR], const_ptr(address))

    def arg(k):
        return b.load(b.gep(args, [const(k)], source_etype=PTR), typ=PTR)

    if owner.reduce:  # ``sum(a)``, ``sum(a, axis)`` or ``sum(a, axis=axis)``: static axis
        n_args = nin - method
        static = _axis_argument(entry, args, nargs, kwnames, n_args, id(owner.names["axis"]))
    else:
        n_args = nin + owner.static - method
        require(b.icmp_signed("==", nargs, const(n_args)), "nargs")
        require(is_(kwnames, 0), "no_keywords")
    operands = [self_] + [arg(k) for k in range(n_args)] if method else \
        [arg(k) for k in range(n_args)]
    if owner.static:
        static = operands.pop()
    elif not owner.reduce:
        static = None
    condition = operands.pop(0) if owner.select else None  # ``where(c, x, y)``: c, bool
    array = operands[0]  # the Array whose type decides: self for methods, x in where
    if reverse:
        operands.reverse()

    def array_header(obj, k):
        return checked_array(entry, obj, k)

    aval, value = array_header(array, 0)
    descr = load(value, 56)
    nd = load(value, 24, I32)
    dims = load(value, 32)
    # the number of elements (a loop over the dimensions)
    head = b.block
    size_loop = fn.append_basic_block("size_loop")
    size_done = fn.append_basic_block("size_done")
    b.branch(size_loop)
    b.position_at_end(size_loop)
    d = b.phi(I32)
    size = b.phi(I64)
    d.add_incoming(const(0, I32), head)
    size.add_incoming(const(1), head)
    more = b.icmp_signed("<", d, nd)
    body = fn.append_basic_block("size_body")
    b.cbranch(more, body, size_done)
    b.position_at_end(body)
    dim = b.load(b.gep(dims, [b.zext(d, I64)], source_etype=I64), typ=I64)
    d.add_incoming(b.add(d, const(1, I32)), body)
    size.add_incoming(b.mul(size, dim), body)
    b.branch(size_loop)
    b.position_at_end(size_done)
    require(b.icmp_unsigned("<=", size, const(MAX_SIZE)), "small")
    if owner.reduce:
        require(b.icmp_signed(">", size, const(0)), "not_empty")

    # the table entry of this dtype
    table = const_ptr(ctypes.addressof(owner.table))
    entry_size = ctypes.sizeof(_Entry)

    def entry_matches(k):
        hit = b.icmp_unsigned("==", addr(load(table, k * entry_size)), addr(descr))
        if static is not None:
            e_static = load(table, k * entry_size + _Entry.static.offset)
            hit = b.and_(hit, b.icmp_unsigned("==", addr(e_static), addr(static)))
        return hit
    index = entry.first_match(owner.size, entry_matches, const, I64)
    base = b.gep(table, [b.mul(index, const(entry_size))], source_etype=ir.IntType(8))
    loop_fn, data_ptr = load(base, 8), load(base, 16)
    scalar_kind, item = load(base, 24, I64), load(base, 32, I64)
    out_descr = load(base, _Entry.out_descr.offset)
    out_item = load(base, _Entry.out_itemsize.offset, I64)

    # the result's type: the operand's, or the one remembered for it
    same_type = const(0, ir.IntType(1)) if owner.reduce else \
        b.icmp_unsigned("==", addr(out_descr), addr(descr))
    typed = fn.append_basic_block("typed")
    lookup = fn.append_basic_block("lookup")
    from_operand = b.block
    b.cbranch(same_type, typed, lookup)
    b.position_at_end(lookup)
    avals = const_ptr(ctypes.addressof(owner.avals))
    remembered = entry.first_match(
        _AVALS, lambda k: b.and_(b.icmp_unsigned("==", addr(load(avals, 24 * k)), addr(aval)),
                                 b.icmp_unsigned("==", load(avals, 24 * k + 8, I64), index)),
        lambda k: load(avals, 24 * k + 16), PTR)
    from_table = b.block
    b.branch(typed)
    b.position_at_end(typed)
    out_aval = b.phi(PTR)
    out_aval.add_incoming(aval, from_operand)
    out_aval.add_incoming(remembered, from_table)

    require_runs_now(entry)
    if static is not None or owner.reduce:  # x64 changes static dtypes and sums' dtypes
        require(is_(config_flag(entry, "x64"), L["False"]), "static_without_x64")

    pointers, steps = [], []
    if condition is not None:  # a strong bool Array of the same shape
        _, c_value = array_header(condition, 2)
        require(b.and_(is_(load(c_value, 56), id(_BOOL)),
                       b.icmp_signed("==", load(c_value, 24, I32), nd)), "condition_type")
        c_dims = load(c_value, 32)
        with for_range(b, b.sext(nd, I64)) as j:
            mine = b.load(b.gep(dims, [j], source_etype=I64), typ=I64)
            theirs = b.load(b.gep(c_dims, [j], source_etype=I64), typ=I64)
            require(b.icmp_signed("==", mine, theirs), "condition_dim")
        pointers.append(load(c_value, 16))
        steps.append("byte")
    slot = b.alloca(I32)  # a converted Python scalar (float32 or int32 bits)
    if len(operands) == 1:
        pointers.append(load(value, 16))
        steps.append(None)
    else:
        other = operands[1] if operands[0] is array else operands[0]
        kind = addr(load(other, 8))
        is_array = fn.append_basic_block("other_array")
        not_array = fn.append_basic_block("other_not_array")
        is_float = fn.append_basic_block("other_float")
        not_float = fn.append_basic_block("other_not_float")
        is_int = fn.append_basic_block("other_int")
        join = fn.append_basic_block("join")
        b.cbranch(b.icmp_unsigned("==", kind, const(L["Array"])), is_array, not_array)

        b.position_at_end(is_array)
        _, other_value = array_header(other, 1)
        same = b.and_(b.icmp_unsigned("==", addr(load(other_value, 56)), addr(descr)),
                      b.icmp_signed("==", load(other_value, 24, I32), nd))
        require(same, "same_type")
        other_dims = load(other_value, 32)
        with for_range(b, b.sext(nd, I64)) as j:
            mine = b.load(b.gep(dims, [j], source_etype=I64), typ=I64)
            theirs = b.load(b.gep(other_dims, [j], source_etype=I64), typ=I64)
            require(b.icmp_signed("==", mine, theirs), "same_dim")
        other_data = load(other_value, 16)
        from_array = b.block
        b.branch(join)

        # Python scalars (exact float or int, never bool): as ``_util._takes_scalar``
        b.position_at_end(not_array)
        no_x64 = is_(config_flag(entry, "x64"), L["False"])
        b.cbranch(b.icmp_unsigned("==", kind, const(L["float"])), is_float, not_float)

        b.position_at_end(is_float)
        require(b.and_(no_x64, b.icmp_signed("==", scalar_kind, const(_FLOAT32))),
                "float_to_float32")
        v = call("PyFloat_AsDouble", ir.DoubleType(), [PTR], other)
        b.store(b.bitcast(b.fptrunc(v, ir.FloatType()), I32),
                slot)
        from_float = b.block
        b.branch(join)

        b.position_at_end(not_float)
        require(b.icmp_unsigned("==", kind, const(L["int"])), "python_int")
        b.branch(is_int)
        b.position_at_end(is_int)
        overflow = b.alloca(I32)
        b.store(const(0, I32), overflow)
        n = call("PyLong_AsLongLongAndOverflow", I64, [PTR, PTR], other, overflow)
        require(b.icmp_signed("==", b.load(overflow, typ=I32), const(0, I32)), "no_overflow")
        in_range = b.and_(b.icmp_signed(">=", n, const(-2**31)),
                          b.icmp_signed("<", n, const(2**31)))
        require(in_range, "int_in_range")
        to_float = fn.append_basic_block("int_to_float32")
        to_int = fn.append_basic_block("int_to_int32")
        int_join = fn.append_basic_block("int_join")
        b.cbranch(b.icmp_signed("==", scalar_kind, const(_FLOAT32)), to_float, to_int)
        b.position_at_end(to_float)
        b.store(b.bitcast(b.sitofp(n, ir.FloatType()), I32), slot)
        b.branch(int_join)
        b.position_at_end(to_int)
        require(b.and_(no_x64, b.icmp_signed("==", scalar_kind, const(_INT32))),
                "int_to_int32")
        b.store(b.trunc(n, I32), slot)
        b.branch(int_join)
        b.position_at_end(int_join)
        from_int = b.block
        b.branch(join)

        b.position_at_end(join)
        other_ptr = b.phi(PTR)
        other_ptr.add_incoming(other_data, from_array)
        other_ptr.add_incoming(slot, from_float)
        other_ptr.add_incoming(slot, from_int)
        other_step = b.phi(I64)
        other_step.add_incoming(const(1), from_array)  # scaled by the item size below
        other_step.add_incoming(const(0), from_float)
        other_step.add_incoming(const(0), from_int)
        mine_ptr = load(value, 16)
        if operands[0] is array:
            pointers += [mine_ptr, other_ptr]
            steps += [None, other_step]
        else:
            pointers += [other_ptr, mine_ptr]
            steps += [other_step, None]

    if owner.reduce:  # the reduced axis: ``outer`` blocks of ``n`` rows of ``inner`` elements
        geometry = _reduction_geometry(entry, static, nd, dims, size, L)
        out_nd, out_dims, outer, n_rows, inner = geometry
    else:
        out_nd, out_dims = nd, dims

    # the result: a fresh buffer, the Array's private view of it, the operand's aval
    call("Py_IncRef", ir.VoidType(), [PTR], out_descr)
    out_base = call("PyArray_Empty", PTR, [I32, PTR, PTR, I32], out_nd, out_dims, out_descr,
                    const(0, I32))
    fast_call._fail_if_null(b, fn, out_base, [], call)
    out_data = load(out_base, 16)
    view = call("PyArray_View", PTR, [PTR, PTR, PTR], out_base, ir.Constant(PTR, None),
                ir.Constant(PTR, None))
    call("Py_DecRef", ir.VoidType(), [PTR], out_base)
    fast_call._fail_if_null(b, fn, view, [], call)
    obj = call("PyType_GenericAlloc", PTR, [PTR, I64], const_ptr(L["Array"]), const(0))
    fast_call._fail_if_null(b, fn, obj, [view], call)
    call("Py_IncRef", ir.VoidType(), [PTR], out_aval)
    b.store(out_aval, b.gep(obj, [const(L["aval"])], source_etype=ir.IntType(8)))
    incref(L["device_object"])
    b.store(const_ptr(L["device_object"]),
            b.gep(obj, [const(L["device"])], source_etype=ir.IntType(8)))
    b.store(view, b.gep(obj, [const(L["value"])], source_etype=ir.IntType(8)))

    # numpy's inner loop: loop(char **args, npy_intp *dimensions, npy_intp *steps, void *data)
    n_loop_args = 3 if owner.reduce else nin + 1
    arg_table = b.alloca(PTR, size=const(n_loop_args))
    step_table = b.alloca(I64, size=const(n_loop_args))
    dim_cell = b.alloca(I64)
    loop_type = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR])

    def run_loop(loop_args, count):
        b.store(count, dim_cell)
        for k, (ptr, step) in enumerate(loop_args):
            b.store(ptr, b.gep(arg_table, [const(k)], source_etype=PTR))
            b.store(step, b.gep(step_table, [const(k)], source_etype=I64))
        spmd_pool._call_ptr(b, loop_fn, loop_type, [arg_table, dim_cell, step_table, data_ptr])

    def at(ptr, elements, item_size):
        return b.gep(ptr, [b.mul(elements, item_size)], source_etype=ir.IntType(8))

    if owner.reduce:  # as numpy reduces: out = 0 or the first row, then out op= each row
        byte = ir.IntType(8)

        def start(out_o, row, n_items):  # out_o = 0, or the row's elements
            with for_range(b, b.mul(n_items, out_item)) as j:
                value = const(0, byte) if owner.reduce == "zero" else \
                    b.load(b.gep(row, [j], source_etype=byte), typ=byte)
                b.store(value, b.gep(out_o, [j], source_etype=byte))
        first = int(owner.reduce == "first")  # rows reduced after the start
        whole_rows = fn.append_basic_block("whole_rows")
        row_blocks = fn.append_basic_block("row_blocks")
        reduced = fn.append_basic_block("reduced")
        b.cbranch(b.icmp_signed("==", inner, const(1)), whole_rows, row_blocks)
        b.position_at_end(whole_rows)  # each output element: numpy's reduce loop over its row
        with for_range(b, outer) as o:
            out_o = at(out_data, o, out_item)
            row = at(pointers[0], b.mul(o, n_rows), item)
            start(out_o, row, const(1))
            run_loop([(out_o, const(0)), (at(row, const(first), item), item),
                      (out_o, const(0))], b.sub(n_rows, const(first)))
        b.branch(reduced)
        b.position_at_end(row_blocks)  # each block: its rows combined in order, elementwise
        with for_range(b, outer) as o:
            out_o = at(out_data, b.mul(o, inner), out_item)
            start(out_o, at(pointers[0], b.mul(b.mul(o, n_rows), inner), item), inner)
            with for_range(b, n_rows, start=first) as i:
                row = at(pointers[0], b.mul(b.add(b.mul(o, n_rows), i), inner), item)
                run_loop([(out_o, item), (row, item), (out_o, item)], inner)
        b.branch(reduced)
        b.position_at_end(reduced)
    else:
        loop_args = [(ptr, item if step is None else const(1) if isinstance(step, str) else
                      b.mul(step, item)) for ptr, step in zip(pointers, steps)]
        run_loop(loop_args + [(out_data, out_item)], size)
    counter = const_ptr(ctypes.addressof(owner.counter))
    b.store(b.add(b.load(counter, typ=I64), const(1)), counter)
    b.ret(obj)
    call_fallback(entry, fallback, method)
    return str(module)
