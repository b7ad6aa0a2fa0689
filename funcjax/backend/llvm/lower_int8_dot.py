"""int8 x int8 -> int32 matrix products as a register-blocked kernel (quantized inference).

``gemm_int8`` computes ``c[m, n] = sum_k a[m, k] * b[k, n]`` exactly in int32. The operands
are first packed: ``a`` row by row with the contraction padded to a multiple of ``G``, ``b`` in
column panels of ``PANEL`` outputs where each group of ``G`` contraction steps is interleaved
(``[panel, k/G, PANEL, G]``). The micro-kernel keeps ``ROWS x PANEL/LANES`` vectors of int32
accumulators in registers; each step loads ``G`` consecutive values of a row of ``a`` as one
i32, splats it, and adds per lane the dot product of those ``G`` values with the panel's ``G``
values for that output column:

- With AVX-512 VNNI, ``G = 4`` and one ``vpdpbusd`` does it (64 products per instruction, four
  times an f32 FMA). Its left operand is unsigned, so ``a`` is packed as ``a + 128`` (a flip of
  the sign bit) and the accumulators start at ``-128 * sum_k b[k, j]`` to cancel the offset.
- Elsewhere ``G = 2`` and operands are int16: a widening multiply and an add of the even and
  odd lanes, the pattern x86 selects as ``vpmaddwd`` (folded into ``vpdpwssd`` with
  AVX-VNNI); other targets get ordinary widening vector code.

Every partial sum fits int32 and int32 addition wraps, so the result equals a scalar loop.
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.compiler import host
from funcjax.backend.llvm.loops import for_range
from funcjax.core.abstract import ShapedArray

LANES = 16  # int32 lanes per vector (512 bits; LLVM splits them on narrower targets)
PANEL = 2 * LANES  # outputs per column panel
ROWS = 4  # rows of the micro-kernel
_I8, _I16, _I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
_V32 = ir.VectorType(_I32, LANES)
_EVEN = ir.Constant(ir.VectorType(_I32, LANES), [2 * i for i in range(LANES)])
_ODD = ir.Constant(ir.VectorType(_I32, LANES), [2 * i + 1 for i in range(LANES)])
_SPLAT = ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES)
_VPDPBUSD = "llvm.x86.avx512.vpdpbusd.512"


def vnni():
    """Whether this machine has AVX-512 VNNI (``vpdpbusd`` on 512-bit vectors)."""
    features = host()[1].split(",")
    return "+avx512vnni" in features and "+avx512bw" in features


def applies(lhs_dtype, rhs_dtype, out_dtype):
    """Whether a product of these types uses this kernel."""
    return lhs_dtype.name == rhs_dtype.name == "int8" and out_dtype.name == "int32"


def _i64(v):
    return types.i64(v) if isinstance(v, int) else v


def _load_i8(b, ptr, offset):
    return b.load(b.gep(ptr, [offset], inbounds=True, source_etype=_I8), typ=_I8)


def _madd(b, x, y):
    """``x[2l] * y[2l] + x[2l+1] * y[2l+1]`` per int32 lane (vpmaddwd)."""
    wide = ir.VectorType(_I32, 2 * LANES)
    p = b.mul(b.sext(x, wide), b.sext(y, wide))
    return b.add(b.shuffle_vector(p, p, _EVEN), b.shuffle_vector(p, p, _ODD))


class _Plan:
    """The packing of one product: group size ``g``, packed element type, step."""

    def __init__(self, ctx):
        self.dot4 = vnni()
        self.g = 4 if self.dot4 else 2
        self.elt = _I8 if self.dot4 else _I16
        self.dtype = np.dtype(np.int8 if self.dot4 else np.int16)
        self.vec = ir.VectorType(self.elt, LANES * self.g)
        if self.dot4:
            self.fn = ctx.extern(_VPDPBUSD, _V32, [_V32, self.vec, self.vec])

    def lhs(self, b, v):
        """A value of ``a`` as packed (int8 + 128 as uint8, or int16)."""
        return b.xor(v, ir.Constant(_I8, 0x80)) if self.dot4 else b.sext(v, _I16)

    def step(self, b, acc, x, y):
        if self.dot4:
            return b.call(self.fn, [acc, x, y])
        return b.add(acc, _madd(b, x, y))


def gemm_int8(ctx, a, a_t, b_ptr, b_t, c, m, n, k):
    """``c[m, n] (int32) = a @ b`` for int8 row-major element pointers: ``a`` is ``[m, k]``
    (``[k, m]`` when ``a_t``), ``b`` is ``[k, n]`` (``[n, k]`` when ``b_t``); sizes are ints."""
    b = ctx.b
    if m == 0 or n == 0:
        return
    plan = _Plan(ctx)
    g = plan.g
    kp = -(-k // g) * g
    panels = -(-n // PANEL)
    pa = ctx.scratch(ShapedArray((m * kp,), plan.dtype), "int8 gemm lhs rows")
    pb = ctx.scratch(ShapedArray((panels * kp * PANEL,), plan.dtype), "int8 gemm rhs panels")
    start = ctx.scratch(ShapedArray((panels * PANEL,), np.dtype(np.int32)), "int8 gemm start")
    zero = ir.Constant(plan.elt, 0)
    # Pack a: pa[i, kk] = a[i, kk] (0 in the padding)
    with for_range(b, m) as i:
        row = b.mul(i, types.i64(kp))
        with for_range(b, k) as kk:
            src = b.add(b.mul(kk, types.i64(m)), i) if a_t else b.add(b.mul(i, types.i64(k)), kk)
            b.store(plan.lhs(b, _load_i8(b, a, src)), pa.element(b.add(row, kk)))
        for kk in range(k, kp):
            b.store(zero, pa.element(b.add(row, types.i64(kk))))
    # Pack b: pb[panel, kk // g, j % PANEL, kk % g] = b[kk, j] (0 past n and k); the
    # accumulators' start: -128 * (column sum) with the +128 offset of a, else 0
    with for_range(b, panels * kp * PANEL) as t:
        b.store(zero, pb.element(t))
    with for_range(b, panels * PANEL) as t:
        b.store(ir.Constant(_I32, 0), start.element(t))
    with for_range(b, k) as kk:
        with for_range(b, n) as j:
            src = b.add(b.mul(j, types.i64(k)), kk) if b_t else b.add(b.mul(kk, types.i64(n)), j)
            panel = b.udiv(j, types.i64(PANEL))
            lane = b.urem(j, types.i64(PANEL))
            dst = b.mul(panel, types.i64(kp * PANEL))
            dst = b.add(dst, b.mul(b.udiv(kk, types.i64(g)), types.i64(g * PANEL)))
            dst = b.add(dst, b.add(b.mul(lane, types.i64(g)), b.urem(kk, types.i64(g))))
            v = _load_i8(b, b_ptr, src)
            b.store(v if plan.dot4 else b.sext(v, _I16), pb.element(dst))
            if plan.dot4:
                at = start.element(j)
                offset = b.shl(b.sext(v, _I32), ir.Constant(_I32, 7))  # 128 * b[kk, j]
                b.store(b.sub(b.load(at, typ=_I32), offset), at)
    accs = [[ctx.alloca(_V32, "acc") for _ in range(PANEL // LANES)] for _ in range(ROWS)]
    full = (m // ROWS) * ROWS
    with for_range(b, panels) as p:
        _rows(ctx, plan, pa, pb, start, c, p, 0, full, ROWS, accs, n, kp)
        if full < m:
            _rows(ctx, plan, pa, pb, start, c, p, full, m, 1, accs, n, kp)


def _rows(ctx, plan, pa, pb, start, c, p, first, stop, rows, accs, n, kp):
    """The micro-kernel over rows ``first..stop`` in steps of ``rows``, for panel ``p``."""
    b = ctx.b
    u, g = PANEL // LANES, plan.g
    col = b.mul(p, types.i64(PANEL))
    with for_range(b, stop, start=first, step=rows) as i:
        for v in range(u):
            init = b.load(start.element(b.add(col, types.i64(LANES * v))), typ=_V32, align=4)
            for r in range(rows):
                b.store(init, accs[r][v])
        panel_base = b.mul(p, types.i64(kp * PANEL))
        with for_range(b, kp // g) as kk:
            at = b.add(panel_base, b.mul(kk, types.i64(g * PANEL)))
            ys = [b.load(pb.element(b.add(at, types.i64(g * LANES * v))), typ=plan.vec,
                         align=plan.dtype.itemsize) for v in range(u)]
            for r in range(rows):
                group_at = b.add(b.mul(b.add(i, types.i64(r)), types.i64(kp)),
                                 b.mul(kk, types.i64(g)))
                group = b.load(b.gep(pa.element(group_at), [types.i64(0)], source_etype=_I32),
                               typ=_I32, align=4)
                x = b.insert_element(ir.Constant(_V32, None), group, types.i64(0))
                x = b.bitcast(b.shuffle_vector(x, x, _SPLAT), plan.vec)
                for v in range(u):
                    b.store(plan.step(b, b.load(accs[r][v]), x, ys[v]), accs[r][v])
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
