"""Lowering of conv_general_dilated: Winograd (winograd.py) for 3x3 stride-1 float convolutions
and their weight gradients, im2col + BLAS gemm for other large ones, a direct loop nest
otherwise.

im2col copies, for one batch element, every input element each output position's window
reads into a patch matrix P (zeros where the window hangs over the padding or falls between
dilated input elements), so that the convolution of that element is one matrix product with
the kernel matrix W. The product is laid out to match the output: ``P[S, K] @ W[K, O]`` when
the features are the output's last axis (NHWC), ``W[O, K] @ P[K, S]`` when they come before
the spatial axes (NCHW); any other output layout goes through a scratch buffer. Grouped
convolutions, integers, float16 and small sizes use the direct loop (one accumulator
register per output element). benchmarks/bench_conv.py measures both.
"""

import math

from llvmlite import ir

from funcjax.backend.llvm import blas, lower_int8_dot, types, winograd
from funcjax.backend.llvm.loops import for_range, index_at, loop_nest
from funcjax.backend.llvm.lower_elementwise import convert
from funcjax.backend.llvm.lower_shape import clamp
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Lazy
from funcjax.core.abstract import ShapedArray
from funcjax.ops.convolution import conv_general_dilated_p

BLAS_MIN_FLOPS = 2 * 32 ** 3
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_I32 = ir.IntType(32)


class _Geometry:
    """Shapes and parameters of one convolution in canonical (N, C, spatial) order."""

    def __init__(self, eqn):
        p = eqn.params
        self.lhs_spec, self.rhs_spec, self.out_spec = p["dimension_numbers"]
        lhs, rhs = (x.aval for x in eqn.inputs)
        out = eqn.outputs[0].aval
        self.in_sp = [lhs.shape[d] for d in self.lhs_spec[2:]]
        self.kernel = [rhs.shape[d] for d in self.rhs_spec[2:]]
        self.out_sp = [out.shape[d] for d in self.out_spec[2:]]
        self.n_out, self.o = out.shape[self.out_spec[0]], out.shape[self.out_spec[1]]
        self.i = rhs.shape[self.rhs_spec[1]]
        self.strides, self.padding = p["window_strides"], p["padding"]
        self.lhs_dil, self.rhs_dil = p["lhs_dilation"], p["rhs_dilation"]
        self.fgc, self.bgc = p["feature_group_count"], p["batch_group_count"]

    def input_position(self, b, out_pos, k):
        """(clamped index, in bounds?) of the input element under kernel tap ``k`` of output
        positions ``out_pos`` (lists of i64 values, one per spatial axis)."""
        idx, ok = [], ir.Constant(types.I1, 1)
        for d, (o, t) in enumerate(zip(out_pos, k)):
            pos = b.add(b.mul(o, types.i64(self.strides[d])),
                        b.sub(b.mul(t, types.i64(self.rhs_dil[d])),
                              types.i64(self.padding[d][0])))
            size = self.in_sp[d]
            extent = 0 if size == 0 else 1 + self.lhs_dil[d] * (size - 1)
            ok = b.and_(ok, b.and_(b.icmp_signed(">=", pos, types.i64(0)),
                                   b.icmp_signed("<", pos, types.i64(extent))))
            if self.lhs_dil[d] != 1:
                ld = types.i64(self.lhs_dil[d])
                ok = b.and_(ok, b.icmp_signed("==", b.srem(pos, ld), types.i64(0)))
                pos = b.sdiv(pos, ld)
            idx.append(clamp(b, pos, 0, max(size - 1, 0)))
        return idx, ok


def _direct(ctx, g, lhs, rhs, out):
    """out[n, o, s] = sum over the group's input features c and taps k of lhs * rhs."""
    b = ctx.b
    dt = out.aval.dtype
    acc = ctx.alloca(types.compute_type(dt), "acc")
    o_per_group = g.o // max(g.fgc, g.bgc)
    with loop_nest(b, out.aval.shape) as oidx:
        n, o = oidx[g.out_spec[0]], oidx[g.out_spec[1]]
        out_pos = [oidx[d] for d in g.out_spec[2:]]
        group = b.udiv(o, types.i64(o_per_group))
        c0 = b.mul(group, types.i64(g.i)) if g.fgc > 1 else types.i64(0)
        n_lhs = b.add(n, b.mul(group, types.i64(g.n_out))) if g.bgc > 1 else n
        b.store(types.const(dt, 0), acc)
        with loop_nest(b, [g.i] + g.kernel) as kidx:
            c, k = kidx[0], kidx[1:]
            pos, ok = g.input_position(b, out_pos, k)
            x = lhs.load(index_at(lhs.aval.ndim, g.lhs_spec, [n_lhs, b.add(c0, c)] + pos))
            w = rhs.load(index_at(rhs.aval.ndim, g.rhs_spec, [o, c] + list(k)))
            x = convert(ctx, x, lhs.aval.dtype, dt)
            w = convert(ctx, w, rhs.aval.dtype, dt)
            cur = b.load(acc)
            if dt.kind == "f":
                term = b.select(ok, b.fmul(x, w), types.const(dt, 0))
                new = b.fadd(cur, term, flags=("reassoc", "contract"))
            else:
                new = b.add(cur, b.select(ok, b.mul(x, w), types.const(dt, 0)))
            b.store(new, acc)
        result = b.load(acc)
        out.store(oidx, types.round_f16(b, result) if types.is_f16(dt) else result)


