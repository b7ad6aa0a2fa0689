"""Parallel tasks: independent matrix products of one program run at the same time.

A backward pass computes ``dW = x^T g`` and ``dx = g W^T`` from the same ``g``; two branches
of a network multiply the same input by two weights. Run side by side, one thread each, two
such products keep both cores busy without OpenBLAS's own threading, whose idle threads spin
(on a loaded machine a 2-thread product of 128x512 by 512x512 took 10x the CPU time and wall
time of one thread), and whose results may depend on its thread count.

Design:

- **Scheduling** (``plan``, on the program's top-level jaxpr before fusion analysis): a
  product worth a task (at least ``TASK_MIN_FLOPS``, see the measurements below)
  is paired with a later product of similar size (``BALANCE``) that does not depend on it.
  The equations the partner needs that come between the two (its operands' producers,
  transitively) move before the first; none has side effects, so this is a valid order of the
  same program. The pair is then adjacent: a *group*. Outputs that overwrite a donated input
  are never in a group (the other task might still read the input). A product with no
  partner is a group of its own when its output rows can be cut (no batch axes, one free lhs
  axis): its ``GROUP_SIZE`` row blocks (starting at multiples of ``SPLIT_ALIGN`` rows) are
  the tasks.
- **Lowering** (``TaskPlan.emit``, called by ``LoweringContext.lower_jaxpr`` at a group's
  first equation): every member's output buffers are allocated first, then each member's
  rule is emitted into its own function ``task(buffers...)`` (as parallel loops outline their
  bodies: it takes the buffers as the program's parts do), and a dispatcher ``whole(ptr
  table, lo, hi)`` runs tasks ``lo..hi``. A lone product's row blocks get functions of their
  own (the rule on views of the lhs rows, in place when they lead its memory, and of the
  output rows) and a second dispatcher. Scratch buffers (operand copies) are held until the
  whole group is done, so no two tasks share memory. The program calls
  ``funcjax_parallel_tasks(chunk, table, n, whole, whole_n)``.
- **The runtime**: when OpenBLAS runs on one thread and the pool has several, the ``n``
  tasks run as a parallel loop of one-task blocks (``parallel_loops``'
  ``funcjax_parallel_for``) on pmap's worker pool with the caller taking tasks too, or
  serially on the caller when the pool is busy (inside a pmap device program, a host
  callback, another thread's loop). Otherwise ``whole`` runs: each product whole, one after
  the other, exactly as without tasks (OpenBLAS threading each product when
  ``funcjax_num_threads`` > 1, which sets its count too). So tasks use both cores when
  funcjax's pool has the cores and OpenBLAS one thread: ``funcjax_num_threads`` None (the
  pool takes every core, OpenBLAS keeps its own setting) with ``OPENBLAS_NUM_THREADS=1``.
  Switching OpenBLAS to one thread around each group was built first and dropped: measured on
  a loaded machine, a pair of products with the switch took a median of 40-60 ms against
  9-17 ms without (min of 200; OpenBLAS parks and wakes its threads), and the MLP step got
  slower too.
- **Determinism.** Groups of products: each product runs with the same OpenBLAS thread count
  whether the tasks ran in parallel or not, so the results are bitwise those of the program
  lowered without tasks. Row blocks: the blocks run on one OpenBLAS thread whichever threads
  take them, so the bits do not depend on the pool's threads; they equal the whole product's
  on one thread for every shape measured with numpy's OpenBLAS (row splits at multiples of 16
  rows; tests check it), which OpenBLAS does not promise. (OpenBLAS's own thread count does
  change bits: a 128x1000 by 1000x1000 product differs between 1 and 2 threads.)
- ``parallel_loops.serial()`` (a standalone library) and pmap device programs (whose devices
  are the parallelism) lower without groups.
"""

import functools
import math
import re

import llvmlite.binding as llvm
from llvmlite import ir

