"""Host-side helpers for multi-process runs (JAX's ``experimental.multihost_utils``): gather,
broadcast and synchronise numpy values between the processes through MPI. With one process
they return what one process would (a gather has a leading axis of size 1)."""

import numpy as np

from funcjax.core import processes
from funcjax.core.array import Array
from funcjax.core.pytree import tree_map


def _host(leaf, where):
    if not isinstance(leaf, (Array, np.ndarray, np.generic, int, float, bool, complex)):
        raise TypeError(f"{where}: the leaves must be arrays or numbers, got "
                        f"{type(leaf).__name__}")
    x = np.asarray(leaf)
    return x if x.flags.c_contiguous else x.copy()  # (ascontiguousarray makes 0-d 1-d)


def process_allgather(in_tree, tiled=False):
    """Every process's value of each leaf, stacked along a new leading axis (one entry per
    process, in rank order), or concatenated along axis 0 when ``tiled``."""
    def gather(leaf):
        x = _host(leaf, "process_allgather")
        if tiled and x.ndim == 0:
            raise ValueError("process_allgather(tiled=True): scalars cannot be concatenated; "
                             "use tiled=False")
        if not processes.multi_process():
            return x if tiled else x[None]
        s = processes.state
        processes.check_same("process_allgather", (x.shape[1:] if tiled else x.shape,
                                                   x.dtype.str))
        counts = s.comm.allgather(x.shape[0] if tiled else 1)
        out = np.empty((sum(counts),) + x.shape[1 if tiled else 0:], x.dtype)
        row = out[0].nbytes if out.shape[0] else 0
        mine, every = x.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8)
        if len(set(counts)) == 1:  # (MPICH's Allgatherv is several times slower)
            s.comm.Allgather([mine, _byte()], [every, _byte()])
        else:
            s.comm.Allgatherv(mine, [every, [c * row for c in counts],
                                     [sum(counts[:p]) * row for p in range(len(counts))],
                                     _byte()])
        return out
    return tree_map(gather, in_tree)


def broadcast_one_to_all(in_tree, is_source=None):
    """The source process's value of each leaf, on every process (the source is process 0
    unless ``is_source`` is true on exactly one process)."""
    s = processes.state
    if not processes.multi_process():
        return tree_map(lambda leaf: _host(leaf, "broadcast_one_to_all"), in_tree)
    me = s.index == 0 if is_source is None else bool(is_source)
    sources = [r for r, flag in enumerate(s.comm.allgather(me)) if flag]
    if len(sources) != 1:
        raise ValueError(f"broadcast_one_to_all: is_source must be true on exactly one process, "
                         f"it is on processes {sources}")

    def bcast(leaf):
        x = np.array(_host(leaf, "broadcast_one_to_all"))  # a copy: received into
        processes.check_same("broadcast_one_to_all", (x.shape, x.dtype.str))
        s.comm.Bcast(x.reshape(-1).view(np.uint8), root=sources[0])
        return x
    return tree_map(bcast, in_tree)


def sync_global_devices(name):
    """Waits until every process reaches this point; ``name`` must agree (a check that the
    processes are at the same place of the program)."""
    if not isinstance(name, str):
        raise TypeError(f"sync_global_devices: name must be a str, got {type(name).__name__}")
    processes.check_same(f"sync_global_devices({name!r})", name)
    if processes.multi_process():
        processes.state.comm.Barrier()


def _byte():
    from mpi4py import MPI
    return MPI.BYTE
