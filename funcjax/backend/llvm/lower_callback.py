"""Lowering of host callbacks: native code calls back into Python.

Each (callback, input types) pair gets a ctypes trampoline ``void f(ptr table)`` whose address
is bound to a fresh symbol name with ``llvm.add_symbol``; the compiled code fills a stack table
with the input and output buffer pointers and calls that symbol. ctypes takes the GIL for the
duration of the Python call only: compiled code runs without it (``Executable`` calls it through
``CFUNCTYPE``). The trampoline copies the inputs (the callback may keep them; the workspace is
reused) and writes the checked results into the output buffers.

An exception cannot unwind through native frames: the trampoline stores it, later callbacks of
the same run are skipped, and ``raise_pending`` (called by ``Program`` once the native call
returns) raises it. Modules with callbacks are never written to the persistent cache, since
the symbols name addresses in this process (``compiler.compile_ir`` checks ``SYMBOL_PREFIX``).
"""

import ctypes
import itertools
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.types import PTR
from funcjax.ops.callbacks import callback_p

SYMBOL_PREFIX = "funcjax_host_callback_"
_TRAMPOLINE = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_void_p))
_counter = itertools.count()
_lock = threading.Lock()


class _Pending(threading.local):
    error = None


_pending = _Pending()
# pmap runs devices in threads Python did not start, whose thread-local state does not last:
# while it runs a program with callbacks it sets this to a list that collects every error.
device_errors = None


def raise_pending():
    """Raises the exception a callback raised during the native call that just returned."""
    error, _pending.error = _pending.error, None
    if error is not None:
        raise error


class _Layout:
    """How to see the buffer at an address as a numpy array of one type (decided once)."""

    __slots__ = ("shape", "dtype", "raw")

    def __init__(self, aval):
        self.shape, self.dtype = aval.shape, aval.dtype
        self.raw = ctypes.c_uint8 * aval.nbytes if aval.nbytes else None

    def view(self, address):
        if self.raw is None:
            return np.empty(self.shape, self.dtype)
        return np.frombuffer(self.raw.from_address(address), self.dtype).reshape(self.shape)


def _trampoline(callback, in_avals):
    ins = [_Layout(a) for a in in_avals]
    outs = [(k, _Layout(a)) for k, a in enumerate(callback.result_avals, len(in_avals))]

    def call(table):
        if _pending.error is not None:  # an earlier callback of this run failed
            return
        try:
            results = callback(*[layout.view(table[k]).copy() for k, layout in enumerate(ins)])
            for (k, layout), result in zip(outs, results):
                if layout.raw is not None:
                    layout.view(table[k])[...] = result
        except BaseException as e:  # noqa: BLE001 - re-raised by raise_pending
            _pending.error = e
            if device_errors is not None:
                device_errors.append(e)
    return _TRAMPOLINE(call)


def _symbol(callback, in_avals):
    """The symbol compiled code calls for ``callback`` on inputs of types ``in_avals``."""
    key = tuple(in_avals)
    with _lock:
        if callback.native is None:
            callback.native = {}
        entry = callback.native.get(key)
        if entry is None:
            fn = _trampoline(callback, in_avals)  # kept alive by the callback object
            entry = callback.native[key] = (f"{SYMBOL_PREFIX}{next(_counter)}", fn)
            llvm.add_symbol(entry[0], ctypes.cast(fn, ctypes.c_void_p).value)
    return entry[0]


@register("buffer", callback_p)
def _callback(ctx, eqn, ins, outs):
    b = ctx.b
    buffers = [ctx.as_buffer(x) for x in ins] + list(outs)
    with b.goto_block(ctx.alloca_block):
        table = b.alloca(PTR, size=types.i64(max(len(buffers), 1)), name="callback_args")
    for k, buf in enumerate(buffers):
        slot = b.gep(table, [types.i64(k)], inbounds=True, source_etype=PTR)
        b.store(buf.ptr, slot)
    symbol = _symbol(eqn.params["callback"], [x.aval for x in eqn.inputs])
    ctx.call(symbol, ir.VoidType(), [table], pure=False)