from funcjax.backend.llvm import blas, compiler, parallel_loops, spmd_pool, transpose, types
from funcjax.backend.llvm.loops import for_range
from funcjax.backend.llvm.values import Buffer, Lazy
from funcjax.config import config
from funcjax.core.abstract import ShapedArray
from funcjax.core.ir import Jaxpr, Var, has_effects
from funcjax.ops.contractions import dot_general_p

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
PARALLEL_TASKS = "funcjax_parallel_tasks"
BLOCK_DEFINE = re.compile(r'define [^@]*@"[^"]*\.block(\.\d+)?"\(')  # a row block's function
# Two independent products of m x k by k x n, interleaved, min of 40-150 at load 5 (pairs of
# 17 / 34 / 67 / 103 / 134 MFLOP each): OpenBLAS's 2 threads per product took 0.69 / 0.89-1.03
# / 0.94-1.00 / 1.04-1.08 / 1.03-1.09x the time of the pair as tasks; both ~1.8x one thread
# from 67 MFLOP (its spinning threads answer at once; a parked worker must be woken)
# (no upper bound: tasks are lowered only when OpenBLAS is on one thread, see ``usable``)
TASK_MIN_FLOPS = 32 << 20   # smaller products: waking a worker costs about what it saves
BALANCE = 0.5               # the smaller task of a group has at least this share of the larger
SPLIT_ALIGN = 16            # a lone product's row blocks start at multiples of this row
GROUP_SIZE = 2              # tasks per group (this machine has two cores)
WINDOW = 256                # equations searched after a product for its partner
# None: lower tasks when the settings let them run in parallel (``usable``); True/False:
# always/never (tests, benchmarks)
enabled = None

_CHUNK = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])


def task_flops(eqn):
    """The flops of ``eqn`` if it may be a task (a float matrix product, perhaps accumulated
    into a third operand: ``dot_layout.fold_accumulations``), else 0."""
    if eqn.primitive is not dot_general_p:
        return 0
    out = eqn.outputs[0].aval
    if (out.dtype.kind not in "fc" or out.dtype.itemsize < 4
            or any(x.aval.dtype != out.dtype for x in eqn.inputs)):  # BLAS takes one dtype
        return 0
    (lc, _), _ = eqn.params["dimension_numbers"]
    return 2 * out.size * math.prod(eqn.inputs[0].aval.shape[d] for d in lc)


def _worth(eqn):
    flops = task_flops(eqn)
    return flops > 0 and flops >= TASK_MIN_FLOPS


def _needs(eqns, i, j):
    """The positions in ``(i, j)`` whose outputs ``eqns[j]`` reads (transitively), or None
    when it reads ``eqns[i]``'s or one of them has side effects (it must not move)."""
    want = {id(x) for x in eqns[j].inputs if isinstance(x, Var)}
    needed = []
    for k in range(j - 1, i - 1, -1):
        if any(id(v) in want for v in eqns[k].outputs):
            if k == i or has_effects(eqns[k]):
                return None
            needed.append(k)
            want.update(id(x) for x in eqns[k].inputs if isinstance(x, Var))
    return needed[::-1]


class TaskPlan:
    """A jaxpr in an order that puts each group's members next to each other, and the groups
    (first position -> member equations)."""

    def __init__(self, jaxpr, groups):
        self.jaxpr, self.groups = jaxpr, groups

    @property
    def followers(self):
        """The positions of the members after each group's first (emitted with the first)."""
        return {k for i, members in self.groups.items() for k in range(i + 1, i + len(members))}

    def drop_dead(self, live):
        """Forgets the groups with a member that fusion analysis found dead (never lowered)."""
        self.groups = {i: members for i, members in self.groups.items()
                       if all(live[i:i + len(members)])}

    def emit(self, ctx, i, read, target, env):
        """Emits group ``i`` (see the module docstring): allocates every member's outputs
        with ``target(var)``, reads inputs with ``read(atom)``, records the followers'
        outputs in ``env``; returns the first member's output buffers."""
        bind()
        members = [(eqn, [read(x) for x in eqn.inputs], [target(v) for v in eqn.outputs])
                   for eqn in self.groups[i]]
        tasks = [_task(ctx, eqn, lambda ins=ins, outs=outs: (ins, outs))
                 for eqn, ins, outs in members]
        for eqn, _, outs in members:
            env.update((id(v), buf) for v, buf in zip(eqn.outputs, outs))
        whole, whole_n = _dispatcher(ctx, tasks), len(tasks)  # run when not in parallel
        chunk = whole
        if len(members) == 1:  # a lone product: its row blocks are the parallel tasks
            eqn, ins, outs = members[0]
            tasks = [_task(ctx, eqn, lambda lo=lo, hi=hi: _row_block(ctx, eqn, ins, outs, lo, hi),
                           "block") for lo, hi in _row_blocks(eqn)]
            chunk = _dispatcher(ctx, tasks)
        ctx.call(PARALLEL_TASKS, ir.VoidType(), [chunk, ctx.buffer_table(), types.i64(len(tasks)),
                                                 whole, types.i64(whole_n)], pure=False)
        return members[0][2]


