"""Calling compiled code safely: check every argument against the signature the code was
compiled for, keep the buffers alive across the call, allocate outputs and the workspace.

Native code is never handed a buffer it was not compiled for: a wrong shape or dtype raises
a ``TypeError`` naming the argument before any pointer is taken. Inputs are made C-contiguous
(the code assumes row-major layout) and held in a local list for the duration of the call.
The workspace is one arena per thread, reused from call to call.
"""

import ctypes
import threading

import numpy as np

from funcjax.backend.llvm import output_pool, trampoline
from funcjax.backend.llvm.lowering import packed_symbol
from funcjax.core.array import Array, to_numpy

_ALIGN = 64


def check_arguments(name, in_avals, args, arg_names=None):
    """The arguments as C-contiguous numpy arrays of exactly the compiled types."""
    if len(args) != len(in_avals):
        raise TypeError(f"{name}: compiled for {len(in_avals)} array arguments, called with "
                        f"{len(args)}")
    arrays = []
    for k, (aval, x) in enumerate(zip(in_avals, args)):
        arr = x._value if type(x) is Array else x
        if type(arr) is not np.ndarray or arr.shape != aval.shape or arr.dtype != aval.dtype:
            arr = _convert(name, aval, x, arg_names, k)  # converts, or raises
        arrays.append(np.ascontiguousarray(arr))
    return arrays


def _convert(name, aval, x, arg_names, k):
    """``x`` as numpy (Python scalars, other arrays: converted as ``to_numpy`` does) when it
    has type ``aval``; else the error naming the argument."""
    arr = to_numpy(x)
    try:
        shape = arr.shape
    except RuntimeError as e:  # a deleted Array
        raise RuntimeError(f"{name}: {_label(arg_names, k)}: {e}") from None
    if shape != aval.shape or arr.dtype != aval.dtype:
        got = f"{arr.dtype.name}{list(arr.shape)}"
        raise TypeError(
            f"{name}: {_label(arg_names, k)} has type {got} but the computation was "
            f"compiled for {aval.dtype.name}{list(aval.shape)}. A Compiled object runs "
            "only on the types it was lowered with; call the jit-wrapped function instead "
            "(it compiles again for new types) or lower it with matching arguments.")
    return arr


def _label(arg_names, k):
    return f"'{arg_names[k]}'" if arg_names and k < len(arg_names) else f"argument {k}"


class Executable:
    """The entry function of a loaded module with its signature and workspace size."""

    def __init__(self, engine, name, in_avals, out_avals, workspace_bytes):
        self.engine = engine  # keeps the machine code alive
        self.name = name
        self.in_avals, self.out_avals = list(in_avals), list(out_avals)
        self.workspace_bytes = workspace_bytes
        self._table = ctypes.c_void_p * (len(in_avals) + len(out_avals) + 1)
        self._address = engine.address(packed_symbol(name))
        self._fn = ctypes.CFUNCTYPE(None, self._table)(self._address)
        self._call = trampoline.call()  # ``ndarray.ctypes.data`` costs ~2 us a buffer
        self._local = threading.local()

    def _workspace(self):
        """This thread's arena and its aligned address (computed once: ``.ctypes`` is slow)."""
        found = getattr(self._local, "ws", None)
        if found is None:
            ws = np.empty(self.workspace_bytes + _ALIGN, np.uint8)
            addr = ws.ctypes.data
            found = self._local.ws = (ws, addr + (-addr % _ALIGN))
        return found

    def run(self, arrays, aliases=()):
        """Runs on already-checked arrays (``check_arguments``); returns the outputs: new
        arrays, except that output k is ``arrays[i]`` for each pair ``(k, i)`` of ``aliases``
        (donated memory, see ``donation.take_donated``)."""
        reuse = dict(aliases)
        outs = [arrays[reuse[k]] if k in reuse else output_pool.empty(aval.shape, aval.dtype)
                for k, aval in enumerate(self.out_avals)]
        ws, ws_ptr = self._workspace()
        if self._call is None or self._call(self._address, ws_ptr, *arrays,
                                            *outs) is NotImplemented:
            self._fn(self._table(*[a.ctypes.data for a in [*arrays, *outs]], ws_ptr))
        del ws  # held until here: the native code has finished with every buffer
        return outs

    def __call__(self, *args):
        return self.run(check_arguments(self.name, self.in_avals, args))
