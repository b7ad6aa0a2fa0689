"""The collective runtime of pmap: devices as OS threads that meet at a barrier in native code.

Design (measured in ``benchmarks/bench_pmap.py``):

- The per-device jaxpr is compiled once into an ordinary entry function with one extra
  argument, a pointer to ``{i64 device index, ptr comm}``. Collectives lower to inline IR
  (``lower_collectives.py``) around calls to ``funcjax_spmd_barrier(comm)``.
- A *comm* is one block of memory per program: a pthread mutex and condition variable, the
  barrier's arrival count and generation, an ``aborted`` flag, and one slot per device where
  a device publishes the addresses of its collective operand and result. A collective is:
  publish, barrier, read the peers' buffers straight from their memory (no copies through a
  staging area), barrier again (so no device reuses or overwrites memory a peer still reads).
- Waiting devices block in ``pthread_cond_wait`` (the OS deschedules them), so four devices on
  two cores make progress and nothing spins. The barrier is generational, so it is reusable
  without re-initialisation between collectives and calls.
- ``funcjax_spmd_launch`` runs all devices from one native call (ctypes releases the GIL for
  its duration): it starts devices 1..N-1 with ``pthread_create``, runs device 0 on the calling
  thread and joins the others. Programs without collectives may run the devices one after the
  other on the calling thread instead (``parallel=0``): for tiny programs starting threads
  costs more than the work (pmap's dispatch path).
- Failure: a device that fails (a thread that cannot be started; the ``fail_device`` fault
  injection used by tests) calls ``funcjax_spmd_abort``: the flag is set and every waiter is
  woken; from then on barriers return 1 at once and collectives skip reading peers, so every
  device finishes its program quickly (computing garbage that is discarded) and the launcher
  returns the number of failed devices. The caller raises, and resets the comm (the next call
  works). Nothing can wait forever on a device that has stopped.

Interface for a later cross-process stage: collectives only need ``barrier(comm)`` and the
slot table; a process-level stage can be added as a second barrier/exchange step run by
device 0 of each process between the two local barriers, without changing the lowering of the
local phase.
"""

import ctypes
import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.loops import for_range

I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()

# Layout of a comm block (bytes). pthread objects get 128 bytes each, more than any libc's.
MUTEX, COND, COUNT, GENERATION, ABORTED, SIZE, SLOTS = 0, 128, 256, 264, 272, 280, 320
SLOT_BYTES = 16  # per device: operand address, result address
BARRIER, ABORT = "funcjax_spmd_barrier", "funcjax_spmd_abort"
POOL_RUN = "funcjax_spmd_pool_run"  # see spmd_pool


def _field(b, comm, offset):
    return b.gep(comm, [ir.Constant(I64, offset)], inbounds=True, source_etype=ir.IntType(8))


def _declare(module, name, ret, args):
    return ir.Function(module, ir.FunctionType(ret, args), name)


# The argument types of the pthread functions the native runtimes call (all return int).
_PTHREAD_ARGS = {"mutex_lock": [PTR], "mutex_unlock": [PTR], "cond_wait": [PTR, PTR],
                 "cond_broadcast": [PTR], "cond_signal": [PTR], "mutex_init": [PTR, PTR],
                 "cond_init": [PTR, PTR], "create": [PTR, PTR, PTR, PTR]}


def declare_pthreads(module, *names):
    """Declares ``pthread_<name>`` for each name in ``module``; returns them in order."""
    return [_declare(module, "pthread_" + n, I32, _PTHREAD_ARGS[n]) for n in names]


