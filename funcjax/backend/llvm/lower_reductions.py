"""Lowering of reductions, argmax/argmin and cumulative scans as loop nests (``buffer``
rules).

Reductions that keep the last axis walk the input in memory order and combine whole rows
into the output (a leading-axis sum is contiguous, vectorised work, not a strided walk).
Others loop over the kept axes outside and the reduced axes inside, accumulating in a
register. Float sums and products carry the ``reassoc`` flag so LLVM vectorises them with
several partial accumulators; float sums are blocked, with block sums added in float64, so
float32 sums are as accurate as numpy's pairwise ones. float16 accumulates in float32 and
rounds once. Cumulative scans stay sequential, as numpy's are, so they match exactly.

Threads (``parallel_loops.nest``), never changing a result with the thread count:

- Reductions into each output element in a register (``_blocked_sum``,
  ``_reduce_in_register``) run their loop over output elements as a parallel loop: each
  output element is reduced by one thread in the same order.
- A large float sum into one element (``sum(x*x)``) is cut into chunks and a large
  reduction keeping the last axis (``mean(x**2, axis=0)``) into chunks of rows, both fixed
  by the shape alone (``_chunking``), whether or not the loop ends up threaded. Each chunk
  is reduced into its own partial (a float64 slot; a partial output row) by one thread,
  and the caller combines the partials in chunk order, so 1, 2 or 4 threads and serially
  lowered code give the same bits.
"""

import contextlib

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import parallel_loops, types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.backend.llvm.lower_elementwise import COMPLEX, SCALAR
from funcjax.backend.llvm.lowering import register
from funcjax.core.abstract import ShapedArray
from funcjax.ops import elementwise as ew
from funcjax.ops import reductions as ops

_REASSOC = ("reassoc",)
_BLOCK = 512  # elements per block of a float sum (then added in float64)
_MIN_ROWS = 8  # rows per chunk of a reduction that keeps the last axis, at least
_ROW_CHUNKS = 16  # a large reduction that keeps the last axis is cut into at most this many
_CHUNKS = 64  # a large sum into one element is cut into at most this many chunks


def _identity(prim, dt):
    if prim in (ops.reduce_sum_p, ops.reduce_or_p):
        return types.const(dt, 0)
    if prim is ops.reduce_prod_p:
        return types.const(dt, 1)
    if prim is ops.reduce_and_p:
        return ir.Constant(types.compute_type(dt), -1 if dt.kind != "b" else 1)
    biggest = prim is ops.reduce_min_p
    if dt.kind == "c":  # JAX's lexicographic order: compare real parts, then imaginary ones
        inf = np.inf if biggest else -np.inf
        return types.const(dt, complex(inf, inf))
    if dt.kind == "f":
        return types.const(dt, np.inf if biggest else -np.inf)
    if dt.kind == "b":
        return types.const(dt, biggest)
    info = np.iinfo(dt)
    return types.const(dt, info.max if biggest else info.min)


def _combiner(ctx, prim, dt):
    b = ctx.b
    if dt.kind == "f" and prim is ops.reduce_sum_p:
        return lambda acc, v: b.fadd(acc, v, flags=_REASSOC)
    if dt.kind == "f" and prim is ops.reduce_prod_p:
        return lambda acc, v: b.fmul(acc, v, flags=_REASSOC)
    if dt.kind == "f" and prim in (ops.reduce_max_p, ops.reduce_min_p):
        # NaN-propagating max/min as one intrinsic: LLVM vectorises it as a reduction
        name = "maximum" if prim is ops.reduce_max_p else "minimum"
        return lambda acc, v: ctx.call(f"llvm.{name}.{_suffix(acc.type)}", acc.type, [acc, v])
    scalar = {ops.reduce_sum_p: ew.add_p, ops.reduce_prod_p: ew.mul_p, ops.reduce_max_p:
              ew.max_p, ops.reduce_min_p: ew.min_p, ops.reduce_and_p: ew.and_p,
              ops.reduce_or_p: ew.or_p}[prim]
    table = COMPLEX if dt.kind == "c" else SCALAR
    return lambda acc, v: table[scalar](ctx, dt, acc, v)


def _suffix(typ):
    return "f64" if typ == types.F64 else "f32"


