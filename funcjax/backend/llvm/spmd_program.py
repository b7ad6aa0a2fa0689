"""pmap's compiled programs: one per-device program for all devices, run by the native launcher.

The per-device jaxpr is lowered once with ``spmd_axis`` (collectives become exchanges through
the runtime, see ``spmd_runtime``) and the module gets a launcher that runs it on N devices.
A call hands the launcher one table of buffer pointers per device: device d's slice of each
mapped input (an address inside the caller's array, no copy), the shared buffer of each
unmapped input, device d's slice of each output (outputs are allocated whole, shape
``(N, ...)``, so the result is already one array whose shards are views), its own workspace
and its ``{index, comm}`` record. The launcher runs in one ctypes call, without the GIL.
"""

import contextlib
import ctypes
import sys
import threading
import zlib

import numpy as np

from funcjax.backend.llvm import (
    blas,
    compiler,
    cost,
    donation,
    host_calls,
    spmd_control,
    spmd_cross,
    spmd_group,
    spmd_pool,
    spmd_runtime,
)
from funcjax.backend.llvm.lowering import lower_closed_jaxpr, packed_symbol
from funcjax.backend.llvm.program import symbol_name
from funcjax.core.ir import jaxprs_in
from funcjax.ops import collectives
from funcjax.ops.callbacks import callback_p

_COLLECTIVES = {collectives.psum_p, collectives.pmax_p, collectives.pmin_p,
                spmd_group.reduce_group_p,
                collectives.all_gather_p, collectives.psum_scatter_p, collectives.all_to_all_p,
                collectives.ppermute_p}
_PARALLEL_MIN_FLOPS = 1 << 16
_REUSE_MIN_BYTES = 1 << 20  # smaller collective-free programs run the devices in turn
_fault = threading.local()
_CALLBACK_RUNS = threading.Lock()


@contextlib.contextmanager
def inject_failure(device):
    """For tests: within this block, device ``device`` fails instead of running (it aborts the
    comm as a failing device does), on pmaps called from this thread."""
    _fault.device = device
    try:
        yield
    finally:
        _fault.device = -1


def _uses(jaxpr, primitives):
    return any(eqn.primitive in primitives or any(_uses(j, primitives) for j in
                                                  jaxprs_in(eqn.params))
               for eqn in jaxpr.eqns)


def _communicates(jaxpr):
    return _uses(jaxpr, _COLLECTIVES)


class DeviceFailureError(RuntimeError):
    pass


@contextlib.contextmanager
def _single_threaded_blas():
    """Devices are the parallelism: while they run in threads, each BLAS call uses one thread
    (OpenBLAS's own pool, shared by concurrent callers, otherwise oversubscribes the cores
    and serialises the devices). Both of funcjax's OpenBLAS instances (``blas``)."""
    if blas.library_path() is None:
        yield
        return
    before = blas.current_threads()
    blas.set_threads(1)
    try:
        yield
    finally:
        blas.set_threads(before)


