"""Which process this is in a multi-process run, and the MPI communicator between them.

Collective steps between processes run under a ``deadline``: a process that waits longer
than ``state.timeout`` seconds for its peers (one of them is stuck, or has stopped without
ending the run) reports it and ends every process (``MPI.Abort``) instead of hanging. A step
starts with ``check_same`` (every process runs the same program) and ends with
``exchange_status``: if it failed on one process, that one raises its error and every other
one a ``ProcessFailedError`` naming it.

One process (``count == 1``, no communicator) until ``funcjax.distributed.initialize``
fills this in; everything below the API reads it from here, so layers keep pointing down.
"""


import contextlib
import os
import sys
import threading
import time
import zlib

import numpy as np


class _State:
    comm = None          # an mpi4py communicator once initialized
    index = 0            # this process's rank
    count = 1            # number of processes
    local_counts = (1,)  # devices per process, by rank (set at initialize)
    timeout = None       # seconds a process may wait for its peers (None: forever)


state = _State()


def multi_process():
    return state.comm is not None and state.count > 1


class ProcessFailedError(RuntimeError):
    """Raised on every other process when one process fails inside a multi-process step (its
    own error is raised there); ``process`` is the failed process's rank. The step's results
    are discarded on every process; the run can go on."""

    def __init__(self, message, process):
        super().__init__(message)
        self.process = process


def digest(value):
    """A 32-bit digest of ``value``'s repr, for ``check_same``."""
    return zlib.crc32(repr(value).encode())


def check_same(what, value, known_digest=None):
    """Raises on every process (never deadlocks) unless all processes pass an equal
    ``value``: detects programs that differ between ranks before they meet in a collective.
    One small ``Allreduce`` of a hash (its maximum and minus its minimum); only when they
    differ are the values themselves gathered, for the message."""
    if not multi_process():
        return
    h = digest(value) if known_digest is None else known_digest
    extremes = np.array([h, -h], np.int64)
    state.comm.Allreduce(_mpi().IN_PLACE, extremes, _mpi().MAX)
    if extremes[0] == -extremes[1]:
        return
    values = state.comm.allgather(value)
    differing = [r for r, v in enumerate(values) if v != values[0]]
    if differing:
        raise RuntimeError(
            f"{what}: the processes run different programs (process {differing[0]} has "
            f"{values[differing[0]]!r}, process 0 has {values[0]!r}). Every process must call "
            "the same pmaps, in the same order, with arguments of the same shapes and dtypes.")


def exchange_status(what, error):
    """Every process says whether ``what`` failed on it (``error``, or None); returns the
    failed ones as ``[(rank, "Type: message")]`` on every process. The common case (no
    failure) is one ``Allreduce`` of one integer."""
    if not multi_process():
        return []
    flag = np.array([error is not None], np.int64)
    state.comm.Allreduce(_mpi().IN_PLACE, flag, _mpi().MAX)
    if not flag[0]:
        return []
    texts = state.comm.allgather(None if error is None else
                                 f"{type(error).__name__}: {error}")
    return [(r, t) for r, t in enumerate(texts) if t is not None]


def raise_if_failed(what, error, failed):
    """After ``exchange_status``: this process's own ``error`` if it has one, else a
    ``ProcessFailedError`` naming the first failed process."""
    if error is not None:
        raise error
    if failed:
        rank, text = failed[0]
        others = f" (and processes {[r for r, _ in failed[1:]]})" if failed[1:] else ""
        raise ProcessFailedError(
            f"{what}: process {rank} of {state.count} failed{others}: {text.rstrip('.')}. "
            "This process's results of the step are discarded; every process raises, so the "
            "run can go on (or end) together.", rank)


def _mpi():
    from mpi4py import MPI
    return MPI


@contextlib.contextmanager
def deadline(what):
    """Within this block, waiting more than ``state.timeout`` seconds ends every process."""
    if not multi_process() or state.timeout is None:
        yield
        return
    previous = _watchdog.arm(time.monotonic() + state.timeout, what)
    try:
        yield
    finally:
        _watchdog.disarm(previous)


class _Watchdog:
    """One daemon thread watches every deadline, so arming one costs a lock, not a thread
    (a ``threading.Timer`` per pmap call measured ~115 us)."""

    def __init__(self):
        self.cv = threading.Condition()
        self.until = None  # (monotonic time, what) of the innermost armed deadline
        self.idle = False  # the thread waits with no deadline: arming must wake it
        self.thread = None

    def arm(self, when, what):
        with self.cv:
            previous, self.until = self.until, (when, what)
            if self.thread is None:
                self.thread = threading.Thread(target=self._watch, daemon=True,
                                               name="funcjax-distributed-deadline")
                self.thread.start()
            elif self.idle:
                self.cv.notify()
        return previous

    def disarm(self, previous):
        with self.cv:
            self.until = previous

    def _watch(self):
        with self.cv:
            while True:
                self.idle = self.until is None
                if self.idle:
                    self.cv.wait()
                    continue
                when, what = self.until
                left = when - time.monotonic()
                if left <= 0:
                    _expired(what)
                self.cv.wait(left)


_watchdog = _Watchdog()


def _expired(what):
    end_all(f"waited more than {state.timeout} s in {what} for the other processes (one is "
            "stuck or runs a different program); ending all processes. Raise the limit with "
            "funcjax.distributed.initialize(timeout=...).")


def end_all(text):
    """Prints ``text`` naming this process, then ends every process (``MPI.Abort``)."""
    sys.stderr.write(f"funcjax.distributed: process {state.index} of {state.count} {text}\n")
    sys.stderr.flush()
    # mpiexec forwards output through a proxy that the abort tears down: once in a CI run the
    # message was lost. Give the proxy a moment to pass it on first.
    time.sleep(0.5)
    try:
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(1)
    finally:
        os._exit(1)
