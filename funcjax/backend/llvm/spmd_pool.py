"""A persistent pool of native worker threads that run pmap's devices 1..N-1.

Starting N-1 pthreads per call costs tens of microseconds per device (hundreds when the
machine is busy) and is the floor under every small collective. The pool's workers are
created once (when the first parallel pmap runs) and park on a condition variable; a run
publishes ``(fn, jobs, stride, active)``, bumps a generation counter and wakes exactly
the ``active`` workers it needs (each parks on its own condition variable, so a 2-device
run on a 4-device pool does not wake and reschedule idle threads). Worker k
calls ``fn(jobs + (k + 1) * stride)`` if ``k < active`` (device k + 1), the caller runs device
0 itself, then waits on a second condition variable until the ``pending`` count of active
workers reaches zero. Workers read the published fields under the mutex, and a run returns
only when every active worker has finished, so one generation can never be mistaken for
another. Parked workers block in the OS (no spinning: 4 devices on 2 cores are fine).

One run at a time uses the pool (``Pool.lock``; ``spmd_program`` tries it without blocking
and falls back to ``pthread_create`` when it is taken, e.g. a pmap called from a host callback
inside another pmap). After ``fork`` the child gets a new pool: threads do not survive it.

The pool is shared with the parallel loops of compiled code (``parallel_loops``), which enter
from native code through ``try_run``: it claims the pool's ``busy`` word under the mutex or
returns 0 at once when another run holds it (the loop then runs serially on its caller), so a
loop inside a pmap device program, on a worker, or inside a host callback never waits for the
pool. ``run`` (pmap, which holds ``Pool.lock``) waits for a loop's run to finish instead: a
loop's chunks never block, so that wait is short.
"""

import ctypes
import functools
import os
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.loops import for_range
from funcjax.backend.llvm.spmd_runtime import POOL_RUN as RUN
from funcjax.backend.llvm.spmd_runtime import _declare, _field, declare_pthreads

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()

# Layout of the pool block (bytes); pthread objects get 128 bytes each
MUTEX, DONE, GEN, PENDING, FN, JOBS, STRIDE, ACTIVE = 0, 128, 256, 264, 272, 280, 288, 296
BUSY = 304     # 1 while a run (pmap's or a parallel loop's) owns the workers
CLOSED = 312   # set by a loop's caller once every block is taken: late workers skip the run
RUNNING = 320  # workers inside a loop's job
SPIN_NS = 50_000  # a loop's caller spins this long at most for a worker to end its block
TRY_RUN = "funcjax_pool_try_run"
RECORDS = 384  # then per worker: {ptr pool, i64 index} and its condition variable at WAKE
RECORD_BYTES, WAKE = 256, 128


