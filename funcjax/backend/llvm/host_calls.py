"""Calls from compiled code back into Python: the one mechanism behind host callbacks
(``lower_callback``) and the equations that run their numpy impl (``host_call``).

A Python function ``run(table)`` becomes a ctypes trampoline ``void f(ptr table)`` whose
address is bound to a fresh symbol with ``llvm.add_symbol``; the compiled code fills a stack
table with the pointers of the call's buffers and calls that symbol. ctypes takes the GIL for
the duration of the Python call only: compiled code runs without it. ``Layout`` sees the
buffer at an address as a numpy array, a layout decided once per trampoline.

An exception cannot unwind through native frames: the trampoline stores it, later calls of
the same run are skipped, and ``raise_pending`` (called by ``Program`` once the native call
returns) raises it. pmap runs devices in threads Python did not start, whose thread-local
state does not last: while such a run goes on, ``device_errors`` is a list collecting every
error.

A symbol names an address in this process. Object code that calls one may still be cached
on disk when the IR alone decides what the callee does (``cacheable``: relowering the same
IR registers the same work under the same name before the object is loaded); otherwise the
symbol carries ``compiler.UNCACHEABLE_SYMBOL_PREFIX`` and the module is never cached.
"""

import ctypes
import itertools
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.compiler import UNCACHEABLE_SYMBOL_PREFIX
from funcjax.backend.llvm.types import PTR

TABLE = ctypes.POINTER(ctypes.c_void_p)
_TRAMPOLINE = ctypes.CFUNCTYPE(None, TABLE)
_counter = itertools.count()
_lock = threading.Lock()
_alive = {}  # symbol -> trampoline: compiled code may call it for as long as the process runs


class _Pending(threading.local):
    error = None


_pending = _Pending()
device_errors = None


def raise_pending():
    """Raises the exception a host call raised during the native call that just returned."""
    error, _pending.error = _pending.error, None
    if error is not None:
        raise error


def clear_pending():
    _pending.error = None


class Layout:
    """How to see the buffer at an address as a numpy array of one type."""

    __slots__ = ("shape", "dtype", "raw")

    def __init__(self, aval):
        self.shape, self.dtype = aval.shape, aval.dtype
        self.raw = ctypes.c_uint8 * aval.nbytes if aval.nbytes else None

    def view(self, address):
        if self.raw is None:
            return np.empty(self.shape, self.dtype)
        return np.frombuffer(self.raw.from_address(address), self.dtype).reshape(self.shape)


def bind(run, cacheable):
    """A fresh symbol for ``run(table)``; exceptions it raises are kept for ``raise_pending``."""
    def call(table):
        if _pending.error is not None:  # an earlier host call of this run failed
            return
        try:
            run(table)
        except BaseException as e:  # noqa: BLE001 - re-raised by raise_pending
            _pending.error = e
            if device_errors is not None:
                device_errors.append(e)
    trampoline = _TRAMPOLINE(call)
    with _lock:
        prefix = "funcjax_host_" if cacheable else UNCACHEABLE_SYMBOL_PREFIX
        symbol = f"{prefix}{next(_counter)}"
        _alive[symbol] = trampoline
    llvm.add_symbol(symbol, ctypes.cast(trampoline, ctypes.c_void_p).value)
    return symbol


def emit_call(ctx, symbol, buffers):
    """Emits ``symbol(table)`` with a stack table of the pointers of ``buffers``."""
    b = ctx.b
    with b.goto_block(ctx.alloca_block):
        table = b.alloca(PTR, size=types.i64(max(len(buffers), 1)), name="host_args")
    for k, buf in enumerate(buffers):
        b.store(buf.ptr, b.gep(table, [types.i64(k)], inbounds=True, source_etype=PTR))
    ctx.call(symbol, ir.VoidType(), [table], pure=False)
