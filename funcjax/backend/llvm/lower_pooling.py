"""Lowering of the pooling primitives (``funcjax.ops.pooling``) as loop nests that vectorise.

Every rule sweeps the windows in one order: the output's leading axes outside, the window
taps in the middle, the output's last axis innermost. Each tap is then one pass along
output rows that combines into the output in memory, so the inner loop is a contiguous,
vectorised walk for channels-last pooling (the last axis has a window of one), with no
per-element bounds check where the window cannot leave the operand.

Max/min pooling's derivative maps select each window's first maximum (or first NaN, as
``np.argmax``): the same sweep keeps the best value so far per output element, and the
tangent there (``select_and_gather_add``) or the tap it came from
(``select_and_scatter_add``, which then adds each source element at its window's tap).
"""

import math

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.backend.llvm.lower_elementwise import SCALAR
from funcjax.backend.llvm.lower_shape import clamp
from funcjax.backend.llvm.lowering import register
from funcjax.core.abstract import ShapedArray
from funcjax.ops import elementwise as ew
from funcjax.ops import pooling as ops

_KIND = {ops.reduce_window_sum_p: "sum", ops.reduce_window_max_p: "max",
         ops.reduce_window_min_p: "min"}


class _Windows:
    """The geometry of one windowed operation over an operand of ``shape``."""

    def __init__(self, params, shape):
        self.shape = shape
        self.window = params["window_dimensions"]
        self.strides, self.padding = params["window_strides"], params["padding"]
        self.base, self.wdil = params["base_dilation"], params["window_dilation"]
        self.extent = ops.dilated(shape, self.base)

    def position(self, b, out_idx, taps):
        """(clamped operand index, in bounds?) of tap ``taps`` of window ``out_idx``."""
        idx, ok = [], ir.Constant(types.I1, 1)
        for d, (o, t) in enumerate(zip(out_idx, taps)):
            lo, hi = self.padding[d]
            pos = b.add(b.mul(o, types.i64(self.strides[d])),
                        b.mul(t, types.i64(self.wdil[d])))
            if lo:
                pos = b.sub(pos, types.i64(lo))
                ok = b.and_(ok, b.icmp_signed(">=", pos, types.i64(0)))
            if hi:  # without high padding, no window reaches past the operand
                ok = b.and_(ok, b.icmp_signed("<", pos, types.i64(self.extent[d])))
            if self.base[d] != 1:
                step = types.i64(self.base[d])
                ok = b.and_(ok, b.icmp_signed("==", b.srem(pos, step), types.i64(0)))
                pos = b.sdiv(pos, step)
            idx.append(clamp(b, pos, 0, max(self.shape[d] - 1, 0)) if lo or hi else pos)
        return idx, ok

    def tap_number(self, b, taps):
        k = types.i64(0)
        for t, w in zip(taps, self.window):
            k = b.add(b.mul(k, types.i64(w)), t)
        return k

    def taps_of(self, b, k):
        taps = []
        for d, w in enumerate(self.window):
            inner = math.prod(self.window[d + 1:])
            taps.append(b.urem(b.udiv(k, types.i64(inner)), types.i64(w)))
        return taps


def _sweep(b, out_shape, window, body):
    """``body(out_idx, taps)`` for every window and tap, the output's last axis innermost."""
    if not out_shape:
        with loop_nest(b, window) as taps:
            body([], taps)
        return
    with loop_nest(b, out_shape[:-1]) as outer:
        with loop_nest(b, window) as taps:
            with for_range(b, out_shape[-1]) as j:
                body(list(outer) + [j], taps)


def _combiner(ctx, kind, dt):
    b = ctx.b
    if kind == "sum":
        return (lambda acc, v: b.fadd(acc, v)) if dt.kind == "f" else b.add
    if dt.kind == "f":  # NaN-propagating, as np.max
        name = "maximum" if kind == "max" else "minimum"
        suffix = "f64" if types.compute_type(dt) == types.F64 else "f32"
        return lambda acc, v: ctx.call(f"llvm.{name}.{suffix}", acc.type, [acc, v])
    return lambda acc, v: SCALAR[ew.max_p if kind == "max" else ew.min_p](ctx, dt, acc, v)