def _pool_ir():
    m = ir.Module(name="funcjax_spmd_pool")
    lock, unlock, wait, broadcast, signal, mutex_init, cond_init, create = declare_pthreads(
        m, "mutex_lock", "mutex_unlock", "cond_wait", "cond_broadcast", "cond_signal",
        "mutex_init", "cond_init", "create")
    null = ir.Constant(PTR, None)
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    job_fn = ir.FunctionType(PTR, [PTR])

    def record_of(b, pool, k):
        offset = b.add(ir.Constant(I64, RECORDS), b.mul(k, ir.Constant(I64, RECORD_BYTES)))
        return b.gep(pool, [offset], source_etype=ir.IntType(8))

    def load(b, pool, offset, typ=I64):
        return b.load(_field(b, pool, offset), typ=typ)

    def store(b, pool, offset, value):
        b.store(value, _field(b, pool, offset))

    def wait_while(b, cond, mutex, still):
        """``while still(): pthread_cond_wait`` (the mutex is held)."""
        fn = b.function
        head, body, after = (fn.append_basic_block(n) for n in ("head", "body", "after"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(still(), body, after)
        b.position_at_end(body)
        b.call(wait, [cond, mutex])
        b.branch(head)
        b.position_at_end(after)

    # ptr worker(ptr record): forever: wait for a new generation, run its job if active
    worker = _declare(m, "funcjax_spmd_pool_worker", PTR, [PTR])
    b = ir.IRBuilder(worker.append_basic_block("entry"))
    record = worker.args[0]
    pool = b.load(record, typ=PTR)
    k = b.load(b.gep(record, [ir.Constant(I64, 8)], source_etype=ir.IntType(8)), typ=I64)
    seen = b.alloca(I64)
    b.store(zero, seen)
    loop = worker.append_basic_block("loop")
    b.branch(loop)
    b.position_at_end(loop)
    b.call(lock, [_field(b, pool, MUTEX)])
    wait_while(b, _field(b, record, WAKE), _field(b, pool, MUTEX),
               lambda: b.icmp_signed("==", load(b, pool, GEN), b.load(seen, typ=I64)))
    b.store(load(b, pool, GEN), seen)
    fn, jobs = load(b, pool, FN, PTR), load(b, pool, JOBS, PTR)
    stride, active = load(b, pool, STRIDE), load(b, pool, ACTIVE)
    go = b.and_(b.icmp_signed("<", k, active),
                b.icmp_signed("==", load(b, pool, CLOSED), zero))
    with b.if_then(go):  # RUNNING: atomic, as a loop's caller reads it without the mutex
        b.atomic_rmw("add", _field(b, pool, RUNNING), one, "monotonic")
    b.call(unlock, [_field(b, pool, MUTEX)])
    with b.if_then(go):
        job = b.gep(jobs, [b.mul(b.add(k, one), stride)], source_etype=ir.IntType(8))
        _call_ptr(b, fn, job_fn, [job])
        b.call(lock, [_field(b, pool, MUTEX)])
        left = b.sub(load(b, pool, PENDING), one)
        running = b.sub(b.atomic_rmw("sub", _field(b, pool, RUNNING), one, "monotonic"), one)
        store(b, pool, PENDING, left)
        last_of_closed = b.and_(b.icmp_signed("!=", load(b, pool, CLOSED), zero),
                                b.icmp_signed("==", running, zero))
        with b.if_then(b.or_(b.icmp_signed("==", left, zero), last_of_closed)):
            b.call(broadcast, [_field(b, pool, DONE)])
        b.call(unlock, [_field(b, pool, MUTEX)])
    b.branch(loop)

    clock = _declare(m, "clock_gettime", I32, [I32, PTR])

    def now(b, timespec):  # CLOCK_MONOTONIC, in ns
        b.call(clock, [ir.Constant(I32, 1), timespec])
        sec, nsec = (b.load(b.gep(timespec, [ir.Constant(I64, k)], source_etype=I64), typ=I64)
                     for k in (0, 1))
        return b.add(b.mul(sec, ir.Constant(I64, 10**9)), nsec)

    def spin_while_running(b, pool):
        """Spins (the mutex released) while a worker is inside a loop's job, for at most
        ``SPIN_NS``: it finishes its block soon, and sleeping on the condition variable then
        costs the caller a wake-up (several microseconds on this VM, far more when the
        core went idle)."""
        fn = b.function
        timespec = b.alloca(ir.ArrayType(I64, 2))
        start = now(b, timespec)
        head, body, after = (fn.append_basic_block(n) for n in ("spin", "spin.body", "spun"))
        b.branch(head)
        b.position_at_end(head)
        running = b.load_atomic(_field(b, pool, RUNNING), "monotonic", 8, typ=I64)
        b.cbranch(b.icmp_signed("!=", running, zero), body, after)
        b.position_at_end(body)
        late = b.icmp_signed(">", b.sub(now(b, timespec), start), ir.Constant(I64, SPIN_NS))
        b.cbranch(late, after, head)
        b.position_at_end(after)

    def emit_run(b, pool, fn, jobs, stride, n, closable):
        """Devices (chunks) 1..n-1 on workers, 0 here; the mutex is held and ``busy`` is 0.
        ``closable`` (a loop's run, whose workers' jobs are optional): once the caller's own
        job returns (every block taken), workers that have not started yet skip the run, and
        only those inside the job are waited for: on a loaded machine a worker that is not
        scheduled in time costs nothing."""
        store(b, pool, BUSY, one)
        store(b, pool, CLOSED, zero)
        active = b.sub(n, one)
        store(b, pool, FN, fn)
        store(b, pool, JOBS, jobs)
        store(b, pool, STRIDE, stride)
        store(b, pool, ACTIVE, active)
        store(b, pool, PENDING, active)
        store(b, pool, GEN, b.add(load(b, pool, GEN), one))
        with for_range(b, active) as k:  # wake exactly the workers that have a device
            b.call(signal, [_field(b, record_of(b, pool, k), WAKE)])
        b.call(unlock, [_field(b, pool, MUTEX)])
        _call_ptr(b, fn, job_fn, [jobs])
        b.call(lock, [_field(b, pool, MUTEX)])
        if closable:
            store(b, pool, CLOSED, one)
            b.call(unlock, [_field(b, pool, MUTEX)])
            spin_while_running(b, pool)
            b.call(lock, [_field(b, pool, MUTEX)])
        wait_while(b, _field(b, pool, DONE), _field(b, pool, MUTEX),
                   lambda: b.icmp_signed("!=", load(b, pool, RUNNING if closable else PENDING),
                                         zero))
        store(b, pool, BUSY, zero)
        b.call(broadcast, [_field(b, pool, DONE)])  # a ``run`` may be waiting for ``busy``
        b.call(unlock, [_field(b, pool, MUTEX)])

    # void run(pool, fn, jobs, stride, n): devices 1..n-1 on workers, device 0 here
    run = _declare(m, RUN, ir.VoidType(), [PTR, PTR, PTR, I64, I64])
    b = ir.IRBuilder(run.append_basic_block("entry"))
    pool = run.args[0]
    b.call(lock, [_field(b, pool, MUTEX)])
    wait_while(b, _field(b, pool, DONE), _field(b, pool, MUTEX),
               lambda: b.icmp_signed("!=", load(b, pool, BUSY), zero))
    emit_run(b, *run.args, closable=False)
    b.ret_void()

    # i64 try_run(pool, fn, jobs, stride, n): a closable run, or 0 at once if the pool is busy
    try_run = _declare(m, TRY_RUN, I64, [PTR, PTR, PTR, I64, I64])
    b = ir.IRBuilder(try_run.append_basic_block("entry"))
    pool = try_run.args[0]
    b.call(lock, [_field(b, pool, MUTEX)])
    with b.if_then(b.icmp_signed("!=", load(b, pool, BUSY), zero)):
        b.call(unlock, [_field(b, pool, MUTEX)])
        b.ret(zero)
    emit_run(b, *try_run.args, closable=True)
    b.ret(one)

    # i64 start(pool, workers, tids): initialises the block, starts the workers; returns
    # how many started
    start = _declare(m, "funcjax_spmd_pool_start", I64, [PTR, I64, PTR])
    pool, workers, tids = start.args
    b = ir.IRBuilder(start.append_basic_block("entry"))
    b.call(mutex_init, [_field(b, pool, MUTEX), null])
    b.call(cond_init, [_field(b, pool, DONE), null])
    for off in (GEN, PENDING, STRIDE, ACTIVE, BUSY, CLOSED, RUNNING):
        store(b, pool, off, zero)
    started = b.alloca(I64)
    b.store(zero, started)
    with for_range(b, workers) as w:
        rec = record_of(b, pool, w)
        b.call(cond_init, [_field(b, rec, WAKE), null])
        b.store(pool, rec)
        b.store(w, b.gep(rec, [ir.Constant(I64, 8)], source_etype=ir.IntType(8)))
        tid = b.gep(tids, [w], source_etype=I64)
        rc = b.call(create, [tid, null, worker, rec])
        with b.if_then(b.icmp_signed("==", rc, ir.Constant(I32, 0))):
            b.store(b.add(b.load(started, typ=I64), one), started)
    b.ret(b.load(started, typ=I64))
    return str(m)


class _Callee:
    """A function pointer value with the type llvmlite's ``call`` needs (opaque pointers do
    not carry one)."""

    def __init__(self, value, function_type):
        self._value, self.function_type = value, function_type

    def __getattr__(self, name):
        return getattr(self._value, name)


def _call_ptr(b, fn, fn_type, args):
    """A call through the function pointer ``fn`` of type ``fn_type``."""
    return b.call(_Callee(fn, fn_type), args)


def bind():
    """Compiles the pool's code once and binds ``run`` for the programs that call it."""
    _engine()


@functools.cache
def _engine():
    engine = compiler.compile_ir(_pool_ir(), cold=True)  # glue: O1, fast instruction selection
    with compiler.LOCK:
        for name in (RUN, TRY_RUN):
            llvm.add_symbol(name, engine.address(name))
    start = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)(
        engine.address("funcjax_spmd_pool_start"))
    return engine, start


class Pool:
    """``workers`` parked native threads (see the module docstring)."""

    def __init__(self, workers):
        self.workers, self.pid = workers, os.getpid()
        self.lock = threading.Lock()
        self._memory = np.zeros(RECORDS + (RECORD_BYTES + 8) * workers + 64, np.uint8)
        _every_pool.append(self)  # its threads use this memory for as long as they live
        addr = self._memory.ctypes.data
        self.address = addr + (-addr % 64)
        started = _engine()[1](self.address, workers,
                               self.address + RECORDS + RECORD_BYTES * workers)
        if started != workers:
            raise RuntimeError(f"pmap: could only start {started} of the {workers} device "
                               "threads (pthread_create failed); the system is out of threads")


enabled = True  # benchmarks switch it off to compare with a pthread_create per call
_every_pool = []  # never freed: parked workers (of a replaced pool too) wait in its memory
on_new_pool = []  # called with each new pool (parallel_loops points its loops at it)
_pools = {}
_pools_lock = threading.Lock()


def pool(workers):
    """The process's pool with at least ``workers`` threads (created once, or after fork;
    pools are never stopped: parked threads cost nothing and die with the process)."""
    with _pools_lock:
        current = _pools.get("pool")
        if current is None or current.pid != os.getpid() or current.workers < workers:
            current = _pools["pool"] = Pool(workers)  # an older, smaller pool stays parked
            for listener in on_new_pool:
                listener(current)
        return current
