"""Parallel loops: large fused loops of compiled code run on several cores.

Design:

- **Outlining at lowering time.** ``nest(ctx, shape, elements)`` is ``loop_nest`` for loops
  that touch at least ``MIN_ELEMENTS`` elements: it emits the loop into its own function
  ``body(buffers..., ptr env, i64 lo, i64 hi)`` running rows ``lo..hi`` of the first axis
  longer than 1 (``items`` rows), the inner axes inside. Users: every fused value computed
  into a buffer (``LoweringContext._materialize_top``, via ``emit``), the carries of loops
  (``lower_control_flow``) and the row reductions of ``lower_reductions`` (each output
  element reduced in a register). The body takes the buffers as the program's parts do
  (``noalias``), so it vectorises as the inline loop would; a trampoline ``chunk(ptr env,
  lo, hi)`` reads them from the table of the part's buffer pointers that its environment
  starts with (below). The program calls ``funcjax_parallel_for(chunk, env, items, block,
  work)``. Nothing is emitted twice: the
  loop lives in the body only, and programs whose loops are all small are unchanged (no
  compile-time cost).
- **Loops inside loop bodies and branches** (``scan``, ``while``, ``cond``) are outlined
  the same way; their code may read the enclosing function's values (the iteration counter,
  the row of a scanned-over operand, a scalar computed earlier in the iteration). So the
  body takes one more argument, an environment ``{ptr table, captured values...}`` that the
  enclosing code fills before each run and that the job carries (``_capture``): addresses
  are computed again inside from the body's own ``noalias`` buffer arguments, other values
  are loaded from it once. At the top level the environment holds the table only.
- **Fixed blocks.** The rows are cut into blocks of ``block`` rows, decided at lowering time
  from the loop's size and estimated cost only (``plan_block``), never from the thread count;
  a block of a one-dimensional loop is a multiple of ``ALIGN`` elements, so every element is
  computed by the same vector or scalar code as in one call over all rows. Each element is
  computed independently (fused elementwise code: no reduction crosses elements; a row
  reduction's output element is reduced by one thread in the serial order), so results are
  bitwise those of one thread. Float sums into one element and reductions keeping the last
  axis loop over chunks fixed by the shape instead, each reduced into its own partial,
  combined in order by the caller (``lower_reductions``).
- **The runtime** (native, compiled once per process): if the pool exists, ``threads`` > 1,
  there are two blocks or more and ``work`` (elements times the instructions of the body's
  innermost loops, ``weight`` per row) reaches ``min_work``, it publishes a job ``{chunk,
  table, next, items, block}`` and runs it on the caller plus ``threads - 1`` pool workers
  through ``spmd_pool``'s ``try_run``; every thread takes the next block with an atomic add until
  none is left (dynamic scheduling: on a loaded machine a thread that is descheduled simply
  takes fewer blocks). Otherwise, or when the pool is busy (a loop inside a pmap device
  program, on a pool worker, in a host callback, or another Python thread's loop), the
  caller runs ``chunk(table, 0, items)`` itself. No Python and no GIL is involved.
- **The pool** is pmap's (``spmd_pool``): workers park on condition variables, and the
  ``busy`` word makes loops never wait for it. Its settings live in a small native cell
  ``{pool address, threads, min_work}`` that the runtime reads on every call, so changing
  ``funcjax.config.update("funcjax_num_threads", n)`` (also OpenBLAS's count) needs no
  recompilation; ``None`` means every core this process may use. After ``fork`` the child
  runs loops on one thread (the parent's workers do not exist there) until the setting is
  updated or a pmap makes a new pool.
- **Threshold.** Waking a parked worker costs 7-20 us (median; far more when another
  process holds the other core). Measured (min of 300, loaded machine, before the cheaper
  exp and sin): the chain ``sin*exp+tanh`` gained nothing at 16K elements (33 us), 1.07x at
  32K, 1.55x at 64K, 2x at 1M. Work units are the instructions of the body's innermost
  loops per element (chain 131, ``x*2+1`` 11, a float32 sum 10; 100-175 units per ns on one
  thread): counting the whole body, a sum's per-block code made a 1e6 sum (57 us, no gain
  from a second thread) weigh 45 units per element. ``MIN_WORK`` = 2^24 units (~100-170 us)
  keeps smaller loops on the caller; ``set_min_work`` changes it (tests use 0). A run's
  cost when the worker comes late is small: the caller closes the run once every block is
  taken and waits only for a worker already inside one block (``spmd_pool``'s closable
  runs), spinning for it rather than sleeping.
- ``serial()`` lowers without parallel loops (``export_library``: a standalone library has
  no pool).
"""