@register("buffer", *_KIND, rereads=lambda eqn: (0,))
def _reduce_window(ctx, eqn, ins, outs):
    (x,), (out,) = ins, outs
    b, dt, kind = ctx.b, out.aval.dtype, _KIND[eqn.primitive]
    geo = _Windows(eqn.params, x.aval.shape)
    identity = types.const(dt, ops.identity(kind, dt))
    combine = _combiner(ctx, kind, dt)
    with loop_nest(b, out.aval.shape) as idx:
        out.store(idx, identity)
    if x.aval.size == 0:
        return

    def body(idx, taps):
        pos, ok = geo.position(b, idx, taps)
        value = b.select(ok, x.load(pos), identity)
        out.store(idx, combine(out.load(idx), value))
    _sweep(b, out.aval.shape, geo.window, body)


def _better(b, select, dt, v, cur):
    """Whether ``v`` replaces ``cur`` as the selected value: strictly better, or the first
    NaN."""
    if dt.kind == "f":
        strict = b.fcmp_ordered(">" if select == "max" else "<", v, cur)
        return b.or_(strict, b.and_(b.fcmp_unordered("uno", v, v),
                                    b.fcmp_ordered("ord", cur, cur)))
    cmp = b.icmp_signed if dt.kind == "i" else b.icmp_unsigned
    return cmp(">" if select == "max" else "<", v, cur)


def _select_sweep(ctx, eqn, x, keep):
    """Sweeps the windows of ``x`` keeping the best value so far in a scratch buffer;
    ``keep(idx, take, pos, ok, k)`` records what goes with it where ``take``."""
    b, dt = ctx.b, x.aval.dtype
    select = eqn.params["select"]
    geo = _Windows(eqn.params, x.aval.shape)
    out_shape = ops.out_shape("select", x.aval.shape, **{
        k: eqn.params[k] for k in ops.WINDOW_PARAMS})
    best = ctx.scratch(ShapedArray(out_shape, dt), "best in window")
    identity = types.const(dt, ops.identity(select, dt))

    def body(idx, taps):
        pos, ok = geo.position(b, idx, taps)
        value = b.select(ok, x.load(pos), identity)
        cur = best.load(idx)
        k = geo.tap_number(b, taps)
        take = b.or_(b.icmp_signed("==", k, types.i64(0)), _better(b, select, dt, value, cur))
        best.store(idx, b.select(take, value, cur))
        keep(idx, take, pos, ok, k)
    if x.aval.size:
        _sweep(b, out_shape, geo.window, body)
    return geo, out_shape


@register("buffer", ops.select_and_gather_add_p, rereads=lambda eqn: (0, 1))
def _select_and_gather_add(ctx, eqn, ins, outs):
    (t, x), (out,) = ins, outs
    b, zero = ctx.b, types.const(out.aval.dtype, 0)
    if x.aval.size == 0:
        with loop_nest(b, out.aval.shape) as idx:
            out.store(idx, zero)
        return

    def keep(idx, take, pos, ok, k):
        tangent = b.select(ok, t.load(pos), zero)
        out.store(idx, b.select(take, tangent, out.load(idx)))
    _select_sweep(ctx, eqn, x, keep)


@register("buffer", ops.select_and_scatter_add_p, rereads=lambda eqn: (0, 1))
def _select_and_scatter_add(ctx, eqn, ins, outs):
    (s, x), (out,) = ins, outs
    b, dt = ctx.b, out.aval.dtype
    zero = types.const(dt, 0)
    with loop_nest(b, out.aval.shape) as idx:
        out.store(idx, zero)
    if x.aval.size == 0:
        return
    arg = ctx.scratch(ShapedArray(s.aval.shape, np.dtype(np.int64)), "selected tap")

    def keep(idx, take, pos, ok, k):
        arg.store(idx, b.select(take, k, arg.load(idx)))
    geo, out_shape = _select_sweep(ctx, eqn, x, keep)
    add = (lambda a, v: b.fadd(a, v)) if dt.kind == "f" else b.add
    with loop_nest(b, out_shape) as idx:
        pos, ok = geo.position(b, idx, geo.taps_of(b, arg.load(idx)))
        out.store(pos, add(out.load(pos), b.select(ok, s.load(idx), zero)))