def _runtime_ir():
    m = ir.Module(name="funcjax_spmd_runtime")
    lock, unlock, wait, broadcast, mutex_init, cond_init = declare_pthreads(
        m, "mutex_lock", "mutex_unlock", "cond_wait", "cond_broadcast", "mutex_init",
        "cond_init")
    null = ir.Constant(PTR, None)

    def load(b, comm, offset):
        return b.load(_field(b, comm, offset), typ=I64)

    def store(b, comm, offset, value):
        b.store(ir.Constant(I64, value) if isinstance(value, int) else value,
                _field(b, comm, offset))

    # void init(comm, n): fresh mutex, condition variable and counters
    init = _declare(m, "funcjax_spmd_init", ir.VoidType(), [PTR, I64])
    b = ir.IRBuilder(init.append_basic_block())
    comm, n = init.args
    b.call(mutex_init, [_field(b, comm, MUTEX), null])
    b.call(cond_init, [_field(b, comm, COND), null])
    for off in (COUNT, GENERATION, ABORTED):
        store(b, comm, off, 0)
    store(b, comm, SIZE, n)
    b.ret_void()

    # i32 barrier(comm): 0 once all devices arrived, 1 if the run was aborted
    barrier = _declare(m, BARRIER, I32, [PTR])
    comm = barrier.args[0]
    entry, leave_aborted, last, wait_loop, check, done = (
        barrier.append_basic_block(n) for n in
        ("entry", "aborted", "last", "wait", "check", "done"))
    b = ir.IRBuilder(entry)
    b.call(lock, [_field(b, comm, MUTEX)])
    gen = load(b, comm, GENERATION)
    arrived = b.add(load(b, comm, COUNT), ir.Constant(I64, 1))
    go_on = b.icmp_signed("==", load(b, comm, ABORTED), ir.Constant(I64, 0))
    not_last = b.icmp_signed("<", arrived, load(b, comm, SIZE))
    b.cbranch(go_on, check, leave_aborted)
    b.position_at_end(check)
    b.cbranch(not_last, wait_loop, last)
    b.position_at_end(last)
    store(b, comm, COUNT, 0)
    store(b, comm, GENERATION, b.add(gen, ir.Constant(I64, 1)))
    b.call(broadcast, [_field(b, comm, COND)])
    b.branch(done)
    b.position_at_end(wait_loop)
    # first visit: count this arrival; later visits (after a wake-up) see the stored count
    first = b.phi(ir.IntType(1))
    first.add_incoming(ir.Constant(ir.IntType(1), 1), check)
    with b.if_then(first):
        store(b, comm, COUNT, arrived)
    b.call(wait, [_field(b, comm, COND), _field(b, comm, MUTEX)])
    aborted_now = b.icmp_signed("!=", load(b, comm, ABORTED), ir.Constant(I64, 0))
    same_gen = b.icmp_signed("==", load(b, comm, GENERATION), gen)
    keep_waiting = b.function.append_basic_block("keep_waiting")
    not_aborted = b.function.append_basic_block("not_aborted")
    b.cbranch(aborted_now, leave_aborted, not_aborted)
    b.position_at_end(not_aborted)
    b.cbranch(same_gen, keep_waiting, done)
    b.position_at_end(keep_waiting)
    b.branch(wait_loop)
    first.add_incoming(ir.Constant(ir.IntType(1), 0), keep_waiting)
    b.position_at_end(done)
    b.call(unlock, [_field(b, comm, MUTEX)])
    b.ret(ir.Constant(I32, 0))
    b.position_at_end(leave_aborted)
    b.call(unlock, [_field(b, comm, MUTEX)])
    b.ret(ir.Constant(I32, 1))

    # void abort(comm): release every waiter now and make later barriers return at once
    abort = _declare(m, ABORT, ir.VoidType(), [PTR])
    b = ir.IRBuilder(abort.append_basic_block())
    comm = abort.args[0]
    b.call(lock, [_field(b, comm, MUTEX)])
    store(b, comm, ABORTED, 1)
    b.call(broadcast, [_field(b, comm, COND)])
    b.call(unlock, [_field(b, comm, MUTEX)])
    b.ret_void()

    return str(m)


# per device: table, comm, fail, and the start/end times (CLOCK_MONOTONIC, ns) of its run,
# written by the device's thread itself (tests read them to observe parallel execution), then
# the thread's CPU time (CLOCK_THREAD_CPUTIME_ID, ns) at both ends: the run's wall time less
# its CPU time is what the device spent waiting (at barriers, or descheduled)
JOB = ir.LiteralStructType([PTR, PTR, I64, I64, I64, I64, I64])
JOB_BYTES = 56


