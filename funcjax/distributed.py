"""``funcjax.distributed``: one program over several processes (and hosts), through MPI.

Run ``mpiexec -n P python train.py`` and call ``initialize()`` first thing: the rank and the
number of processes come from MPI (``mpi4py``; ``pip install funcjax[distributed]`` brings it
and an MPI). Then ``devices()`` lists every process's devices, ``local_devices()`` this
process's, and ``pmap`` collectives span all of them: each process passes arrays whose mapped
axis is its local device count (see ``backend/llvm/spmd_cross.py`` for the exchange).
Each process gets back its own devices' shards, shape ``(local devices, ...)``, fully
addressable: what JAX's multi-process pmap returns (it converts its global results back
with ``global_array_to_host_local_array``). ``multihost_utils.process_allgather`` assembles
the whole. pmap under ``grad``, ``jvp``, ``vmap`` and ``jit`` gives what one process holding
every device gives: the cotangent of an unmapped input is summed over every process's
devices (a psum inside the transposed pmap), so every process gets the global gradient.

An exception that escapes the program on one process ends every process (``MPI.Abort``) after
printing it with the rank, so no process waits forever for a peer that has died. An exception
inside a multi-process pmap on one process (a host callback, a failing device, the exchange
itself) is raised there at the end of the call, and every other process raises
``ProcessFailedError`` naming it at the same point: the failed process keeps taking part in
the call's exchanges (with stand-in buffers) and a status exchange ends each call.
"""

import os
import sys
import traceback

from funcjax import devices as _devices
from funcjax.core import processes
from funcjax.core.processes import ProcessFailedError

__all__ = ["initialize", "shutdown", "is_initialized", "ProcessFailedError"]

_previous_hook = None


def initialize(coordinator_address=None, num_processes=None, process_id=None,
               local_device_ids=None, *, timeout=None, **kwargs):
    """Joins the processes started by ``mpiexec``. JAX's arguments are accepted:
    ``coordinator_address`` is not needed (MPI connects the processes); ``num_processes`` and
    ``process_id``, when given, must match MPI's; ``local_device_ids`` picks how many devices
    this process has (default: ``FUNCJAX_NUM_CPU_DEVICES`` or the core count). ``timeout``:
    seconds a multi-process pmap may wait for the other processes before every process is
    ended with an error (default ``FUNCJAX_DISTRIBUTED_TIMEOUT``, else no limit)."""
    if timeout is None and os.environ.get("FUNCJAX_DISTRIBUTED_TIMEOUT"):
        timeout = float(os.environ["FUNCJAX_DISTRIBUTED_TIMEOUT"])
    if timeout is not None and not timeout > 0:
        raise ValueError(f"funcjax.distributed.initialize: timeout must be a positive number "
                         f"of seconds, got {timeout!r}")
    global _previous_hook
    if processes.state.comm is not None:
        raise RuntimeError("funcjax.distributed.initialize: already initialized; call "
                           "funcjax.distributed.shutdown() first")
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("funcjax.distributed.initialize needs mpi4py and an MPI: "
                           "pip install 'funcjax[distributed]' (mpi4py + mpich), then run "
                           "the program with mpiexec -n <processes>") from e
    world = MPI.COMM_WORLD
    for name, given, actual in (("num_processes", num_processes, world.size),
                                ("process_id", process_id, world.rank)):
        if given is not None and given != actual:
            raise ValueError(f"funcjax.distributed.initialize: {name}={given} but MPI says "
                             f"{actual}; leave it out (mpiexec decides) or make them agree")
    count = len(local_device_ids) if local_device_ids is not None else \
        _devices._requested_count()
    if count < 1:
        raise ValueError("funcjax.distributed.initialize: local_device_ids must not be empty")
    comm = world.Dup()  # funcjax's traffic never mixes with the user's own MPI messages
    counts = tuple(comm.allgather(count))
    _devices.set_local_devices(sum(counts[:world.rank]), world.rank, count)
    s = processes.state
    s.comm, s.index, s.count, s.local_counts = comm, world.rank, world.size, counts
    s.timeout = timeout
    _previous_hook, sys.excepthook = sys.excepthook, _abort_all


def shutdown():
    """Leaves the multi-process run: waits for every process, then this process is alone
    again (its devices keep their global ids)."""
    global _previous_hook
    s = processes.state
    if s.comm is None:
        return
    s.comm.Barrier()
    s.comm.Free()
    s.comm, s.count, s.local_counts = None, 1, (len(_devices.local_devices()),)
    if _previous_hook is not None:
        sys.excepthook, _previous_hook = _previous_hook, None


def is_initialized():
    return processes.state.comm is not None


def _abort_all(kind, value, tb):
    """An uncaught exception on one process ends them all (no peer waits for it forever)."""
    text = "".join(traceback.format_exception(kind, value, tb))
    processes.end_all(f"failed; ending all processes.\n{text}")
