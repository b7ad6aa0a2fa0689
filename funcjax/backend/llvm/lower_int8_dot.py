"""int8 x int8 -> int32 matrix products as a register-blocked kernel (quantized inference).

``gemm_int8`` computes ``c[m, n] = sum_k a[m, k] * b[k, n]`` exactly in int32. Both operands
are first packed as int16: ``a`` row by row with the contraction padded to even length, ``b``
in column panels of ``PANEL`` outputs where each pair of contraction steps is interleaved
(``[panel, k/2, PANEL, 2]``). The micro-kernel then keeps ``ROWS x PANEL/LANES`` vectors of
int32 accumulators in registers; each step loads one pair ``(a[i, 2k], a[i, 2k+1])`` as an
i32, splats it, and forms ``a0*b0 + a1*b1`` per lane by a widening multiply and an add of the
even and odd lanes. That is the pattern x86 selects as ``vpmaddwd`` (two products per lane,
twice an f32 FMA's work per instruction), and with AVX-512 VNNI or AVX-VNNI the accumulation
folds into ``vpdpwssd``; other targets get ordinary widening vector code. Products of two
int8 values and their pairwise sums fit int16 x int16 -> int32 without overflow, so the result
is the same as a scalar loop (int32 wraps identically).
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range
from funcjax.core.abstract import ShapedArray

LANES = 16  # int32 lanes per vector (512 bits; LLVM splits them on narrower targets)
PANEL = 2 * LANES  # outputs per column panel
ROWS = 4  # rows of the micro-kernel
_I8, _I16, _I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
_V16 = ir.VectorType(_I16, 2 * LANES)
_V32 = ir.VectorType(_I32, LANES)
_WIDE = ir.VectorType(_I32, 2 * LANES)
_EVEN = ir.Constant(ir.VectorType(_I32, LANES), [2 * i for i in range(LANES)])
_ODD = ir.Constant(ir.VectorType(_I32, LANES), [2 * i + 1 for i in range(LANES)])
_SPLAT = ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES)


def applies(lhs_dtype, rhs_dtype, out_dtype):
    """Whether a product of these types uses this kernel."""
    return lhs_dtype.name == rhs_dtype.name == "int8" and out_dtype.name == "int32"


def _i64(v):
    return types.i64(v) if isinstance(v, int) else v


def _load_i8(b, ptr, offset):
    return b.sext(b.load(b.gep(ptr, [offset], inbounds=True, source_etype=_I8), typ=_I8), _I16)


def _madd(b, x, y):
    """``x[2l] * y[2l] + x[2l+1] * y[2l+1]`` per int32 lane (vpmaddwd)."""
    p = b.mul(b.sext(x, _WIDE), b.sext(y, _WIDE))
    return b.add(b.shuffle_vector(p, p, _EVEN), b.shuffle_vector(p, p, _ODD))


def gemm_int8(ctx, a, a_t, b_ptr, b_t, c, m, n, k):
    """``c[m, n] (int32) = a @ b`` for int8 row-major element pointers: ``a`` is ``[m, k]``
    (``[k, m]`` when ``a_t``), ``b`` is ``[k, n]`` (``[n, k]`` when ``b_t``); sizes are ints."""
    b = ctx.b
    if m == 0 or n == 0:
        return
    kp = k + k % 2
    panels = -(-n // PANEL)
    i16 = np.dtype(np.int16)
    pa = ctx.scratch(ShapedArray((m * kp,), i16), "int8 gemm lhs panel")
    pb = ctx.scratch(ShapedArray((panels * kp * PANEL,), i16), "int8 gemm rhs panels")
    zero16 = ir.Constant(_I16, 0)
    # Pack a: pa[i, kk] = a[i, kk] (0 in the padding column)
    with for_range(b, m) as i:
        row = b.mul(i, types.i64(kp))
        with for_range(b, k) as kk:
            src = b.add(b.mul(kk, types.i64(m)), i) if a_t else b.add(b.mul(i, types.i64(k)), kk)
            b.store(_load_i8(b, a, src), pa.element(b.add(row, kk)))
        if kp != k:
            b.store(zero16, pa.element(b.add(row, types.i64(k))))
    # Pack b: pb[panel, kk // 2, j % PANEL, kk % 2] = b[kk, j] (0 past n and k)
    with for_range(b, panels * kp * PANEL) as t:
        b.store(zero16, pb.element(t))
    with for_range(b, k) as kk:
        with for_range(b, n) as j:
            src = b.add(b.mul(j, types.i64(k)), kk) if b_t else b.add(b.mul(kk, types.i64(n)), j)
            panel = b.udiv(j, types.i64(PANEL))
            lane = b.urem(j, types.i64(PANEL))
            dst = b.mul(panel, types.i64(kp * PANEL))
            dst = b.add(dst, b.mul(b.udiv(kk, types.i64(2)), types.i64(2 * PANEL)))
            dst = b.add(dst, b.add(b.mul(lane, types.i64(2)), b.urem(kk, types.i64(2))))
            b.store(_load_i8(b, b_ptr, src), pb.element(dst))
    accs = [[ctx.alloca(_V32, "acc") for _ in range(PANEL // LANES)] for _ in range(ROWS)]
    full = (m // ROWS) * ROWS
    with for_range(b, panels) as p:
        _rows(ctx, pa, pb, c, p, 0, full, ROWS, accs, n, kp)
        if full < m:
            _rows(ctx, pa, pb, c, p, full, m, 1, accs, n, kp)


def _rows(ctx, pa, pb, c, p, start, stop, rows, accs, n, kp):
    """The micro-kernel over rows ``start..stop`` in steps of ``rows``, for panel ``p``."""
    b = ctx.b
    u = PANEL // LANES
    zero = ir.Constant(_V32, [0] * LANES)
    with for_range(b, stop, start=start, step=rows) as i:
        for r in range(rows):
            for v in range(u):
                b.store(zero, accs[r][v])
        panel_base = b.mul(p, types.i64(kp * PANEL))
        with for_range(b, kp // 2) as kk:
            at = b.add(panel_base, b.mul(kk, types.i64(2 * PANEL)))
            ys = [b.load(pb.element(b.add(at, types.i64(2 * LANES * v))), typ=_V16, align=2)
                  for v in range(u)]
            for r in range(rows):
                pair_at = b.add(b.mul(b.add(i, types.i64(r)), types.i64(kp)),
                                b.mul(kk, types.i64(2)))
                pair = b.load(pa.element(pair_at), typ=_I32, align=4)
                x = b.insert_element(ir.Constant(_V32, None), pair, types.i64(0))
                x = b.bitcast(b.shuffle_vector(x, x, _SPLAT), _V16)
                for v in range(u):
                    b.store(b.add(b.load(accs[r][v]), _madd(b, x, ys[v])), accs[r][v])
        col = b.mul(p, types.i64(PANEL))
        whole = b.icmp_signed("<=", b.add(col, types.i64(PANEL)), types.i64(n))
        with b.if_else(whole) as (then, otherwise):
            with then:
                for r in range(rows):
                    row = b.mul(b.add(i, types.i64(r)), types.i64(n))
                    for v in range(u):
                        at = b.gep(c, [b.add(row, b.add(col, types.i64(LANES * v)))],
                                   inbounds=True, source_etype=_I32)
                        b.store(b.load(accs[r][v]), at, align=4)
            with otherwise:
                for r in range(rows):
                    row = b.mul(b.add(i, types.i64(r)), types.i64(n))
                    for v in range(u):
                        vec = b.load(accs[r][v])
                        for lane in range(LANES):
                            j = b.add(col, types.i64(LANES * v + lane))
                            with b.if_then(b.icmp_signed("<", j, types.i64(n))):
                                at = b.gep(c, [b.add(row, j)], inbounds=True, source_etype=_I32)
                                b.store(b.extract_element(vec, types.i64(lane)), at)