def _full_index(ndim, axis_list, outer, inner):
    """Interleaves the indices of the kept axes (``outer``) and the looped axes (``inner``)."""
    it_out, it_in = iter(outer), iter(inner)
    return [next(it_in) if d in axis_list else next(it_out) for d in range(ndim)]


@register("buffer", ops.reduce_sum_p, ops.reduce_prod_p, ops.reduce_max_p, ops.reduce_min_p,
          ops.reduce_and_p, ops.reduce_or_p)
def _reduce(ctx, eqn, ins, outs):
    (x,), (out,) = ins, outs
    dt, axes = x.aval.dtype, tuple(sorted(eqn.params["axes"]))
    combine = _combiner(ctx, eqn.primitive, dt)
    last = x.aval.ndim - 1
    if axes and last not in axes and x.aval.shape[last] > 1 and not types.is_f16(dt):
        _reduce_into_rows(ctx, eqn.primitive, x, out, axes, combine)
    elif axes and axes[-1] == last and dt.kind == "f" and eqn.primitive is ops.reduce_sum_p:
        _blocked_sum(ctx, x, out, axes)
    else:
        _reduce_in_register(ctx, eqn.primitive, x, out, axes, combine)


def _reduce_into_rows(ctx, prim, x, out, axes, combine):
    """The last axis is kept: walk ``x`` in memory order and combine each element into its
    output element, so the inner loop runs along contiguous rows of both (vectorised;
    float sums accumulate row by row, as numpy's do).

    A large one is cut along its first reduced axis longer than 1 into chunks of rows fixed
    by the shape alone (``_chunking``): each chunk accumulates its rows into its own
    partial output (a parallel loop over chunks), and the partials are combined in order.
    The result is the same for any thread count and in serially lowered code."""
    b, dt = ctx.b, x.aval.dtype
    chunking = _chunking(x, axes, _ROW_CHUNKS, _MIN_ROWS)
    if chunking is None:
        with loop_nest(b, out.aval.shape) as idx:
            out.store(idx, _identity(prim, dt))
        with loop_nest(b, x.aval.shape) as idx:
            kept = [i for d, i in enumerate(idx) if d not in axes]
            out.store(kept, combine(out.load(kept), x.load(idx)))
        return
    axis, length, count = chunking
    partial = ctx.scratch(ShapedArray((count,) + out.aval.shape, out.aval.dtype),
                          "reduction partial rows")
    with parallel_loops.nest(ctx, (count,), x.aval.size) as (k,):
        with loop_nest(b, out.aval.shape) as idx:
            partial.store([k] + idx, _identity(prim, dt))
        with _ranges(b, range(x.aval.ndim), x.aval.shape, _chunk(b, k, length, x, axis)) as idx:
            kept = [k] + [i for d, i in enumerate(idx) if d not in axes]
            partial.store(kept, combine(partial.load(kept), x.load(idx)))
    with loop_nest(b, out.aval.shape) as idx:
        out.store(idx, partial.load([types.i64(0)] + idx))
    with for_range(b, count, start=1) as k, loop_nest(b, out.aval.shape) as idx:
        out.store(idx, combine(out.load(idx), partial.load([k] + idx)))