def emit_launcher(module, entry, name):
    """Adds ``i64 name(tables, per_device, n, parallel, comm, fail_device, jobs, tids, pool)``
    to ``module``: runs ``entry`` (``void (ptr table)``) once per device, in threads or in
    turn, and returns how many devices failed. ``jobs``/``tids`` are caller-provided scratch
    of ``n`` * JOB_BYTES and ``n`` * 8 bytes. With a ``pool`` (``spmd_pool``, not null) the
    pool's parked workers run devices 1..N-1; else each call starts and joins threads."""
    create = _declare(module, "pthread_create", I32, [PTR, PTR, PTR, PTR])
    join = _declare(module, "pthread_join", I32, [I64, PTR])
    abort = _declare(module, ABORT, ir.VoidType(), [PTR])
    null = ir.Constant(PTR, None)
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)

    def member(b, job, k):
        return b.gep(job, [ir.Constant(I32, 0), ir.Constant(I32, k)], source_etype=JOB)

    # ptr thread(ptr job): runs one device (or, under fault injection, fails it)
    thread = _declare(module, name + "_thread", PTR, [PTR])
    b = ir.IRBuilder(thread.append_basic_block())
    job = thread.args[0]
    table, comm = b.load(member(b, job, 0), typ=PTR), b.load(member(b, job, 1), typ=PTR)
    fail = b.load(member(b, job, 2), typ=I64)
    clock = _declare(module, "clock_gettime", I32, [I32, PTR])
    timespec = b.alloca(ir.ArrayType(I64, 2))

    def now(which=1):  # CLOCK_MONOTONIC; 3: CLOCK_THREAD_CPUTIME_ID
        b.call(clock, [ir.Constant(I32, which), timespec])
        sec = b.load(b.gep(timespec, [zero, zero], source_etype=ir.ArrayType(I64, 2)), typ=I64)
        nsec = b.load(b.gep(timespec, [zero, one], source_etype=ir.ArrayType(I64, 2)), typ=I64)
        return b.add(b.mul(sec, ir.Constant(I64, 10**9)), nsec)
    b.store(now(), member(b, job, 3))
    b.store(now(3), member(b, job, 5))
    with b.if_else(b.icmp_signed("!=", fail, zero)) as (failing, running):
        with failing:
            b.call(abort, [comm])
        with running:
            b.call(entry, [table])
    b.store(now(3), member(b, job, 6))
    b.store(now(), member(b, job, 4))
    b.ret(b.inttoptr(fail, PTR))

    launch = _declare(module, name, I64, [PTR, I64, I64, I64, PTR, I64, PTR, PTR, PTR])
    tables, per_device, n, parallel, comm, fail_device, jobs, tids, pool = launch.args
    pool_run = _declare(module, POOL_RUN, ir.VoidType(), [PTR, PTR, PTR, I64, I64])
    b = ir.IRBuilder(launch.append_basic_block("entry"))
    failures = b.alloca(I64)
    result = b.alloca(PTR)
    b.store(zero, failures)

    def job_at(d):
        job = b.gep(jobs, [d], inbounds=True, source_etype=JOB)
        b.store(b.gep(tables, [b.mul(d, per_device)], inbounds=True, source_etype=PTR),
                member(b, job, 0))
        b.store(comm, member(b, job, 1))
        b.store(b.zext(b.icmp_signed("==", d, fail_device), I64), member(b, job, 2))
        return job

    def count(value):
        failed = b.zext(b.icmp_unsigned("!=", b.ptrtoint(value, I64), zero), I64)
        b.store(b.add(b.load(failures, typ=I64), failed), failures)

    in_pool = b.and_(b.icmp_signed("!=", parallel, zero),
                     b.icmp_unsigned("!=", b.ptrtoint(pool, I64), zero))
    with b.if_then(in_pool):
        with for_range(b, n) as d:
            job_at(d)
        b.call(pool_run, [pool, thread, jobs, ir.Constant(I64, JOB_BYTES), n])
        with for_range(b, n) as d:  # a failed device is one whose job said to fail
            fail = b.load(member(b, b.gep(jobs, [d], inbounds=True, source_etype=JOB), 2),
                          typ=I64)
            b.store(b.add(b.load(failures, typ=I64), fail), failures)
        b.ret(b.load(failures, typ=I64))
    with b.if_else(b.icmp_signed("!=", parallel, zero)) as (threads, serial):
        with threads:
            with for_range(b, n, start=1) as d:
                tid = b.gep(tids, [d], inbounds=True, source_etype=I64)
                rc = b.call(create, [tid, null, thread, job_at(d)])
                with b.if_then(b.icmp_signed("!=", rc, ir.Constant(I32, 0))):
                    b.store(zero, tid)  # never started: it counts as failed
                    b.call(abort, [comm])
                    b.store(b.add(b.load(failures, typ=I64), one), failures)
            count(b.call(thread, [job_at(zero)]))
            with for_range(b, n, start=1) as d:
                tid = b.load(b.gep(tids, [d], inbounds=True, source_etype=I64), typ=I64)
                with b.if_then(b.icmp_signed("!=", tid, zero)):
                    b.call(join, [tid, result])
                    count(b.load(result, typ=PTR))
        with serial:
            with for_range(b, n) as d:
                count(b.call(thread, [job_at(d)]))
    b.ret(b.load(failures, typ=I64))
    return launch


@functools.cache
def runtime():
    """Compiles the barrier once and binds its symbols for the programs that call it; returns
    the ctypes entry points ``(init, abort)``."""
    engine = compiler.compile_ir(_runtime_ir())
    with compiler.LOCK:
        for name in (BARRIER, ABORT):
            llvm.add_symbol(name, engine.address(name))
    init = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(
        engine.address("funcjax_spmd_init"))
    abort = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(engine.address(ABORT))
    return engine, init, abort


class Comm:
    """One barrier and slot table for ``n`` devices (one per compiled program and call at a
    time; ``SpmdProgram`` holds a lock around its use); ``width``: the most operands one
    collective exchanges (a group of reductions, ``spmd_group``)."""

    def __init__(self, n, width=1):
        self.n = n
        self.buffer = np.zeros(SLOTS + SLOT_BYTES * n * width + 64, np.uint8)
        addr = self.buffer.ctypes.data
        self.address = addr + (-addr % 64)
        self.reset()

    def reset(self):
        runtime()[1](self.address, self.n)

    def abort(self):
        runtime()[2](self.address)
