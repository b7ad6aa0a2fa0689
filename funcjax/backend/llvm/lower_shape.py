"""Lowering of the structural primitives as index remappings (``view`` rules).

Each output element is an input element at a computed index, so these cost no memory and no
loop of their own: they fuse into whatever consumes them. Where an element may come from
several operands (pad, concatenate) every candidate is loaded at an index clamped into its
own operand and the right one is selected: loads never leave their buffers, and the
branch-free form vectorises. Reshapes of buffers are free (same memory, new shape).
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import transpose, types
from funcjax.backend.llvm.lower_elementwise import convert
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Buffer, Lazy, ravel, unravel
from funcjax.ops import shape as ops


def clamp(b, i, lo, hi):
    """``min(max(i, lo), hi)`` on signed i64 values (``lo``/``hi`` may be ints)."""
    lo, hi = (types.i64(v) if isinstance(v, int) else v for v in (lo, hi))
    i = b.select(b.icmp_signed("<", i, lo), lo, i)
    return b.select(b.icmp_signed(">", i, hi), hi, i)


def remap(x, aval, index_fn):
    """The value whose element at ``idx`` is ``x``'s element at ``index_fn(idx)``."""
    return Lazy(aval, lambda idx: x.load(index_fn(idx)), cheap=x.cheap)


def _out(eqn):
    return eqn.outputs[0].aval


def _broadcast_rereads(eqn):
    return (0,) if _out(eqn).size > eqn.inputs[0].aval.size else ()


@register("view", ops.broadcast_in_dim_p, rereads=_broadcast_rereads)
def _broadcast_in_dim(ctx, eqn, ins):
    (x,) = ins
    dims = eqn.params["broadcast_dimensions"]
    zero = types.i64(0)
    return remap(x, _out(eqn), lambda idx: [zero if n == 1 else idx[d]
                                            for n, d in zip(x.aval.shape, dims)])


@register("view", ops.reshape_p, ops.squeeze_p, ops.expand_dims_p)
def _reshape(ctx, eqn, ins):
    (x,), out = ins, _out(eqn)
    if isinstance(x, Buffer):
        return x.reshaped(out)
    b = ctx.b
    return remap(x, out, lambda idx: unravel(b, ravel(b, idx, out.shape), x.aval.shape))


@register("view", ops.transpose_p)
def _transpose(ctx, eqn, ins):
    (x,), perm = ins, eqn.params["permutation"]
    if transpose.stageable(x, perm):
        return transpose.Transposed(ctx, x, _out(eqn), perm)
    inverse = [perm.index(d) for d in range(len(perm))]
    return remap(x, _out(eqn), lambda idx: [idx[inverse[d]] for d in range(len(perm))])


@register("view", ops.rev_p)
def _rev(ctx, eqn, ins):
    (x,), dims, b = ins, set(eqn.params["dimensions"]), ctx.b
    return remap(x, _out(eqn), lambda idx: [
        b.sub(types.i64(n - 1), i) if d in dims else i
        for d, (i, n) in enumerate(zip(idx, x.aval.shape))])


@register("view", ops.slice_p)
def _slice(ctx, eqn, ins):
    (x,), b, p = ins, ctx.b, eqn.params
    strides = p.get("strides") or (1,) * x.aval.ndim

    def index(idx):
        return [b.add(types.i64(s), i if st == 1 else b.mul(i, types.i64(st)))
                for i, s, st in zip(idx, p["start_indices"], strides)]
    return remap(x, _out(eqn), index)


@register("view", ops.iota_p)
def _iota(ctx, eqn, ins):
    out, dim = _out(eqn), eqn.params["dimension"]
    return Lazy(out, lambda idx: convert(ctx, idx[dim], np.int64, out.dtype), cheap=True)


@register("view", ops.pad_p)
def _pad(ctx, eqn, ins):
    (x, fill), b = ins, ctx.b
    config = eqn.params["padding_config"]

    def load(idx):
        inside, src = ir.Constant(types.I1, 1), []
        for i, n, (lo, _, interior) in zip(idx, x.aval.shape, config):
            j = b.sub(i, types.i64(lo))
            step = interior + 1
            q = b.sdiv(j, types.i64(step)) if step > 1 else j
            ok = b.and_(b.icmp_signed(">=", j, types.i64(0)),
                        b.icmp_signed("<", q, types.i64(n)))
            if step > 1:
                ok = b.and_(ok, b.icmp_signed("==", b.srem(j, types.i64(step)), types.i64(0)))
            inside = b.and_(inside, ok)
            src.append(clamp(b, q, 0, max(n - 1, 0)))
        if x.aval.size == 0:
            return fill.load([])
        return b.select(inside, x.load(src), fill.load([]))
    return Lazy(_out(eqn), load, cheap=x.cheap)


@register("view", ops.concatenate_p)
def _concatenate(ctx, eqn, ins):
    d, b = eqn.params["dimension"], ctx.b
    parts, offset = [], 0
    for x in ins:
        if x.aval.shape[d]:
            parts.append((offset, x))
        offset += x.aval.shape[d]

    def load(idx):  # never runs when every part is empty, but must still emit a value
        out = types.const(_out(eqn).dtype, 0)
        for start, x in parts:
            local = clamp(b, b.sub(idx[d], types.i64(start)), 0, x.aval.shape[d] - 1)
            value = x.load(idx[:d] + [local] + idx[d + 1:])
            out = value if start == 0 else b.select(
                b.icmp_signed(">=", idx[d], types.i64(start)), value, out)
        return out
    return Lazy(_out(eqn), load, cheap=all(x.cheap for x in ins))