import contextlib
import functools
import math
import os
import threading

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler, spmd_pool, types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.config import config

I64, PTR = ir.IntType(64), ir.PointerType()
PARALLEL_FOR = "funcjax_parallel_for"
MIN_ELEMENTS = 1 << 14  # smaller loops are never outlined
ALIGN = 1024            # elements per block of a one-dimensional loop are a multiple of this
MAX_BLOCKS = 64
BLOCK_WORK = 1 << 17    # a block holds at least about this much work
MIN_WORK = 1 << 24      # default: less work than this (~80 us) runs on the caller only
CALL_WEIGHT = 8         # an external call in a body counts as this many instructions

# the cell the runtime reads: pool address, threads, min_work; and the count of loops that
# ran on several threads (tests read it)
POOL, THREADS, MINWORK, JOBS = 0, 1, 2, 3
_cell = np.zeros(8, np.int64)
_cell[MINWORK] = MIN_WORK
_state = {"threads": 1}
_serial = threading.local()

# job: {ptr chunk, ptr table, i64 next block, i64 items, i64 block}
_JOB = ir.LiteralStructType([PTR, PTR, I64, I64, I64])
_CHUNK = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])


def _runtime_ir(cell):
    m = ir.Module(name="funcjax_parallel_loops")
    try_run = ir.Function(m, ir.FunctionType(I64, [PTR, PTR, PTR, I64, I64]),
                          spmd_pool.TRY_RUN)
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)

    def member(b, job, k):
        return b.gep(job, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), k)],
                     source_etype=_JOB)

    # ptr job(ptr job): runs the next block until none is left (caller and workers alike)
    job_fn = ir.Function(m, ir.FunctionType(PTR, [PTR]), "funcjax_parallel_job")
    b = ir.IRBuilder(job_fn.append_basic_block("entry"))
    job = job_fn.args[0]
    chunk = spmd_pool._Callee(b.load(member(b, job, 0), typ=PTR), _CHUNK)
    table = b.load(member(b, job, 1), typ=PTR)
    items, block = b.load(member(b, job, 3), typ=I64), b.load(member(b, job, 4), typ=I64)
    loop, body, done = (job_fn.append_basic_block(n) for n in ("loop", "body", "done"))
    b.branch(loop)
    b.position_at_end(loop)
    lo = b.mul(b.atomic_rmw("add", member(b, job, 2), one, "monotonic"), block)
    b.cbranch(b.icmp_signed("<", lo, items), body, done)
    b.position_at_end(body)
    end = b.add(lo, block)
    b.call(chunk, [table, lo, b.select(b.icmp_signed("<", end, items), end, items)])
    b.branch(loop)
    b.position_at_end(done)
    b.ret(ir.Constant(PTR, None))

    # void parallel_for(chunk, table, items, block, work)
    run = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64, I64]),
                      PARALLEL_FOR)
    fn, table, items, block, work = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))

    def word(k):
        address = ir.Constant(I64, cell + 8 * k)
        return b.load(b.inttoptr(address, PTR), typ=I64)
    pool, threads = word(POOL), word(THREADS)
    blocks = b.sdiv(b.sub(b.add(items, block), one), block)
    active = b.select(b.icmp_signed("<", threads, blocks), threads, blocks)
    go = b.and_(b.and_(b.icmp_signed("!=", pool, zero), b.icmp_signed(">", active, one)),
                b.icmp_signed(">=", work, word(MINWORK)))
    with b.if_then(go):
        job = b.alloca(_JOB)  # a typed pointer: its members' addresses have their types
        for k, value in enumerate((fn, table, zero, items, block)):
            b.store(value, b.gep(job, [ir.Constant(ir.IntType(32), 0),
                                       ir.Constant(ir.IntType(32), k)]))
        ran = b.call(try_run, [b.inttoptr(pool, PTR), job_fn, job, zero, active])
        with b.if_then(b.icmp_signed("!=", ran, zero)):
            b.atomic_rmw("add", b.inttoptr(ir.Constant(I64, cell + 8 * JOBS), PTR), one,
                         "monotonic")
            b.ret_void()
    b.call(spmd_pool._Callee(fn, _CHUNK), [table, zero, items])
    b.ret_void()
    return str(m)


