"""The cross-process stage of pmap's collectives (multi-process runs, ``funcjax.distributed``).

With several processes, a collective in the per-device program is: every local device
publishes its operand and result addresses in the comm's slots (as in ``spmd_runtime``), a
barrier, then device 0 alone calls ``funcjax_spmd_cross(comm, id)``: this Python stage reads
the local operands as numpy views of the devices' own buffers (no copies), combines them,
runs the MPI collective (``Allreduce``/``Allgather`` on numpy buffers, through mpi4py's
buffer protocol) and writes each local device's result into its result buffer; a last
barrier releases the devices. Device ``d`` of process ``p`` is global device
``first(p) + d``, so results equal one process holding all the devices (sums may round
differently: MPI adds per-process partial sums).

A failing stage aborts the local comm (the devices finish at once) and the error is raised
by the pmap call; an uncaught error then ends every process (``funcjax.distributed``).
"""

import ctypes
import functools

import llvmlite.binding as llvm
import numpy as np

from funcjax.backend.llvm import compiler, spmd_runtime
from funcjax.core import processes
from funcjax.ops import collectives as ops

CROSS = "funcjax_spmd_cross"
_stages = {}  # comm address -> CrossStage


class CrossStage:
    """The collectives of one compiled program, by id, and how to run each across
    processes."""

    def __init__(self, local_size):
        s = processes.state
        self.n, self.comm = local_size, s.comm
        self.offset = sum(s.local_counts[:s.index])
        self.total = sum(s.local_counts)
        self.collectives = []
        self.error = None

    def add(self, eqn, in_aval, out_aval):
        self.collectives.append((eqn.primitive, eqn.params, in_aval, out_aval))
        return len(self.collectives) - 1

    def attach(self, comm_address):
        _stages[comm_address] = self

    def run(self, comm_address, k):
        prim, params, in_aval, out_aval = self.collectives[k]
        slots = np.frombuffer((ctypes.c_int64 * (2 * self.n)).from_address(
            comm_address + spmd_runtime.SLOTS), np.int64).reshape(self.n, 2)
        srcs = [_view(a, in_aval) for a in slots[:, 0]]
        outs = [_view(a, out_aval) for a in slots[:, 1]]
        if prim in _REDUCE_OPS:
            self._reduce(srcs, prim, outs[0])
            for o in outs[1:]:
                o[...] = outs[0]
        elif prim is ops.psum_scatter_p:
            full = np.empty_like(srcs[0])
            self._reduce(srcs, ops.psum_p, full)
            dim, tiled = params["scatter_dimension"], params["tiled"]
            for d, o in enumerate(outs):
                g = self.offset + d
                o[...] = (np.take(full, range(g * o.shape[dim], (g + 1) * o.shape[dim]), dim)
                          if tiled else np.take(full, g, dim))
        elif prim is ops.all_gather_p and params["axis"] == 0:  # the layout MPI gives
            self._gather(srcs, outs[0].reshape((self.total,) + srcs[0].shape))
            for o in outs[1:]:
                o[...] = outs[0]
        else:
            every = self._gather(srcs, np.empty((self.total,) + srcs[0].shape, srcs[0].dtype))
            for d, o in enumerate(outs):
                o[...] = _FROM_ALL[prim](every, self.offset + d, params, o)

    def _reduce(self, srcs, prim, out):
        """Combines the local operands, then the processes' partial results, into ``out``:
        in place, straight on the devices' buffers, for the types MPI has."""
        from mpi4py import MPI
        ufunc = _REDUCE_OPS[prim]
        native = out.dtype.char in "fdilqIQLbBhH"
        acc = out if native else np.empty(out.shape, _wide(out.dtype))
        if native and len(srcs) == 1:
            self.comm.Allreduce(srcs[0], out, _MPI_OPS[prim]())
            return
        acc[...] = srcs[0]
        for s in srcs[1:]:
            ufunc(acc, s, out=acc)
        if acc.dtype.char in "fdilqIQLbBhH":
            self.comm.Allreduce(MPI.IN_PLACE, acc, _MPI_OPS[prim]())
        else:  # dtypes MPI lacks (bool, complex): gathered, then reduced in rank order
            acc = functools.reduce(ufunc, self.comm.allgather(acc))
        if acc is not out:
            out[...] = acc

    def _gather(self, srcs, every):
        """Every global device's operand into ``every`` (shape ``(devices, ...)``)."""
        local = srcs[0] if len(srcs) == 1 else np.stack(srcs)
        counts = processes.state.local_counts
        item = srcs[0].nbytes
        self.comm.Allgatherv(local.reshape(-1).view(np.uint8),
                             [every.reshape(-1).view(np.uint8),
                              [c * item for c in counts],
                              [sum(counts[:p]) * item for p in range(len(counts))],
                              _byte()])
        return every


def _mpi():
    from mpi4py import MPI
    return MPI


def _byte():
    return _mpi().BYTE


def _wide(dtype):
    """float16/bfloat16 accumulate in float32, as the native local combine does."""
    return np.float32 if dtype.itemsize == 2 and dtype.kind == "f" or \
        dtype.name == "bfloat16" else dtype


def _view(address, aval):
    nbytes = max(aval.nbytes, 1)
    raw = (ctypes.c_char * nbytes).from_address(int(address))
    return np.frombuffer(raw, np.uint8, aval.nbytes).view(aval.dtype).reshape(aval.shape)


def _all_gather(every, g, params, out):
    axis = params["axis"]
    if params["tiled"]:
        return np.concatenate(list(every), axis)
    return np.stack(list(every), axis)


def _ppermute(every, g, params, out):
    for s, t in params["perm"]:
        if t == g:
            return every[s]
    return 0


def _all_to_all(every, g, params, out):
    split, concat, tiled = (params[k] for k in ("split_axis", "concat_axis", "tiled"))
    if tiled:
        size = every.shape[1 + split] // every.shape[0]
        parts = [np.take(x, range(g * size, (g + 1) * size), split) for x in every]
        return np.concatenate(parts, concat)
    return np.stack([np.take(x, g, split) for x in every], concat)


_REDUCE_OPS = {ops.psum_p: np.add, ops.pmax_p: np.maximum, ops.pmin_p: np.minimum}
_MPI_OPS = {ops.psum_p: lambda: _mpi().SUM, ops.pmax_p: lambda: _mpi().MAX,
            ops.pmin_p: lambda: _mpi().MIN}
_FROM_ALL = {ops.all_gather_p: _all_gather, ops.ppermute_p: _ppermute,
             ops.all_to_all_p: _all_to_all}


@ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64)
def _cross(comm_address, k):
    """Called by device 0's thread (ctypes takes the GIL); 1 tells the devices to abort."""
    stage = _stages[comm_address]
    try:
        stage.run(comm_address, k)
        return 0
    except BaseException as e:  # noqa: BLE001 -- handed to the pmap call, which raises it
        stage.error = e
        spmd_runtime.runtime()[2](comm_address)
        return 1


@functools.cache
def bind():
    """Makes ``funcjax_spmd_cross`` resolvable by the programs that call it."""
    with compiler.LOCK:
        llvm.add_symbol(CROSS, ctypes.cast(_cross, ctypes.c_void_p).value)