def _task(ctx, eqn, operands, kind="task"):
    """``void task(buffers...)`` running ``eqn``'s rule on ``operands()`` (ins, outs), which
    is called inside the function (views emit their addresses there). ``kind`` names it:
    ``block`` for a lone product's row block (``BLOCK_DEFINE`` counts them)."""
    fn = ctx.new_function(f"{ctx.name}.{kind}", [])
    with ctx.in_function(fn):
        eqn.primitive.rule("lower").fn(ctx, eqn, *operands())
    return fn


def _free_axis(eqn):
    """The lhs axis of a product that has no batch axes and one free lhs axis, else None."""
    (lc, _), (lb, _) = eqn.params["dimension_numbers"]
    free = [d for d in range(eqn.inputs[0].aval.ndim) if d not in lc]
    return free[0] if not lb and len(free) == 1 else None


def _splittable(eqn):
    """Whether product ``eqn`` can run as row blocks: one free lhs axis (the output's first)
    with room for ``GROUP_SIZE`` blocks of ``SPLIT_ALIGN`` rows."""
    axis = _free_axis(eqn)
    return (_worth(eqn) and axis is not None and len(eqn.inputs) == 2  # (not accumulating)
            and eqn.inputs[0].aval.shape[axis] >= GROUP_SIZE * SPLIT_ALIGN)


def _row_blocks(eqn):
    """The ``GROUP_SIZE`` row ranges of ``eqn``'s output (starts aligned)."""
    rows = eqn.outputs[0].aval.shape[0]
    step = -(-rows // GROUP_SIZE // SPLIT_ALIGN) * SPLIT_ALIGN
    return [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]


def _row_block(ctx, eqn, ins, outs, lo, hi):
    """The operands of product ``eqn``'s output rows ``lo..hi``: the lhs rows (in place when
    they are its leading axis in memory, else a view the rule copies) and the output rows."""
    (lhs, rhs), (out,) = ins, outs
    axis = _free_axis(eqn)
    shape = list(lhs.aval.shape)
    shape[axis] = hi - lo
    aval = ShapedArray(tuple(shape), lhs.aval.dtype)
    if isinstance(lhs, Buffer) and all(n == 1 for n in lhs.aval.shape[:axis]):
        row = lhs.aval.size // lhs.aval.shape[axis]
        lhs = Buffer(ctx.b, lhs.element(types.i64(lo * row)), aval)
    elif isinstance(lhs, transpose.Transposed) and lhs.first is None:
        lhs = lhs.rows(axis, lo, aval)  # gemm reads the block in place, as the whole
    else:
        whole_lhs = lhs
        lhs = Lazy(aval, lambda idx: whole_lhs.load(
            idx[:axis] + [ctx.b.add(idx[axis], types.i64(lo))] + idx[axis + 1:]),
            cheap=whole_lhs.cheap)
    row = out.aval.size // out.aval.shape[0]
    out_aval = ShapedArray((hi - lo,) + out.aval.shape[1:], out.aval.dtype)
    return [lhs, rhs], [Buffer(ctx.b, out.element(types.i64(lo * row)), out_aval)]


def usable():
    """Whether tasks would run in parallel under the current settings: funcjax's pool has
    several threads and OpenBLAS one, i.e. ``funcjax_num_threads`` None (an int sets
    OpenBLAS's count to the pool's) with OpenBLAS on one thread (``OPENBLAS_NUM_THREADS=1``).
    Otherwise programs are lowered without tasks: the runtime would run each product whole
    anyway, and the blocks' code costs compile time (value_and_grad of the MLP: 0.55 ->
    0.71 s at load 8)."""
    if config.funcjax_num_threads is not None or not blas.available():
        return False
    return parallel_loops.threads_for(None) > 1 and blas.current_threads() == 1


def plan(ctx, jaxpr, top, kept=()):
    """The task plan of ``jaxpr`` lowered by ``ctx`` (no groups unless it is the program's own
    jaxpr, ``top``, with independent products worth running at once). ``kept``: variables
    whose buffers overwrite an input (never in a group)."""
    if (not top or ctx.spmd_axis is not None or parallel_loops.is_serial()
            or not any(map(_worth, jaxpr.eqns))  # (before usable(), which loads OpenBLAS)
            or not (usable() if enabled is None else enabled)):
        return TaskPlan(jaxpr, {})
    kept = {id(v) for v in kept}
    eqns, groups, i = list(jaxpr.eqns), {}, 0
    while i < len(eqns):
        lead = eqns[i]
        if not _worth(lead) or any(id(v) in kept for v in lead.outputs):
            i += 1
            continue
        chosen, moved = _partners(eqns, i, kept)
        if not chosen:
            if _splittable(lead):  # alone: its row blocks are the tasks
                groups[i] = [lead]
            i += 1
            continue
        rest = [k for k in range(i + 1, len(eqns)) if k not in chosen and k not in moved]
        eqns = (eqns[:i] + [eqns[k] for k in sorted(moved)] + [lead]
                + [eqns[k] for k in chosen] + [eqns[k] for k in rest])
        i += len(moved)
        groups[i] = eqns[i:i + 1 + len(chosen)]
        i += 1 + len(chosen)
    if not groups:
        return TaskPlan(jaxpr, {})
    return TaskPlan(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars), groups)


