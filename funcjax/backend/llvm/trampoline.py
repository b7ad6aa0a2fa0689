"""One generated CPython builtin that calls any compiled program's packed entry on ndarrays:
the Python path of ``jit`` (``runtime.Executable.run``) without ctypes.

Through ctypes, each buffer's address costs an ``ndarray.ctypes.data`` (~2 us), the pointer
table a ctypes array, and the call a ``CFUNCTYPE`` conversion: ~10 us for a matmul's three
buffers, beside ~330 us of sgemm at 256. ``call(kernel, workspace, *arrays)`` (a
``METH_FASTCALL`` builtin emitted in LLVM IR once per process) reads each ndarray's data
pointer from the object, fills the table on the stack, releases the GIL around the kernel
(as ctypes does: programs run in parallel threads) and returns None. It reads
``kernel`` and ``workspace`` as addresses (Python ints) and checks that every other argument
is exactly an ``ndarray``, returning ``NotImplemented`` (the caller takes the ctypes route)
otherwise; the caller has checked types and shapes (``runtime.check_arguments``).
The ndarray layout is the one ``fast_call.layout`` verifies on live objects; without it there
is no builtin (``call`` is None) and every program runs through ctypes.
"""

import ctypes
import functools

import llvmlite.binding as llvm
from llvmlite import ir

from funcjax.backend.llvm import compiler, fast_call, spmd_pool

_NAME = "funcjax_trampoline"
_C_API = ("PyLong_AsVoidPtr", "PyEval_SaveThread", "PyEval_RestoreThread")
_DATA = 16  # offset of an ndarray's data pointer (``fast_call.layout`` checks it)
I64, PTR = ir.IntType(64), ir.PointerType()


def _ir(found):
    entry = fast_call.EntryFunction("trampoline", _NAME)
    fn, b, miss = entry.fn, entry.b, entry.miss
    _, args, nargs = fn.args

    def arg(k):
        return b.load(b.gep(args, [k], source_etype=PTR), typ=PTR)
    entry.require(b.icmp_signed(">=", nargs, ir.Constant(I64, 2)), "nargs_ok")
    kernel = entry.call("PyLong_AsVoidPtr", PTR, [PTR], arg(ir.Constant(I64, 0)))
    fail = fn.append_basic_block("no_kernel")  # not an address: NULL, an error is raised
    kernel_ok = fn.append_basic_block("kernel_ok")
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(kernel, I64), ir.Constant(I64, 0)), fail,
              kernel_ok)
    b.position_at_end(kernel_ok)
    workspace = entry.call("PyLong_AsVoidPtr", PTR, [PTR], arg(ir.Constant(I64, 1)))
    n = b.sub(nargs, ir.Constant(I64, 2))
    table = b.alloca(PTR, size=b.add(n, ir.Constant(I64, 1)))
    loop = fn.append_basic_block("loop")
    body = fn.append_basic_block("body")
    done = fn.append_basic_block("done")
    start = b.block
    b.branch(loop)
    b.position_at_end(loop)
    k = b.phi(I64)
    k.add_incoming(ir.Constant(I64, 0), start)
    b.cbranch(b.icmp_signed("<", k, n), body, done)
    b.position_at_end(body)
    array = arg(b.add(k, ir.Constant(I64, 2)))
    entry.require(b.icmp_unsigned("==", b.ptrtoint(entry.load(array, 8), I64),
                                  ir.Constant(I64, found["ndarray"])), "is_ndarray")
    b.store(entry.load(array, _DATA), b.gep(table, [k], source_etype=PTR))
    k.add_incoming(b.add(k, ir.Constant(I64, 1)), b.block)
    b.branch(loop)
    b.position_at_end(done)
    b.store(workspace, b.gep(table, [n], source_etype=PTR))
    state = entry.call("PyEval_SaveThread", PTR, [])
    spmd_pool._call_ptr(b, kernel, ir.FunctionType(ir.VoidType(), [PTR]), [table])
    entry.call("PyEval_RestoreThread", ir.VoidType(), [PTR], state)
    none = entry.const_ptr(id(None))
    entry.call("Py_IncRef", ir.VoidType(), [PTR], none)
    b.ret(none)
    b.position_at_end(fail)
    b.ret(ir.Constant(PTR, None))
    b.position_at_end(miss)
    not_implemented = entry.const_ptr(found["NotImplemented"])
    entry.call("Py_IncRef", ir.VoidType(), [PTR], not_implemented)
    b.ret(not_implemented)
    return str(entry.module)


class _Builtin:
    """Owns the engine and the method table the builtin points into."""

    def __init__(self, found):
        compiler.host()  # LLVM initialised before symbols are added
        for name in _C_API:
            llvm.add_symbol(fast_call._SYMBOL + name, fast_call._c_function(name))
        self.engine = compiler.compile_ir(_ir(found), cacheable=False, cold=True)
        self.method = fast_call._MethodDef(b"trampoline", self.engine.address(_NAME),
                                           fast_call._METH_FASTCALL, None)
        self.function = fast_call._new_function(ctypes.addressof(self.method), self, None)


@functools.cache
def _builtin():
    found = fast_call.layout()
    return None if found is None else _Builtin(found)


def call():
    """The builtin ``call(kernel, workspace, *arrays)``, or None (see the module docstring)."""
    built = _builtin()
    return None if built is None else built.function
