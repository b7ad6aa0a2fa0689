"""Lowering of dynamic_slice, dynamic_update_slice, gather and the scatter family.

Data-dependent indices are made safe before any load or store, with exactly the eager
semantics: dynamic_slice/update starts clamp so the window fits; gather/scatter indices clamp
(``mode="clip"``) or are checked (``mode="fill"``: an out-of-range gather row gives the fill
value, an out-of-range scatter update is dropped). Gathers and slices are lazy and fuse;
scatters copy the operand into the output buffer and then apply the updates in order (so
repeated indices behave as numpy's ``a[idx] = u`` and ``np.add.at``).
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import loop_nest
from funcjax.backend.llvm.lower_elementwise import SCALAR, convert
from funcjax.backend.llvm.lower_shape import clamp
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Lazy, constant_value
from funcjax.ops import elementwise as ew
from funcjax.ops import indexing as ops


def _as_index(ctx, value, dtype):
    return convert(ctx, value, dtype, np.int64)


def _window_starts(ctx, x_shape, sizes, starts):
    """Start positions clamped so the window of ``sizes`` lies inside ``x_shape``."""
    return [clamp(ctx.b, _as_index(ctx, s.load([]), s.aval.dtype), 0, n - k)
            for s, n, k in zip(starts, x_shape, sizes)]


@register("view", ops.dynamic_slice_p)
def _dynamic_slice(ctx, eqn, ins):
    x, starts, b = ins[0], ins[1:], ctx.b
    sizes = eqn.params["slice_sizes"]
    out = eqn.outputs[0].aval

    def load(idx):
        begin = _window_starts(ctx, x.aval.shape, sizes, starts)
        return x.load([b.add(i, s) for i, s in zip(idx, begin)])
    return Lazy(out, load, cheap=x.cheap)


@register("view", ops.dynamic_update_slice_p)
def _dynamic_update_slice(ctx, eqn, ins):
    x, update, starts, b = ins[0], ins[1], ins[2:], ctx.b
    shape = update.aval.shape

    def load(idx):
        begin = _window_starts(ctx, x.aval.shape, shape, starts)
        inside, local = ir.Constant(types.I1, 1), []
        for i, s, k in zip(idx, begin, shape):
            j = b.sub(i, s)
            inside = b.and_(inside, b.and_(b.icmp_signed(">=", j, types.i64(0)),
                                           b.icmp_signed("<", j, types.i64(k))))
            local.append(clamp(b, j, 0, max(k - 1, 0)))
        if update.aval.size == 0:
            return x.load(idx)
        return b.select(inside, update.load(local), x.load(idx))
    return Lazy(eqn.outputs[0].aval, load, cheap=x.cheap and update.cheap)


def _positions(ctx, operand_shape, indices, axes, batch_idx, mode):
    """Per indexed axis the (safe) position, and whether the row was in range."""
    b = ctx.b
    valid, positions = ir.Constant(types.I1, 1), []
    for j, a in enumerate(axes):
        raw = _as_index(ctx, indices.load(batch_idx + [types.i64(j)]), indices.aval.dtype)
        n = operand_shape[a]
        if mode == "fill":
            valid = b.and_(valid, b.and_(b.icmp_signed(">=", raw, types.i64(0)),
                                         b.icmp_signed("<", raw, types.i64(n))))
        positions.append(clamp(b, raw, 0, n - 1))
    return positions, valid


def _operand_index(ndim, axes, positions, rest_idx):
    order = {a: k for k, a in enumerate(axes)}
    rest = iter(rest_idx)
    return [positions[order[d]] if d in order else next(rest) for d in range(ndim)]


@register("fused", ops.gather_p, rereads=lambda eqn: (0, 1))
def _gather(ctx, eqn, ins):
    (operand, indices), p, b = ins, eqn.params, ctx.b
    out = eqn.outputs[0].aval
    axes, mode = tuple(p["axes"]), p["mode"]
    fill = p.get("fill_value")
    fill = ops.default_fill_value(out.dtype) if fill is None else fill
    if any(operand.aval.shape[a] == 0 for a in axes):
        return constant_value(out, fill if mode == "fill" else 0)
    nbatch = indices.aval.ndim - 1
    fill_c = types.const(out.dtype, fill)

    def load(idx):
        positions, valid = _positions(ctx, operand.aval.shape, indices, axes, idx[:nbatch],
                                      mode)
        value = operand.load(_operand_index(operand.aval.ndim, axes, positions, idx[nbatch:]))
        return b.select(valid, value, fill_c) if mode == "fill" else value
    return Lazy(out, load)


_COMBINE = {ops.scatter_add_p: ew.add_p, ops.scatter_mul_p: ew.mul_p,
            ops.scatter_min_p: ew.min_p, ops.scatter_max_p: ew.max_p}


@register("buffer", ops.scatter_p, *_COMBINE)
def _scatter(ctx, eqn, ins, outs):
    (operand, indices, updates), (out,), b = ins, outs, ctx.b
    axes, mode = tuple(eqn.params["axes"]), eqn.params["mode"]
    ctx.materialize(operand, out)
    if any(operand.aval.shape[a] == 0 for a in axes):
        return
    dt = out.aval.dtype
    combine = SCALAR[_COMBINE[eqn.primitive]] if eqn.primitive in _COMBINE else None
    nbatch = indices.aval.ndim - 1
    with loop_nest(b, indices.aval.shape[:-1]) as batch_idx:
        positions, valid = _positions(ctx, operand.aval.shape, indices, axes, batch_idx, mode)
        with b.if_then(valid):
            with loop_nest(b, updates.aval.shape[nbatch:]) as rest_idx:
                target = _operand_index(out.aval.ndim, axes, positions, rest_idx)
                new = updates.load(batch_idx + rest_idx)
                if combine is not None:
                    new = combine(ctx, dt, out.load(target), new)
                    new = types.round_f16(b, new) if types.is_f16(dt) else new
                out.store(target, new)
