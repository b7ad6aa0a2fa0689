"""Which process this is in a multi-process run, and the MPI communicator between them.

Collective steps between processes run under a ``deadline``: a process that waits longer
than ``state.timeout`` seconds for its peers (one of them is stuck, or has stopped without
ending the run) reports it and ends every process (``MPI.Abort``) instead of hanging.

One process (``count == 1``, no communicator) until ``funcjax.distributed.initialize``
fills this in; everything below the API reads it from here, so layers keep pointing down.
"""


import contextlib
import os
import sys
import threading


class _State:
    comm = None          # an mpi4py communicator once initialized
    index = 0            # this process's rank
    count = 1            # number of processes
    local_counts = (1,)  # devices per process, by rank (set at initialize)
    timeout = None       # seconds a process may wait for its peers (None: forever)


state = _State()


def multi_process():
    return state.comm is not None and state.count > 1


def check_same(what, value):
    """Raises on every process (never deadlocks) unless all processes pass an equal
    ``value``: detects programs that differ between ranks before they meet in a collective."""
    if not multi_process():
        return
    values = state.comm.allgather(value)
    differing = [r for r, v in enumerate(values) if v != values[0]]
    if differing:
        raise RuntimeError(
            f"{what}: the processes run different programs (process {differing[0]} has "
            f"{values[differing[0]]!r}, process 0 has {values[0]!r}). Every process must call "
            "the same pmaps, in the same order, with arguments of the same shapes and dtypes.")


@contextlib.contextmanager
def deadline(what):
    """Within this block, waiting more than ``state.timeout`` seconds ends every process."""
    if not multi_process() or state.timeout is None:
        yield
        return
    timer = threading.Timer(state.timeout, _expired, (what,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _expired(what):
    sys.stderr.write(f"funcjax.distributed: process {state.index} of {state.count} waited more "
                     f"than {state.timeout} s in {what} for the other processes (one is stuck "
                     "or runs a different program); ending all processes. Raise the limit "
                     "with funcjax.distributed.initialize(timeout=...).\n")
    sys.stderr.flush()
    try:
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(1)
    finally:
        os._exit(1)