def _partners(eqns, i, kept):
    """Up to ``GROUP_SIZE - 1`` later products for a group with product ``eqns[i]``: worth a
    task, of a size within ``BALANCE`` of it, independent of it and of each other. Returns
    their positions and the set of positions in between that they need (moved before)."""
    size = task_flops(eqns[i])
    chosen, moved = [], set()
    for j in range(i + 1, min(len(eqns), i + WINDOW)):
        flops = task_flops(eqns[j])
        if (not _worth(eqns[j]) or any(id(v) in kept for v in eqns[j].outputs)
                or min(flops, size) < BALANCE * max(flops, size)):
            continue
        needed = _needs(eqns, i, j)
        if needed is None or set(needed) & set(chosen):
            continue
        chosen.append(j)
        moved.update(needed)
        if len(chosen) == GROUP_SIZE - 1:
            break
    return chosen, moved


def _dispatcher(ctx, tasks):
    """``void chunk(ptr table, i64 lo, i64 hi)``: runs tasks ``lo..hi`` with the table's
    buffer pointers."""
    fn = ir.Function(ctx.module, _CHUNK, ctx.module.get_unique_name(ctx.name + ".tasks"))
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    table, lo, hi = fn.args
    count = len(tasks[0].args)
    pointers = [table] if count == 1 else [  # one argument: the task takes the table itself
        b.load(b.gep(table, [types.i64(k)], inbounds=True, source_etype=PTR), typ=PTR)
        for k in range(count)]
    with for_range(b, hi, start=lo) as k:
        for n, task in enumerate(tasks):
            with b.if_then(b.icmp_signed("==", k, types.i64(n))):
                b.call(task, pointers)
    b.ret_void()
    return fn


def _runtime_ir(with_blas, threads):
    m = ir.Module(name="funcjax_parallel_tasks")
    parallel_for = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I64, I64]),
                               parallel_loops.PARALLEL_FOR)
    run = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, PTR, I64]),
                      PARALLEL_TASKS)
    chunk, table, n, whole, whole_n = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))
    # one pool thread, or OpenBLAS threading each product itself: the whole tasks one after
    # the other, as without tasks
    serial = b.icmp_signed("<=", b.load(b.inttoptr(ir.Constant(I64, threads), PTR), typ=I64),
                           ir.Constant(I64, 1))
    if with_blas:
        get = ir.Function(m, ir.FunctionType(I32, []), "scipy_openblas_get_num_threads64_")
        serial = b.or_(serial, b.icmp_signed("!=", b.call(get, []), ir.Constant(I32, 1)))
    with b.if_then(serial):
        b.call(spmd_pool._Callee(whole, _CHUNK), [table, ir.Constant(I64, 0), whole_n])
        b.ret_void()
    # one task per block; any work: the pool decides
    b.call(parallel_for, [chunk, table, n, ir.Constant(I64, 1), ir.Constant(I64, 2 ** 62)])
    b.ret_void()
    return str(m)


@functools.cache
def bind():
    """Compiles the runtime once and binds ``funcjax_parallel_tasks`` for the programs."""
    parallel_loops.bind()
    engine = compiler.compile_ir(
        _runtime_ir(blas.available(), parallel_loops.setting_address(parallel_loops.THREADS)),
        cacheable=False, cold=True)
    with compiler.LOCK:
        llvm.add_symbol(PARALLEL_TASKS, engine.address(PARALLEL_TASKS))
    return engine
