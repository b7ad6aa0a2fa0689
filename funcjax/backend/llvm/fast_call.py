"""A generated CPython entry point per compiled program: ``jit`` dispatch in well under a
microsecond instead of tens.

``entry(*args)`` is a ``METH_FASTCALL`` builtin emitted in LLVM IR for one program. It checks
every argument against the types the program was compiled for, in native code: exactly a
funcjax ``Array`` (whose buffer is an ``ndarray`` and whose weak type matches) or exactly an
``ndarray`` (when the compiled input is strong), with the very dtype object numpy uses for the
compiled dtype, the compiled shape, C-contiguous and aligned. If any check fails it returns
``NotImplemented`` and the caller takes the Python path, which converts or raises exactly as
before: native code never sees a buffer it was not compiled for. Otherwise it allocates the
outputs with numpy's C API, runs the program's packed entry and returns new ``Array`` objects
(one, or a tuple).

The layouts this relies on (``ndarray`` fields, the slots of ``Array`` and ``ShapedArray``)
are verified against live objects once per process (``layout``); if anything differs, no
entry is built and every call takes the Python path. Entries are only built for programs
that cannot re-enter Python (no host calls) and donate nothing.

A small program (at most ``MAX_BYTES`` in and out) runs holding the GIL: that is the point
for microsecond kernels, and the GIL makes the entry's one workspace safe (its calls never
overlap). A larger one releases the GIL around the kernel, as the Python path does, so other
threads run meanwhile; its entry is then taken by one call at a time (a flag, set and cleared
under the GIL): a call arriving while another runs the kernel takes the Python path, whose
workspaces are per thread. Outputs of ``output_pool.MIN_BYTES`` and more are allocated
through the output pool's numpy handler, as on the Python path.
"""

import ctypes
import functools
import itertools
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler, output_pool
from funcjax.backend.llvm.lowering import packed_symbol
from funcjax.core.abstract import ShapedArray
from funcjax.core.array import DEFAULT_DEVICE, Array

# Programs moving more bytes than this release the GIL around their kernel.
MAX_BYTES = 1 << 18
_ALIGN = 64
_C_CONTIGUOUS, _ALIGNED = 0x1, 0x100
_METH_FASTCALL = 0x80
_METH_KEYWORDS = 0x2
I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
_NAME = "funcjax_fast_entry"
_SYMBOL = "funcjax_fast_"  # prefix of the addresses entries call (``llvm.add_symbol``)
_kernels = itertools.count()


def _word(address):
    return ctypes.c_void_p.from_address(address).value or 0


def _slot_offset(obj, member):
    for offset in range(16, type(obj).__basicsize__, 8):
        if _word(id(obj) + offset) == id(member):
            return offset
    raise LookupError(member)


def _c_function(name):
    return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value


@functools.cache
def layout():
    """The offsets and addresses the entries use, verified on live objects; None if this
    interpreter or numpy is laid out differently (then there are no native entries)."""
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return None
    try:
        a = np.zeros((2, 3), np.float32)[:, 1:]  # not contiguous: flags must say so
        c = np.zeros((2, 3), np.float32)
        ok = (_word(id(c) + 8) == id(np.ndarray) and _word(id(c) + 16) == c.ctypes.data
              and ctypes.c_int32.from_address(id(c) + 24).value == 2
              and ctypes.c_int64.from_address(_word(id(c) + 32) + 8).value == 3
              and _word(id(c) + 56) == id(np.dtype(np.float32)) == id(c.dtype)
              and ctypes.c_int32.from_address(id(c) + 64).value & 0x101 == 0x101
              and ctypes.c_int32.from_address(id(a) + 64).value & _C_CONTIGUOUS == 0)
        strong, weak = Array(c), Array(c, weak_type=True)
        weak_offset = _slot_offset(weak._aval, True)
        ok = ok and _slot_offset(strong._aval, False) == weak_offset
        capsule = np._core._multiarray_umath._ARRAY_API
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        api = (ctypes.c_void_p * 200).from_address(get(capsule, None))
        ok = ok and api[2] == id(np.ndarray)
        if not ok:
            return None
        found = {
            "value": _slot_offset(strong, strong._value),
            "aval": _slot_offset(strong, strong._aval),
            "device": _slot_offset(strong, strong._device), "weak": weak_offset,
            "ndarray": id(np.ndarray), "Array": id(Array), "ShapedArray": id(ShapedArray),
            "True": id(True), "False": id(False), "device_object": id(DEFAULT_DEVICE),
            "NotImplemented": id(NotImplemented),
            "PyArray_Empty": api[184], "PyArray_View": api[137],
            **{f: _c_function(f) for f in ("PyType_GenericAlloc", "Py_IncRef", "Py_DecRef",
                                            "PyTuple_New", "PyTuple_SetItem")},
        }
        found.update({f: _c_function(f) for f in ("PyEval_SaveThread", "PyEval_RestoreThread")})
        for name in ("PyArray_Empty", "PyArray_View", "PyType_GenericAlloc", "Py_IncRef",
                     "Py_DecRef", "PyTuple_New", "PyTuple_SetItem", "PyEval_SaveThread",
                     "PyEval_RestoreThread"):
            llvm.add_symbol(_SYMBOL + name, found[name])
        return found
    except (AttributeError, LookupError, ValueError, TypeError, OSError):
        return None