@functools.cache
def bind():
    """Compiles the runtime once, binds ``funcjax_parallel_for`` for the programs that call
    it and starts the pool the setting asks for."""
    spmd_pool.bind()
    engine = compiler.compile_ir(_runtime_ir(_cell.ctypes.data), cacheable=False, cold=True)
    with compiler.LOCK:
        llvm.add_symbol(PARALLEL_FOR, engine.address(PARALLEL_FOR))
    _apply(config.funcjax_num_threads)
    return engine


def threads_for(setting):
    """The loop threads for a ``funcjax_num_threads`` setting (None: the usable cores)."""
    if setting is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return setting


def _apply(setting):
    threads = threads_for(setting)
    _state["threads"] = threads
    if threads > 1:
        _use_pool(spmd_pool.pool(threads - 1))  # made now, or the current one if big enough
    else:
        _cell[THREADS] = 1


def _use_pool(pool):
    _cell[POOL] = pool.address
    _cell[THREADS] = min(_state["threads"], pool.workers + 1)


def _on_config(name, value):
    if name != "funcjax_num_threads":
        return
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 1):
        raise ValueError(f"config.update('funcjax_num_threads', {value!r}): the number of "
                         "threads must be a positive int, or None for every core")
    if bind.cache_info().currsize:  # the pool is made when a program first needs it
        _apply(value)


def _after_fork():
    _cell[POOL] = 0  # the parent's workers do not exist in the child


config.on_update(_on_config)
spmd_pool.on_new_pool.append(_use_pool)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def set_min_work(work=MIN_WORK):
    """Loops with less work (rows x instructions per row) run on the caller only; returns
    the previous value. ``set_min_work(0)`` threads every outlined loop (tests)."""
    previous = int(_cell[MINWORK])
    _cell[MINWORK] = work
    return previous


@contextlib.contextmanager
def serial():
    """Lowers without parallel loops inside the block (for code that runs without the pool)."""
    previous = getattr(_serial, "on", False)
    _serial.on = True
    try:
        yield
    finally:
        _serial.on = previous


def threaded_loops():
    """How many parallel loops have run on several threads in this process (tests)."""
    return int(_cell[JOBS])


def setting_address(word):
    """The address of the runtime's setting ``word`` (``THREADS``...: native readers)."""
    return _cell.ctypes.data + 8 * word


def is_serial():
    """Whether lowering is inside ``serial()`` (``parallel_tasks`` asks too)."""
    return getattr(_serial, "on", False)