def _chunking(x, axes, most, least):
    """``(axis, length, count)``: a large reduction is cut along its first reduced axis
    longer than 1 into ``count`` chunks (at most ``most``) of ``length`` (at least
    ``least``, a multiple of ``_BLOCK`` along the last axis), fixed by the shape alone, never
    by the thread count. None for small arrays or a single chunk."""
    shape = x.aval.shape
    axis = next((a for a in axes if shape[a] > 1), None)
    if x.aval.size < parallel_loops.MIN_ELEMENTS or axis is None:
        return None
    length = max(-(-shape[axis] // most), least)
    if axis == x.aval.ndim - 1:
        length = -(-length // _BLOCK) * _BLOCK
    count = -(-shape[axis] // length)
    return (axis, length, count) if count > 1 else None


@contextlib.contextmanager
def _ranges(b, dims, shape, chunk):
    """Loops over ``shape[d]`` for ``d`` in ``dims``, outermost first; ``chunk`` = ``(axis,
    lo, hi)`` runs that axis from ``lo`` to ``hi`` only."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(for_range(b, chunk[2], start=chunk[1])
                                   if chunk is not None and d == chunk[0]
                                   else for_range(b, shape[d])) for d in dims]


def _chunk(b, k, length, x, axis):
    """``(axis, lo, hi)`` of chunk ``k`` of ``length`` along ``axis``."""
    lo = b.mul(k, types.i64(length))
    hi, end = b.add(lo, types.i64(length)), types.i64(x.aval.shape[axis])
    return axis, lo, b.select(b.icmp_signed("<", hi, end), hi, end)


def _blocked_sum(ctx, x, out, axes):
    """A float sum along the last axis: blocks of ``_BLOCK`` elements are summed with
    reassociation (several vector accumulators), and block sums are added in float64. The
    rounding error stays near numpy's pairwise sum instead of growing with the length.

    A large sum into one element is cut into chunks fixed by its size alone
    (``_chunking``): each chunk's float64 sum goes into a scratch slot (a parallel loop over
    chunks), and the slots are added in order. The result is the same for any thread
    count and in serially lowered code."""
    b, dt = ctx.b, x.aval.dtype
    typ = types.compute_type(dt)
    chunking = _chunking(x, axes, _CHUNKS, 1) if out.aval.size == 1 else None
    if chunking is None:
        with parallel_loops.nest(ctx, out.aval.shape, x.aval.size) as outer:
            _store_sum(ctx, out, outer, _sum_f64(ctx, x, axes, outer, None, typ))
        return
    axis, length, count = chunking
    partial = ctx.scratch(ShapedArray((count,), np.dtype(np.float64)), "sum chunks")
    zeros = [types.i64(0)] * out.aval.ndim
    with parallel_loops.nest(ctx, (count,), x.aval.size) as (k,):
        partial.store([k], _sum_f64(ctx, x, axes, zeros, _chunk(b, k, length, x, axis), typ))
    total = ctx.alloca(types.F64, "total")
    b.store(ir.Constant(types.F64, 0.0), total)
    with for_range(b, count) as k:
        b.store(b.fadd(b.load(total), partial.load([k])), total)
    _store_sum(ctx, out, zeros, b.load(total))


def _sum_f64(ctx, x, axes, outer, chunk, typ):
    """The float64 sum of ``x`` over ``axes`` at the kept index ``outer``, in blocks of
    ``_BLOCK`` along the last axis; ``chunk`` = ``(axis, lo, hi)`` limits one axis."""
    b, n = ctx.b, x.aval.shape[-1]
    last = x.aval.ndim - 1
    total, acc = ctx.alloca(types.F64, "total"), ctx.alloca(typ, "acc")
    b.store(ir.Constant(types.F64, 0.0), total)
    with _ranges(b, axes[:-1], x.aval.shape, chunk) as inner:
        start, stop = (chunk[1], chunk[2]) if chunk is not None and chunk[0] == last else (
            0, n)
        with for_range(b, stop, start=start, step=_BLOCK) as first:
            b.store(ir.Constant(typ, 0.0), acc)
            end = b.add(first, types.i64(_BLOCK))
            limit = types.i64(stop) if isinstance(stop, int) else stop
            end = b.select(b.icmp_signed("<", end, limit), end, limit)
            with for_range(b, end, start=first) as j:
                value = x.load(_full_index(x.aval.ndim, axes, outer, inner + [j]))
                b.store(b.fadd(b.load(acc), value, flags=_REASSOC), acc)
            part = b.load(acc)
            part = part if typ == types.F64 else b.fpext(part, types.F64)
            b.store(b.fadd(b.load(total), part), total)
    return b.load(total)


def _store_sum(ctx, out, index, total):
    typ = types.compute_type(out.aval.dtype)
    _store_result(ctx, out, index, total if typ == types.F64 else ctx.b.fptrunc(total, typ))


def _reduce_in_register(ctx, prim, x, out, axes, combine):
    """Each output element reduced in a register; a large reduction into one element is
    cut into chunks (``_chunking``) reduced into scratch slots, combined in order."""
    b, dt = ctx.b, x.aval.dtype
    chunking = _chunking(x, axes, _CHUNKS, 1) if out.aval.size == 1 else None
    if chunking is None:
        with parallel_loops.nest(ctx, out.aval.shape, x.aval.size) as outer:
            _store_result(ctx, out, outer, _fold(ctx, prim, x, axes, outer, None, combine))
        return
    axis, length, count = chunking
    partial = ctx.scratch(ShapedArray((count,), np.dtype(np.float32) if types.is_f16(dt)
                                      else dt), "reduction chunks")
    zeros = [types.i64(0)] * out.aval.ndim
    with parallel_loops.nest(ctx, (count,), x.aval.size) as (k,):
        chunk = _chunk(b, k, length, x, axis)
        partial.store([k], _fold(ctx, prim, x, axes, zeros, chunk, combine))
    acc = ctx.alloca(types.compute_type(dt), "acc")
    b.store(partial.load([types.i64(0)]), acc)
    with for_range(b, count, start=1) as k:
        b.store(combine(b.load(acc), partial.load([k])), acc)
    _store_result(ctx, out, zeros, b.load(acc))


def _fold(ctx, prim, x, axes, outer, chunk, combine):
    """``x`` reduced over ``axes`` at the kept index ``outer`` in a register; ``chunk`` =
    ``(axis, lo, hi)`` limits one axis."""
    b = ctx.b
    acc = ctx.alloca(types.compute_type(x.aval.dtype), "acc")
    b.store(_identity(prim, x.aval.dtype), acc)
    with _ranges(b, axes, x.aval.shape, chunk) as inner:
        value = x.load(_full_index(x.aval.ndim, axes, outer, inner))
        b.store(combine(b.load(acc), value), acc)
    return b.load(acc)


def _store_result(ctx, out, index, result):
    out.store(index, types.round_f16(ctx.b, result) if types.is_f16(out.aval.dtype)
              else result)


@register("buffer", ops.argmax_p, ops.argmin_p)
def _arg_reduce(ctx, eqn, ins, outs):
    (x,), (out,), b = ins, outs, ctx.b
    dt, axis = x.aval.dtype, eqn.params["axis"]
    better = ">" if eqn.primitive is ops.argmax_p else "<"
    best = ctx.alloca(types.compute_type(dt), "best")
    best_i = ctx.alloca(types.I64, "best_i")
    with loop_nest(b, out.aval.shape) as outer:
        b.store(x.load(_full_index(x.aval.ndim, (axis,), outer, [types.i64(0)])), best)
        b.store(types.i64(0), best_i)
        with for_range(b, x.aval.shape[axis], start=1) as k:
            v, cur = x.load(_full_index(x.aval.ndim, (axis,), outer, [k])), b.load(best)
            if dt.kind == "f":  # the first NaN wins, as in JAX
                wins = b.or_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered(better, v, cur))
                take = b.and_(b.fcmp_ordered("ord", cur, cur), wins)
            else:
                take = (b.icmp_signed if dt.kind == "i" else b.icmp_unsigned)(better, v, cur)
            b.store(b.select(take, v, cur), best)
            b.store(b.select(take, k, b.load(best_i)), best_i)
        index = b.load(best_i)
        out_t = types.compute_type(out.aval.dtype)
        out.store(outer, b.trunc(index, out_t) if out_t.width < 64 else index)


_CUMULATIVE = {ops.cumsum_p: ew.add_p, ops.cumprod_p: ew.mul_p, ops.cummax_p: ew.max_p,
               ops.cummin_p: ew.min_p}


@register("buffer", *_CUMULATIVE)
def _cumulative(ctx, eqn, ins, outs):
    (x,), (out,), b = ins, outs, ctx.b
    dt, axis, reverse = x.aval.dtype, eqn.params["axis"], eqn.params.get("reverse", False)
    combine = SCALAR[_CUMULATIVE[eqn.primitive]]
    n = x.aval.shape[axis]
    acc = ctx.alloca(types.compute_type(dt), "acc")
    rest = [s for d, s in enumerate(x.aval.shape) if d != axis]
    with loop_nest(b, rest) as outer:
        loop = for_range(b, -1, start=n - 1, step=-1) if reverse else for_range(b, n)
        with loop as k:
            idx = _full_index(x.aval.ndim, (axis,), outer, [k])
            first = b.icmp_signed("==", k, types.i64(n - 1 if reverse else 0))
            v = x.load(idx)
            new = combine(ctx, dt, b.select(first, v, b.load(acc)), v)
            new = b.select(first, v, types.round_f16(b, new) if types.is_f16(dt) else new)
            b.store(new, acc)
            out.store(idx, new)