def eligible(program, consts):
    """Whether ``program`` may get a native entry (see the module docstring)."""
    if getattr(program, "executable", None) is None:  # a ForwardingProgram has no code
        return False
    lowered = program.lowered
    return (layout() is not None and not lowered.aliases
            and "funcjax_host_" not in lowered.ir_text
            and all(type(c) is np.ndarray or type(c) is Array for c in consts))


class _MethodDef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


class NativeEntry:
    """Owns what the generated code points at (engine, constants, workspace, output types);
    the builtin ``function`` holds this object as its ``self``, so nothing is freed while
    anyone can still call it. ``calls`` counts completed native calls."""

    def __init__(self, program, consts, out_mode):
        const_arrays = [c._value if type(c) is Array else c for c in consts]
        for aval, c in zip(program.closed.in_avals, const_arrays):
            if (c.dtype != aval.dtype or c.shape != aval.shape
                    or not c.flags.c_contiguous or not c.flags.aligned):
                raise ValueError("constant needs conversion")
        self.consts = const_arrays  # same objects the Python path would read
        self.out_avals = list(program.closed.out_avals)  # the Arrays made share these objects
        self.workspace = np.empty(program.lowered.arena.size + _ALIGN, np.uint8)
        self.counter = ctypes.c_int64(0)
        self.busy = ctypes.c_int64(0)  # a large program's kernel is running (module docstring)
        closed = program.closed
        self.large = sum(a.nbytes for a in closed.in_avals) + \
            sum(a.nbytes for a in closed.out_avals) > MAX_BYTES
        self.handler = output_pool.native_handler() if any(
            a.nbytes >= output_pool.MIN_BYTES for a in self.out_avals) else None
        self.dims = [(ctypes.c_int64 * max(len(a.shape), 1))(*a.shape) for a in self.out_avals]
        self.descrs = [np.dtype(a.dtype) for a in self.out_avals]  # code compares addresses
        self.in_descrs = [np.dtype(a.dtype) for a in program.closed.in_avals[len(consts):]]
        self.program = program  # keeps the engine (the kernel's machine code) alive
        ws = self.workspace.ctypes.data
        self.ir_text = _entry_ir(program, const_arrays, ws + (-ws % _ALIGN), self, out_mode)
        self.engine = compiler.compile_ir(self.ir_text, cacheable=False, cold=True)
        self.method = _MethodDef(b"jit_fast_entry", self.engine.address(_NAME), _METH_FASTCALL,
                                 None)
        self.function = _new_function(ctypes.addressof(self.method), self, None)

    @property
    def calls(self):
        return self.counter.value


def build(program, consts, out_mode):
    """A ``NativeEntry`` for ``program`` called with ``consts`` first, or None. ``out_mode``
    is "leaf" (return the one Array) or "tuple" (return a tuple of the outputs)."""
    if not eligible(program, consts):
        return None
    try:
        return NativeEntry(program, consts, out_mode)
    except ValueError:
        return None


class EntryFunction:
    """The frame every generated ``METH_FASTCALL`` entry shares (this module's and
    ``eager_entry``'s): ``PyObject *name(PyObject *self, PyObject **args, Py_ssize_t nargs)``
    in its own module, a ``miss`` block for any check that fails, and the helpers the checks
    are written with."""

    def __init__(self, module_name, function_name, keywords=False):
        self.module = ir.Module(name=module_name)
        params = [PTR, PTR, I64] + [PTR] * keywords  # ``METH_KEYWORDS``: and ``kwnames``
        self.fn = ir.Function(self.module, ir.FunctionType(PTR, params), function_name)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.miss = self.fn.append_basic_block("miss")

    @staticmethod
    def const_ptr(address):
        return ir.Constant(I64, address).inttoptr(PTR)

    def load(self, ptr, offset, ty=PTR):
        """The field of type ``ty`` at byte ``offset`` of the object at ``ptr``."""
        return self.b.load(self.b.gep(ptr, [ir.Constant(I64, offset)],
                                      source_etype=ir.IntType(8)), typ=ty)

    def require(self, cond, name):
        """Continues in a new block if ``cond`` holds, else goes to ``miss``."""
        ok = self.fn.append_basic_block(name)
        self.b.cbranch(cond, ok, self.miss)
        self.b.position_at_end(ok)

    def first_match(self, count, matches, value, ty):
        """``value(k)`` for the first ``k < count`` whose ``matches(k)`` holds (both emitted
        in that candidate's block), continuing in a new block; goes to ``miss`` if none does."""
        b = self.b
        found = self.fn.append_basic_block("found")
        incoming = []
        for k in range(count):
            hit, result = matches(k), value(k)
            nxt = self.fn.append_basic_block(f"candidate{k + 1}")
            incoming.append((result, b.block))
            b.cbranch(hit, found, nxt)
            b.position_at_end(nxt)
        b.branch(self.miss)
        b.position_at_end(found)
        out = b.phi(ty)
        for result, block in incoming:
            out.add_incoming(result, block)
        return out

    def call(self, name, ret, arg_types, *values):
        """Calls the C-API function ``name``, bound under the ``_SYMBOL`` prefix."""
        callee = self.module.globals.get(_SYMBOL + name)
        if callee is None:
            callee = ir.Function(self.module, ir.FunctionType(ret, arg_types), _SYMBOL + name)
        return self.b.call(callee, values)