def plan_block(items, weight, aligned):
    """Rows per block: about ``BLOCK_WORK`` of work each, at most ``MAX_BLOCKS`` blocks, a
    multiple of ``ALIGN`` when rows are single elements (``aligned``)."""
    blocks = max(1, min(MAX_BLOCKS, items * weight // BLOCK_WORK))
    block = -(-items // blocks)
    if aligned:
        block = -(-block // ALIGN) * ALIGN
    return min(block, items)


def _instructions(fn, seen=None, blocks=None):
    """The instructions of ``fn`` (of its ``blocks`` only, if given), counting a call to a
    function defined in the module (an inlined vector-math routine) as its body and an
    external call (not an LLVM intrinsic) as ``CALL_WEIGHT``."""
    seen = {} if seen is None else seen
    total = 0
    for block in fn.blocks if blocks is None else blocks:
        for instr in block.instructions:
            callee = getattr(instr, "callee", None)
            if isinstance(callee, ir.Function) and callee is not fn:
                if callee.blocks:
                    if callee.name not in seen:
                        seen[callee.name] = 0
                        seen[callee.name] = _instructions(callee, seen)
                    total += seen[callee.name]
                else:  # an LLVM intrinsic is about one instruction, libm is more
                    total += 1 if callee.name.startswith("llvm.") else CALL_WEIGHT
            else:
                total += 1
    return total


def _successors(block):
    term = block.terminator
    if term is None:
        return []
    out = [op for op in term.operands if isinstance(op, ir.Block)]
    if isinstance(term, ir.SwitchInstr):
        out += [term.default] + [target for _, target in term.cases]
    return out + list(getattr(term, "destinations", []))


def innermost_blocks(fn):
    """The blocks of ``fn``'s most deeply nested loops: the natural loops of the back edges
    that a depth-first walk from the entry finds, each block counted in every loop that holds
    it (the code is structured, ``loops.for_range``)."""
    blocks = fn.blocks
    preds = {id(blk): [] for blk in blocks}
    back, state = [], {}
    stack = [(blocks[0], iter(_successors(blocks[0])))]
    state[id(blocks[0])] = "open"
    while stack:
        block, rest = stack[-1]
        nxt = next(rest, None)
        if nxt is None:
            state[id(block)] = "done"
            stack.pop()
            continue
        preds[id(nxt)].append(block)
        if state.get(id(nxt)) == "open":
            back.append((block, nxt))
        elif id(nxt) not in state:
            state[id(nxt)] = "open"
            stack.append((nxt, iter(_successors(nxt))))
    depth = dict.fromkeys(preds, 0)
    for tail, head in back:
        body, todo = {id(head)}, [tail]
        while todo:
            blk = todo.pop()
            if id(blk) not in body:
                body.add(id(blk))
                todo.extend(preds[id(blk)])
        for key in body:
            depth[key] += 1
    top = max(depth.values())
    return [blk for blk in blocks if depth[id(blk)] == top]


def emit(ctx, value, buf):
    """Emits ``buf[...] = value`` as a parallel loop (see the module docstring)."""
    with nest(ctx, value.aval.shape, value.aval.size) as idx:
        buf.store(idx, value.load(idx))


@contextlib.contextmanager
def nest(ctx, shape, elements):
    """``loop_nest(ctx.b, shape)``, as a parallel loop over its first axis longer than 1 when
    the loop touches at least ``MIN_ELEMENTS`` ``elements`` (a reduction's output shape with
    its input's size). The block's code must compute each index's results independently
    and may allocate stack slots (``ctx.alloca``) only inside: it runs in another function.
    At the top level it reads buffers and constants only; inside a loop body or a branch it
    may also read the enclosing function's values (the iteration counter, a slice's
    pointer, a scalar computed before it), which reach the body through the job's
    environment (``_capture``). Each index is computed by exactly one thread with the same
    code, so a reduction into each output element gives the single-threaded result bit for
    bit."""
    if not (elements >= MIN_ELEMENTS and any(n > 1 for n in shape)
            and not getattr(_serial, "on", False)):
        with loop_nest(ctx.b, shape) as idx:
            yield idx
        return
    bind()
    axis = next(k for k, n in enumerate(shape) if n > 1)
    items = shape[axis]
    outer = ctx.fn
    body = ctx.new_function(ctx.name + ".loop", [PTR, I64, I64])
    lo, hi = body.args[-2:]
    with ctx.in_function(body):
        with for_range(ctx.b, hi, start=lo) as i, loop_nest(ctx.b, shape[axis + 1:]) as rest:
            yield [types.i64(0)] * axis + [i] + rest
    # the innermost loops' instructions per element (a reduction's per-block and per-chunk
    # code runs once per hundreds of elements: counted in full, they made a 1e6 sum look as
    # costly as the chain, threaded without gain)
    weight = max(1, elements // items) * _instructions(body, blocks=innermost_blocks(body))
    env, chunk = _capture(ctx, body, outer), _trampoline(ctx, body)
    block = plan_block(items, weight, math.prod(shape[axis + 1:]) == 1 == elements // items)
    # (one declaration with opaque pointers: the environments of the calls differ in type)
    run = ctx.extern(PARALLEL_FOR, ir.VoidType(), [PTR, PTR, I64, I64, I64], pure=False)
    ctx.b.call(run, [ctx.b.bitcast(chunk, PTR), ctx.b.bitcast(env, PTR), types.i64(items),
                     types.i64(block), types.i64(items * weight)])


def _trampoline(ctx, body):
    """``void chunk(ptr env, i64 lo, i64 hi)``: calls ``body`` with the pointers of the buffer
    table that the environment ``env`` starts with, then ``env``."""
    fn = ir.Function(ctx.module, _CHUNK, ctx.module.get_unique_name(body.name + ".chunk"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    env, lo, hi = fn.args
    table = b.load(env, typ=PTR)
    count = len(body.args) - 3
    # (a program whose parts take one table of pointers has that single buffer argument)
    pointers = [table] if count == 1 else [
        b.load(b.gep(table, [types.i64(k)], inbounds=True, source_etype=PTR), typ=PTR)
        for k in range(count)]
    b.call(body, pointers + [env, lo, hi])
    b.ret_void()
    return fn


def _foreign(value, fn):
    """Whether ``value`` is an instruction or argument of another function than ``fn``."""
    if isinstance(value, ir.Instruction):
        return value.parent.parent is not fn
    return isinstance(value, ir.Argument) and value.parent is not fn


def _operands(instr):
    """The values ``instr`` uses (a phi's incoming values, a GEP's pointer and indices...)."""
    if isinstance(instr, ir.PhiInstr):
        return [v for v, _ in instr.incomings]
    return list(instr.operands)


def _rebind(instr, new):
    """Replaces each value ``v`` that ``instr`` uses by ``new[id(v)]`` when there is one
    (llvmlite keeps some operands in attributes of their own too)."""
    def sub(v):
        return new.get(id(v), v)
    if isinstance(instr, ir.PhiInstr):
        instr.incomings = [(sub(v), blk) for v, blk in instr.incomings]
    else:
        instr.operands = type(instr.operands)(sub(v) for v in instr.operands)
    if isinstance(instr, ir.GEPInstr):
        instr.pointer, instr.indices = sub(instr.pointer), [sub(i) for i in instr.indices]
    elif isinstance(instr, ir.ExtractValue):
        instr.aggregate = sub(instr.aggregate)
    elif isinstance(instr, ir.InsertValue):
        instr.aggregate, instr.value = sub(instr.aggregate), sub(instr.value)
    instr._clear_string_cache()


def _capture(ctx, body, outer):
    """Gives ``body`` (a parallel loop emitted while ``outer`` was being emitted) the values
    of ``outer`` it uses, and returns its environment: a stack struct of ``outer`` holding
    the buffer table, then each captured value, stored just before the loop runs (a loop at
    the top level reads buffers and constants only: its environment is the table alone).

    ``outer``'s buffer arguments are the body's own (same positions, ``noalias``), and an
    address computed in ``outer`` (a ``getelementptr``: the row of a scanned-over operand,
    a carry in the workspace) is computed again in the body's entry from the body's
    arguments, so the loop's pointers stay based on its ``noalias`` arguments and it
    vectorises as the inline loop did. Any other value (the iteration counter, a loaded
    scalar, a stack slot's address) is captured: stored into the environment by ``outer``
    and loaded once in the body's entry."""
    buffers = len(body.args) - 3
    position = {id(a): k for k, a in enumerate(outer.args[:buffers])}
    instructions = [i for blk in body.blocks for i in blk.instructions]
    captured, seen = [], set()

    def visit(v):  # the values that must travel, in a first walk (they fix the struct)
        if id(v) in seen or not _foreign(v, body):
            return
        seen.add(id(v))
        if isinstance(v, ir.GEPInstr):
            for part in [v.pointer] + list(v.indices):
                visit(part)
        elif id(v) not in position:
            captured.append(v)
    for instr in instructions:
        for v in _operands(instr):
            visit(v)
    struct = ir.LiteralStructType([PTR] + [v.type for v in captured])
    b = ir.IRBuilder()
    b.position_before(body.blocks[0].terminator)
    env = body.args[buffers]
    new = {}
    for k, v in enumerate(captured, 1):
        field = b.gep(env, [ir.Constant(ir.IntType(32), 0), ir.Constant(ir.IntType(32), k)],
                      inbounds=True, source_etype=struct)
        new[id(v)] = b.load(field, typ=v.type)

    def local(v):  # v's value in the body
        if not _foreign(v, body):
            return v
        if id(v) not in new:
            if isinstance(v, ir.GEPInstr):
                new[id(v)] = b.gep(local(v.pointer), [local(i) for i in v.indices],
                                   inbounds=v.inbounds, source_etype=v.source_etype)
            else:  # a buffer argument of outer
                new[id(v)] = body.args[position[id(v)]]
        return new[id(v)]
    for instr in instructions:
        for v in _operands(instr):
            local(v)
    for instr in instructions:
        _rebind(instr, new)
    # outer fills the environment just before the loop
    slot = ctx.alloca(struct, "env")
    for k, v in enumerate([ctx.buffer_table()] + captured):
        ctx.b.store(v, ctx.b.gep(slot, [ir.Constant(ir.IntType(32), 0),
                                        ir.Constant(ir.IntType(32), k)], inbounds=True))
    return slot