def _gemm(ctx, ft, a, b_, c, m, n, k, transpose_a=False, beta=None):
    """c[m, n] = a[m, k] @ b_[k, n] (row-major element pointers) with the bundled BLAS;
    ``transpose_a``: a is stored as [k, m]; ``beta`` (an IR value, float only): adds
    ``beta * c``."""
    if isinstance(ft, ir.IntType):  # int8 operands, int32 result (quantized inference)
        return lower_int8_dot.gemm_int8(ctx, a, transpose_a, b_, False, c, m, n, k)
    name = blas.SGEMM if ft == types.F32 else blas.DGEMM
    i64, ptr = types.I64, types.PTR
    fn = ctx.extern(name, ir.VoidType(), [_I32, _I32, _I32, i64, i64, i64, ft, ptr, i64, ptr,
                                          i64, ft, ptr, i64], pure=False)
    ctx.b.call(fn, [ir.Constant(_I32, _ROW_MAJOR),
                    ir.Constant(_I32, _TRANS if transpose_a else _NO_TRANS),
                    ir.Constant(_I32, _NO_TRANS), types.i64(m), types.i64(n), types.i64(k),
                    ir.Constant(ft, 1.0), a, types.i64(m if transpose_a else k), b_,
                    types.i64(n), ir.Constant(ft, 0.0) if beta is None else beta, c,
                    types.i64(n)])


def _copy_rows(ctx, g, lhs, patches, outer_shape, inner, where, element):
    """Fills the patch matrix row by row: for each outer index ``o``, ``where(o)`` gives the
    output position and kernel tap (so one bounds check per row), and the row's ``inner``
    elements ``element(o, j) -> (n, c, patch index)`` are copied, or zeroed in the padding.
    The row runs along a contiguous axis of lhs in channels-last layouts, so it vectorises."""
    b = ctx.b
    zero = types.const(patches.aval.dtype, 0)
    with loop_nest(b, outer_shape) as o:
        out_pos, k = where(o)
        pos, ok = g.input_position(b, out_pos, k)
        with b.if_else(ok) as (inside, padding):
            with inside:
                with for_range(b, inner) as j:
                    n, c, pidx = element(o, j)
                    patches.store(pidx, lhs.load(index_at(lhs.aval.ndim, g.lhs_spec,
                                                          [n, c] + pos)))
            with padding:
                with for_range(b, inner) as j:
                    patches.store(element(o, j)[2], zero)


def _im2col_by_position(ctx, g, lhs, rhs, out):
    """For few output positions and a large batch (a weight gradient: the "batch" is the
    input features, the "window" the whole image): per output position s, one gemm
    ``R_s[n, o] = P_s[k, n]^T @ W[k, o]`` whose patch matrix rows are read along the batch,
    which is contiguous in channels-last layouts."""
    b = ctx.b
    dt, it = out.aval.dtype, lhs.aval.dtype  # it: operands (int8 for an int32 result)
    ns = math.prod(g.out_sp)
    nk = g.i * math.prod(g.kernel)
    w_aval = ShapedArray((g.i,) + tuple(g.kernel) + (g.o,), it)
    w = ctx.as_buffer(Lazy(w_aval, lambda idx: rhs.load(
        index_at(rhs.aval.ndim, g.rhs_spec, [idx[-1], idx[0]] + idx[1:-1]))))
    p_shape = (g.i,) + tuple(g.kernel) + (g.n_out,)
    patches = ctx.scratch(ShapedArray(p_shape, it), "im2col patches")
    result = ctx.scratch(ShapedArray((ns, g.n_out, g.o), dt), "conv result")
    ft = types.compute_type(dt)
    with loop_nest(b, g.out_sp) as out_pos:
        _copy_rows(ctx, g, lhs, patches, p_shape[:-1], g.n_out,
                   lambda o: (out_pos, o[1:]),
                   lambda o, j: (j, o[0], list(o) + [j]))
        s = types.i64(0)
        for i, size in zip(out_pos, g.out_sp):
            s = b.add(b.mul(s, types.i64(size)), i)
        _gemm(ctx, ft, patches.element(types.i64(0)), w.element(types.i64(0)),
              result.element(b.mul(s, types.i64(g.n_out * g.o))), g.n_out, g.o, nk,
              transpose_a=True)
    with loop_nest(b, out.aval.shape) as oidx:
        n, o = oidx[g.out_spec[0]], oidx[g.out_spec[1]]
        s = types.i64(0)
        for d, size in zip(g.out_spec[2:], g.out_sp):
            s = b.add(b.mul(s, types.i64(size)), oidx[d])
        out.store(oidx, result.load([s, n, o]))