class SpmdProgram:
    """The compiled per-device program of ``closed`` over ``axis_size`` devices."""

    def __init__(self, closed, name, axis_name, axis_size, across=False, donated=()):
        """``axis_size``: the local devices; ``across``: the axis spans every process's
        devices (a multi-process run, see ``spmd_cross``); ``donated``: indices of mapped
        inputs whose buffers outputs may take (``donation.pair_donations`` pairs them)."""
        closed = spmd_control.make_uniform(closed, axis_name)
        width = 1
        if not across:  # one exchange per group of reductions (spmd_group)
            closed, width = spmd_group.group_reductions(closed)
        self.closed, self.name, self.size = closed, name, axis_size
        symbol = symbol_name(name) + "_spmd"
        self.cross = spmd_cross.CrossStage(axis_size) if across else None
        if across:
            spmd_cross.bind()
        axis = (axis_name, axis_size) + ((self.cross,) if across else ())
        self.aliases = donation.pair_donations(closed, donated)[0] if donated else ()
        module, ctx = lower_closed_jaxpr(closed, symbol, self.aliases, spmd_axis=axis)
        if across:  # what the processes must agree on: types and collectives, in order
            self.signature = (name, str(closed.in_avals), zlib.crc32(repr(
                [(p.name, str(a), str(b)) for p, _, a, b in self.cross.collectives]).encode()))
        entry = module.get_global(packed_symbol(symbol))
        spmd_runtime.emit_launcher(module, entry, symbol + "_launch")
        spmd_runtime.runtime()  # binds the barrier's symbols before the module is linked
        spmd_pool.bind()
        self.ir_text = str(module)
        self.engine = compiler.compile_ir(self.ir_text)
        self._launch = ctypes.CFUNCTYPE(
            ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
            ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p)(
            self.engine.address(symbol + "_launch"))
        self.has_callbacks = _uses(closed.jaxpr, {callback_p})
        self.parallel = int(_communicates(closed.jaxpr) or
                            cost.cost_of(closed)["flops"] >= _PARALLEL_MIN_FLOPS)
        n = axis_size
        self.in_avals, self.out_avals = closed.in_avals, closed.out_avals
        nin, nout = len(self.in_avals), len(self.out_avals)
        self.per_device = nin + nout + 2
        self.comm = spmd_runtime.Comm(n, width)
        if across:
            self.cross.attach(self.comm.address)
        align = 64
        ws_bytes = -(-max(ctx.arena.size, 1) // align) * align
        job_bytes = spmd_runtime.JOB_BYTES
        self._memory = np.zeros(n * ws_bytes + align + n * (16 + job_bytes + 8), np.uint8)
        base = self._memory.ctypes.data
        base += -base % align
        records = base + n * ws_bytes
        self._jobs = records + 16 * n
        self._tids = self._jobs + job_bytes * n
        self._job_records = np.frombuffer(self._memory, np.int64, 7 * n,
                                          self._jobs - self._memory.ctypes.data).reshape(n, 7)
        devctx = np.frombuffer(self._memory, np.uint64, 2 * n,
                               records - self._memory.ctypes.data).reshape(n, 2)
        devctx[:, 0] = np.arange(n)
        devctx[:, 1] = self.comm.address
        self._template = np.zeros((n, self.per_device), np.uint64)
        self._template[:, nin + nout] = base + np.arange(n, dtype=np.uint64) * ws_bytes
        self._template[:, nin + nout + 1] = records + 16 * np.arange(n, dtype=np.uint64)
        self._steps = [np.arange(n, dtype=np.uint64) * np.uint64(a.nbytes)
                       for a in self.out_avals]
        self._recent = {}  # output index -> its last large result buffers (see _output)
        self._reuse = [a.nbytes * n >= _REUSE_MIN_BYTES for a in self.out_avals]
        self._in_steps = {}  # mapped flags -> (n, inputs) byte offsets of each device's slice
        self._lock = threading.Lock()

    def run(self, inputs, mapped, args=None):
        """``inputs``: C-contiguous numpy arrays, of shape ``(N, *aval.shape)`` where
        ``mapped[i]`` else ``aval.shape``. Returns the outputs, each of shape ``(N, ...)``.
        ``args``: the objects ``inputs`` came from; donated Arrays among them are deleted
        and outputs paired with them (``self.aliases``) take their buffers."""
        if self.aliases:
            donation.take_donated(self.name, args, inputs, self.aliases)
            for _, i in self.aliases:  # a view, so the result can be donated again
                inputs[i] = inputs[i][...]
        if self.cross is None:
            return self._run(inputs, mapped)
        return self.cross.call(f"pmap({self.name})", self.signature, self._run, inputs, mapped)

    def _run(self, inputs, mapped):
        n = self.size
        table = self._template.copy()
        steps = self._in_steps.get(tuple(mapped))
        if steps is None:
            steps = self._in_steps[tuple(mapped)] = np.stack(
                [np.arange(n, dtype=np.uint64) * np.uint64(a.nbytes if m else 0)
                 for a, m in zip(self.in_avals, mapped)], 1) if mapped else None
        nin = len(inputs)
        if nin:
            table[:, :nin] = steps + np.array([x.ctypes.data for x in inputs], np.uint64)
        with self._lock:  # also guards the reuse of output buffers
            aliased = dict(self.aliases)
            outs = [inputs[aliased[k]] if k in aliased else self._output(k, a)
                    for k, a in enumerate(self.out_avals)]
            for k, (o, step) in enumerate(zip(outs, self._steps)):
                table[:, nin + k] = o.ctypes.data + step
            if self.has_callbacks:
                errors, failed = self._launch_collecting_callback_errors(table)
            else:
                errors, failed = (), self._launch_parallel_or_not(table)
            if failed or (self.cross is not None and self.cross.error is not None):
                self.comm.reset()
        del inputs, table  # held until here: the native code has finished with them
        if self.cross is not None and self.cross.error is not None:
            error, self.cross.error = self.cross.error, None
            raise error
        if errors:
            raise errors[0]  # a host callback raised on some device; the others finished
        if failed:
            raise DeviceFailureError(
                f"pmap({self.name}): {failed} of the {n} devices failed, and the others were "
                "released; no result was produced. The program stays usable.")
        return outs

    def _output(self, k, aval):
        """A buffer for output ``k``: a large one whose earlier result nobody references any
        more is reused (a fresh one page-faults on every call: ~5 ms per 40 MB)."""
        shape = (self.size,) + aval.shape
        if not self._reuse[k]:
            return np.empty(shape, aval.dtype)
        recent = self._recent.setdefault(k, [])
        for i in range(len(recent)):
            # references: the list and getrefcount's argument (no loop variable, no
            # enumerate: its cached result tuple would hold one more)
            if sys.getrefcount(recent[i]) == 2:
                recent.append(recent.pop(i))
                return recent[-1]
        buf = np.empty(shape, aval.dtype)
        recent.append(buf)
        del recent[:-2]
        return buf

    def _launch_parallel_or_not(self, table):
        if self.parallel:
            with _single_threaded_blas():
                return self._launch_table(table)
        return self._launch_table(table)

    def _launch_collecting_callback_errors(self, table):
        """Runs a program with host callbacks; returns the exceptions they raised (on any
        device) and the number of failed devices. A device whose callback failed still takes
        part in every collective, so the others finish; one run at a time collects, so
        errors are never attributed to another program's run."""
        with _CALLBACK_RUNS:
            host_calls.device_errors = errors = []
            try:
                failed = self._launch_parallel_or_not(table)
            finally:
                host_calls.device_errors = None
                host_calls.clear_pending()  # device 0 ran on this thread
        return errors, failed

    def _launch_table(self, table):
        pool = spmd_pool.pool(self.size - 1) if (self.parallel and self.size > 1
                                                  and spmd_pool.enabled) else None
        if pool is not None and not pool.lock.acquire(blocking=False):
            pool = None  # in use (a pmap inside a host callback of another): start threads
        try:
            return self._launch(table.ctypes.data, self.per_device, self.size, self.parallel,
                                self.comm.address, getattr(_fault, "device", -1), self._jobs,
                                self._tids, pool and pool.address)
        finally:
            if pool is not None:
                pool.lock.release()

    def last_run_times(self):
        """``(start, end)`` of each device's last run in nanoseconds (CLOCK_MONOTONIC), as
        written by the device threads themselves."""
        return [(int(s), int(e)) for s, e in self._job_records[:, 3:5]]

    def last_run_cpu_times(self):
        """The CPU time (ns) each device's thread used in the last run (its wall time less
        this is the time it waited)."""
        return [int(e - s) for s, e in self._job_records[:, 5:7]]


_programs = {}  # (id(closed), axis_name, size, across, donated) -> (closed, SpmdProgram)


def spmd_program_for(closed, name, axis_name, axis_size, across=False, donated=()):
    """The compiled program of ``closed`` (compiled once; keyed by identity)."""
    key = (id(closed), axis_name, axis_size, across, donated)
    with compiler.LOCK:
        entry = _programs.get(key)
        if entry is None or entry[0] is not closed:
            entry = _programs[key] = (closed, SpmdProgram(closed, name, axis_name, axis_size,
                                                          across, donated))
            if len(_programs) > 256:
                del _programs[next(iter(_programs))]
        return entry[1]