def _entry_ir(program, const_arrays, workspace, owner, out_mode):
    L = layout()
    compiler.host()  # LLVM initialised before symbols are added
    closed = program.closed
    n_const = len(const_arrays)
    in_avals, out_avals = closed.in_avals[n_const:], closed.out_avals
    entry = EntryFunction("fast_entry", _NAME)
    module, fn, b, miss = entry.module, entry.fn, entry.b, entry.miss
    const_ptr, load, require, call = entry.const_ptr, entry.load, entry.require, entry.call
    _, args, nargs = fn.args

    require(b.icmp_signed("==", nargs, ir.Constant(I64, len(in_avals))), "nargs_ok")
    data = []
    for k, aval in enumerate(in_avals):
        p = b.load(b.gep(args, [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
        kind = b.ptrtoint(load(p, 8), I64)
        as_array = fn.append_basic_block(f"array{k}")
        as_numpy = fn.append_basic_block(f"numpy{k}")
        check = fn.append_basic_block(f"check{k}")
        b.cbranch(b.icmp_unsigned("==", kind, ir.Constant(I64, L["Array"])), as_array, as_numpy)
        b.position_at_end(as_array)
        aval_obj = load(p, L["aval"])
        require(b.icmp_unsigned("==", b.ptrtoint(load(aval_obj, 8), I64),
                                ir.Constant(I64, L["ShapedArray"])), f"aval{k}")
        weak = L["True"] if aval.weak_type else L["False"]
        require(b.icmp_unsigned("==", b.ptrtoint(load(aval_obj, L["weak"]), I64),
                                ir.Constant(I64, weak)), f"weak{k}")
        value = load(p, L["value"])
        from_array = b.block
        b.branch(check)
        b.position_at_end(as_numpy)
        if aval.weak_type:  # a numpy argument is strong
            b.branch(miss)
        else:
            b.branch(check)
        b.position_at_end(check)
        arr = b.phi(PTR)
        arr.add_incoming(value, from_array)
        if not aval.weak_type:
            arr.add_incoming(p, as_numpy)
        require(b.icmp_unsigned("==", b.ptrtoint(load(arr, 8), I64),
                                ir.Constant(I64, L["ndarray"])), f"ndarray{k}")
        descr = owner.in_descrs[k]
        ok = b.icmp_unsigned("==", b.ptrtoint(load(arr, 56), I64), ir.Constant(I64, id(descr)))
        ok = b.and_(ok, b.icmp_signed("==", load(arr, 24, I32), ir.Constant(I32, len(aval.shape))))
        flags = b.and_(load(arr, 64, I32), ir.Constant(I32, _C_CONTIGUOUS | _ALIGNED))
        ok = b.and_(ok, b.icmp_signed("==", flags, ir.Constant(I32, _C_CONTIGUOUS | _ALIGNED)))
        require(ok, f"header{k}")
        if aval.shape:
            dims = load(arr, 32)
            ok = ir.Constant(ir.IntType(1), 1)
            for d, size in enumerate(aval.shape):
                ok = b.and_(ok, b.icmp_signed("==", load(dims, 8 * d, I64), ir.Constant(I64, size)))
            require(ok, f"shape{k}")
        data.append(load(arr, 16))

    busy = const_ptr(ctypes.addressof(owner.busy))

    def idle(b):  # (a large program's entry is free again)
        if owner.large:
            b.store(ir.Constant(I64, 0), busy)
    if owner.large:  # one call at a time runs the kernel; the GIL is held here
        require(b.icmp_signed("==", b.load(busy, typ=I64), ir.Constant(I64, 0)), "idle")
        b.store(ir.Constant(I64, 1), busy)

    # outputs: an owning base array, the Array's private view of it (as ``wrap_fresh``)
    outs, out_data = [], []
    cleanup = []  # objects to release if a later allocation fails
    for j, aval in enumerate(out_avals):
        descr = owner.descrs[j]
        pooled = owner.handler is not None and aval.nbytes >= output_pool.MIN_BYTES
        if pooled:  # numpy allocates through the output pool's handler (output_pool.py)
            set_handler = "PyDataMem_SetHandler"
            llvm.add_symbol(_SYMBOL + set_handler, owner.handler[0])
            previous = call(set_handler, PTR, [PTR], const_ptr(owner.handler[1]))
        call("Py_IncRef", ir.VoidType(), [PTR], const_ptr(id(descr)))
        base = call("PyArray_Empty", PTR, [I32, PTR, PTR, I32], ir.Constant(I32, len(aval.shape)),
                    const_ptr(ctypes.addressof(owner.dims[j])), const_ptr(id(descr)),
                    ir.Constant(I32, 0))
        if pooled:
            ours = call(set_handler, PTR, [PTR], previous)
            call("Py_DecRef", ir.VoidType(), [PTR], ours)
            call("Py_DecRef", ir.VoidType(), [PTR], previous)
        _fail_if_null(b, fn, base, cleanup, call, idle)
        out_data.append(load(base, 16))
        view = call("PyArray_View", PTR, [PTR, PTR, PTR], base, ir.Constant(PTR, None),
                    ir.Constant(PTR, None))
        call("Py_DecRef", ir.VoidType(), [PTR], base)
        _fail_if_null(b, fn, view, cleanup, call, idle)
        obj = call("PyType_GenericAlloc", PTR, [PTR, I64], const_ptr(L["Array"]),
                   ir.Constant(I64, 0))
        _fail_if_null(b, fn, obj, cleanup + [view], call, idle)
        for slot, target in (("aval", id(aval)), ("device", L["device_object"])):
            call("Py_IncRef", ir.VoidType(), [PTR], const_ptr(target))
            b.store(const_ptr(target), b.gep(obj, [ir.Constant(I64, L[slot])],
                                             source_etype=ir.IntType(8)))
        b.store(view, b.gep(obj, [ir.Constant(I64, L["value"])], source_etype=ir.IntType(8)))
        outs.append(obj)
        cleanup.append(obj)

    pointers = [const_ptr(c.ctypes.data) for c in const_arrays] + data + out_data
    pointers.append(const_ptr(workspace))
    table = b.alloca(PTR, size=ir.Constant(I64, len(pointers)))
    for k, ptr in enumerate(pointers):
        b.store(ptr, b.gep(table, [ir.Constant(I64, k)], source_etype=PTR))
    kernel = f"kernel{next(_kernels)}"
    llvm.add_symbol(_SYMBOL + kernel,
                    program.executable.engine.address(packed_symbol(program.executable.name)))
    if owner.large:  # other threads run meanwhile (the Python path releases the GIL too)
        state = call("PyEval_SaveThread", PTR, [])
        call(kernel, ir.VoidType(), [PTR], table)
        call("PyEval_RestoreThread", ir.VoidType(), [PTR], state)
        idle(b)
    else:
        call(kernel, ir.VoidType(), [PTR], table)
    counter = const_ptr(ctypes.addressof(owner.counter))
    b.store(b.add(b.load(counter, typ=I64), ir.Constant(I64, 1)), counter)
    if out_mode == "leaf":
        b.ret(outs[0])
    else:
        result = call("PyTuple_New", PTR, [I64], ir.Constant(I64, len(outs)))
        _fail_if_null(b, fn, result, cleanup, call)
        for j, obj in enumerate(outs):
            call("PyTuple_SetItem", I32, [PTR, I64, PTR], result, ir.Constant(I64, j), obj)
        b.ret(result)

    b.position_at_end(miss)
    call("Py_IncRef", ir.VoidType(), [PTR], const_ptr(L["NotImplemented"]))
    b.ret(const_ptr(L["NotImplemented"]))
    return str(module)


def _fail_if_null(b, fn, obj, release, call, undo=None):
    """Returns NULL (numpy's exception is set) after releasing ``release`` (and emitting
    ``undo(b)``) when ``obj`` is NULL."""
    fail = fn.append_basic_block("fail")
    ok = fn.append_basic_block("ok")
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(obj, I64), ir.Constant(I64, 0)), fail, ok)
    b.position_at_end(fail)
    if undo is not None:
        undo(b)
    for other in release:
        call("Py_DecRef", ir.VoidType(), [PTR], other)
    b.ret(ir.Constant(PTR, None))
    b.position_at_end(ok)