def _im2col(ctx, g, lhs, rhs, out):
    b = ctx.b
    dt, it = out.aval.dtype, lhs.aval.dtype  # it: operands (int8 for an int32 result)
    ns, nd = math.prod(g.out_sp), len(g.out_sp)
    nk = g.i * math.prod(g.kernel)
    spatial_major = g.out_spec[1] > max(g.out_spec[2:], default=-1)
    zero = types.const(it, 0)
    # The kernel matrix: W[K, O] with K = (taps..., c), or W[O, K] with K = (c, taps...).
    if spatial_major:
        w_aval = ShapedArray(tuple(g.kernel) + (g.i, g.o), it)
        w_index = lambda idx: index_at(rhs.aval.ndim, g.rhs_spec, [idx[-1], idx[-2]] + idx[:-2])
    else:
        w_aval = ShapedArray((g.o, g.i) + tuple(g.kernel), it)
        w_index = lambda idx: index_at(rhs.aval.ndim, g.rhs_spec, idx)  # noqa: E731
    w = ctx.as_buffer(Lazy(w_aval, lambda idx: rhs.load(w_index(idx))))
    p_shape = tuple(g.out_sp) + tuple(g.kernel) + (g.i,) if spatial_major else \
        (g.i,) + tuple(g.kernel) + tuple(g.out_sp)
    patches = ctx.scratch(ShapedArray(p_shape, it), "im2col patches")
    direct = tuple(g.out_spec) == ((0, out.aval.ndim - 1) + tuple(range(1, 1 + nd))
                                   if spatial_major else tuple(range(out.aval.ndim)))
    r_shape = (g.n_out,) + ((ns, g.o) if spatial_major else (g.o, ns))
    result = out if direct else ctx.scratch(ShapedArray(r_shape, dt), "conv result")
    with for_range(b, g.n_out) as n:
        if spatial_major:
            _copy_rows(ctx, g, lhs, patches, p_shape[:-1], g.i,
                       lambda o: (o[:nd], o[nd:]),
                       lambda o, j: (n, j, list(o) + [j]))
        else:
            with loop_nest(b, p_shape) as pidx:
                c, k, out_pos = pidx[0], pidx[1:1 + nd], pidx[1 + nd:]
                pos, ok = g.input_position(b, out_pos, k)
                x = lhs.load(index_at(lhs.aval.ndim, g.lhs_spec, [n, c] + pos))
                patches.store(pidx, b.select(ok, x, zero))
        target = result.element(b.mul(n, types.i64(ns * g.o)))
        ft = types.compute_type(dt)
        if spatial_major:
            _gemm(ctx, ft, patches.element(types.i64(0)), w.element(types.i64(0)), target,
                  ns, g.o, nk)
        else:
            _gemm(ctx, ft, w.element(types.i64(0)), patches.element(types.i64(0)), target,
                  g.o, ns, nk)
    if not direct:
        with loop_nest(b, out.aval.shape) as oidx:
            n, o = oidx[g.out_spec[0]], oidx[g.out_spec[1]]
            s = types.i64(0)
            for d, size in zip(g.out_spec[2:], g.out_sp):
                s = b.add(b.mul(s, types.i64(size)), oidx[d])
            out.store(oidx, result.load([n, s, o] if spatial_major else [n, o, s]))


def use_blas(eqn):
    """Float32/float64 (or int8 -> int32) ungrouped convolutions big enough that a gemm call
    pays for itself."""
    out = eqn.outputs[0].aval
    dt, p = out.dtype, eqn.params
    lhs, rhs = (x.aval for x in eqn.inputs)
    taps = rhs.size // max(rhs.shape[p["dimension_numbers"].rhs_spec[0]], 1)
    int8 = lower_int8_dot.applies(lhs.dtype, rhs.dtype, dt)  # the int8 kernel, not BLAS
    return ((int8 or dt.kind == "f" and dt.itemsize >= 4 and lhs.dtype == dt)
            and p["feature_group_count"] == 1 and p["batch_group_count"] == 1
            and 2 * out.size * taps >= BLAS_MIN_FLOPS and out.size > 0 and taps > 0
            and (int8 or blas.available()))


@register("buffer", conv_general_dilated_p, rereads=lambda eqn: (0, 1))
def _conv(ctx, eqn, ins, outs):
    (lhs, rhs), (out,) = ins, outs
    g = _Geometry(eqn)
    if use_blas(eqn):
        fast = winograd.plan(g, out.aval.dtype)
        if fast is not None:
            ft = types.compute_type(out.aval.dtype)
            fast(ctx, g, lhs, rhs, out, lambda a, b_, c, m, n, k, transpose_a, beta:
                 _gemm(ctx, ft, a, b_, c, m, n, k, transpose_a, beta))
            return
        by_position = math.prod(g.out_sp) < g.n_out
        (_im2col_by_position if by_position else _im2col)(ctx, g, lhs, rhs, out)
    else:
        _direct(ctx, g, lhs, rhs, out)



