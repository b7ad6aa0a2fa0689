"""Winograd minimal filtering for 3x3, stride-1 convolutions: F(m x m, 3 x 3).

An m x m block of a 3x3 correlation's output is ``A^T [(G g G^T) * (B^T d B)] A`` for the
(m+2) x (m+2) input tile ``d`` and the 3x3 filter ``g``: with the transforms done, the
(m+2)^2 elementwise products summed over the input features are (m+2)^2 independent matrix
products (tiles x in features) @ (in features x out features), one gemm call each. That is
9 m^2 / (m+2)^2 times fewer multiplies than im2col: 2.25x for F(2, 3), 4x for F(4, 3).

Two shapes of convolution use it (canonical notation: out[b, o, p] = sum over f and kernel
positions s of lhs[b, f, p + s - pad] * rhs[o, f, s]):

- ``forward``: a 3x3 kernel (a forward convolution, or its input gradient, which convolves
  the cotangent with the flipped kernel). Tiles cover the output; the gemms contract over
  the input features f.
- ``weight_gradient``: a 3x3 *output* and a large "kernel" (the weight gradient convolves
  the input with the output cotangent). Tiles cover the kernel positions s. This is the
  transposed algorithm F(3 x 3, m x m): z = G^T [(A h A^T) * (B^T d B)] G, where h is an
  m x m block of the cotangent; the gemms contract over (tiles, f).

The matrices come from Toom-Cook interpolation at the points below (plus infinity); for
F(4, 3) the points 0, -1, 1, 1/2, -2 measured about 3x smaller float32 error than the
textbook 0, +-1, +-2 (tests/conv/test_winograd.py compares with a float64 reference).
Every transform is emitted per tile as a loop over one feature axis, so with channels-last
layouts its loads and stores are contiguous and the loop vectorises. Both kinds run in blocks
of gemm rows (tiles) whose transformed matrices fit the L2 cache: transform a block, its 36
gemms, then (forward) its inverse transform, or (weight gradient) accumulate with gemm's beta.
benchmarks/RESULTS.md (bench_conv) has the measurements behind each choice.
"""

import math
from fractions import Fraction

import numpy as np

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range, index_at, loop_nest
from funcjax.backend.llvm.lower_shape import clamp
from funcjax.backend.llvm.values import unravel
from funcjax.core.abstract import ShapedArray

POINTS = {2: (0, 1, -1), 4: (0, -1, 1, Fraction(1, 2), -2)}
TILE = 4  # m: the output block of F(m x m, 3 x 3)
BLOCK_BYTES = 2 ** 20  # the transformed matrices of one block of gemm rows
MIN_BLOCK = 16  # fewer tiles per block: gemm repacks the filter matrices too often
MIN_FEATURES = 4  # fewer input features: im2col's gemm (9x deeper) wins the forward
MIN_FLOPS = 2 * 10 ** 6  # of the direct convolution; below it compile time dominates


def matrices(m, r=3):
    """``(A^T, G, B^T)`` of F(m, r) as exact Fractions: A^T (m x n), G (n x r), B^T (n x n),
    n = m + r - 1, such that y_i = sum_k g_k d_{i+k} equals ``A^T [(G g) * (B^T d)]``."""
    points = [Fraction(p) for p in POINTS[m]]
    n = m + r - 1
    at = [[p ** i for p in points] + [Fraction(int(i == m - 1))] for i in range(m)]
    g = [[p ** k / math.prod(p - q for q in points if q != p) for k in range(r)]
         for p in points] + [[Fraction(int(k == r - 1)) for k in range(r)]]
    # B^T is what makes the identity hold: sum_j At[i][j] G[j][k] Bt[j][l] = [l == i + k],
    # one small linear system per column l (solved in floats, then made exact and checked).
    system = np.array([[float(at[i][j] * g[j][k]) for j in range(n)]
                       for i in range(m) for k in range(r)])
    bt = [[None] * n for _ in range(n)]
    for col in range(n):
        rhs = np.array([float(col == i + k) for i in range(m) for k in range(r)])
        for j, v in enumerate(np.linalg.lstsq(system, rhs, rcond=None)[0]):
            bt[j][col] = Fraction(float(v)).limit_denominator(1000)
    for i in range(m):
        for k in range(r):
            for col in range(n):
                assert sum(at[i][j] * g[j][k] * bt[j][col] for j in range(n)) == (col == i + k)
    return at, g, bt


def _transposed(mat):
    return [list(row) for row in zip(*mat)]


def _combine(b, dt, coeffs, values):
    """sum_k coeffs[k] * values[k] with the zero terms left out (coeffs are Fractions)."""
    total = None
    for c, v in zip(coeffs, values):
        if c == 0:
            continue
        if total is None:
            total = v if c == 1 else b.fneg(v) if c == -1 else \
                b.fmul(types.const(dt, float(c)), v, flags=("contract",))
        elif c in (1, -1):
            total = (b.fadd if c == 1 else b.fsub)(total, v)
        else:
            total = b.fadd(total, b.fmul(types.const(dt, float(c)), v, flags=("contract",)),
                           flags=("contract",))
    return types.const(dt, 0) if total is None else total


def _sandwich(b, dt, mat, x):
    """``mat @ x @ mat^T`` of a square list-of-lists of values (mat: r1 x r0, x: r0 x r0)."""
    left = [[_combine(b, dt, row, [x[j][k] for j in range(len(x))]) for k in range(len(x))]
            for row in mat]
    return [[_combine(b, dt, row, left[i]) for row in mat] for i in range(len(mat))]


def _axis_positions(b, g, origins, size):
    """Per spatial axis, the (clamped index, in bounds?) of the ``size`` input positions of a
    tile whose first window position is ``origins[d]`` (stride and dilations are 1)."""
    out = []
    for d, origin in enumerate(origins):
        start = b.sub(origin, types.i64(g.padding[d][0]))
        axis = []
        for u in range(size):
            pos = b.add(start, types.i64(u))
            ok = b.and_(b.icmp_signed(">=", pos, types.i64(0)),
                        b.icmp_signed("<", pos, types.i64(g.in_sp[d])))
            axis.append((clamp(b, pos, 0, max(g.in_sp[d] - 1, 0)), ok))
        out.append(axis)
    return out


def _load_tile(b, dt, value, ndim, spec, lead, axes):
    """The tile of ``value`` (spec order: lead indices, then the 2 spatial axes) at the clamped
    positions ``axes``, zero where out of bounds."""
    zero = types.const(dt, 0)
    rows, cols = axes
    return [[b.select(b.and_(ok_r, ok_c), value.load(index_at(ndim, spec, lead + [r, c])), zero)
             for c, ok_c in cols] for r, ok_r in rows]


def _input_transform(ctx, g, lhs, v, bt, outer, feature, row_of):
    """v[t, row, feature] = (B^T d B)[t] for every tile: ``outer`` is the loop shape whose
    index gives, through ``row_of``, the tile's origin, its gemm row, and the lhs batch or
    feature index that is not looped innermost; ``feature`` is the innermost lhs axis."""
    b, dt = ctx.b, v.aval.dtype
    a = len(bt)
    with loop_nest(b, outer) as idx:
        origins, row, lead = row_of(idx)
        axes = _axis_positions(b, g, origins, a)
        with for_range(b, feature) as j:
            x = _load_tile(b, dt, lhs, lhs.aval.ndim, g.lhs_spec, lead(j), axes)
            y = _sandwich(b, dt, bt, x)
            for t in range(a * a):
                v.store([types.i64(t), row, j], y[t // a][t % a])


def _planes(ctx, a, rows, cols, dt, label):
    """A scratch buffer of a * a matrices (rows x cols), with a spare row after each: the
    transforms touch all a * a matrices at once, and planes a multiple of 4 KiB apart would
    all fall in the same cache sets (measured 2x slower at 16 x 64 rows of 64 floats)."""
    return ctx.scratch(ShapedArray((a * a, rows + 1, cols), dt), label)


def _block(rows, a, features, dt):
    """Gemm rows per block: the block's a * a matrices of ``features`` columns in all fill
    BLOCK_BYTES, or no blocking when that leaves fewer than MIN_BLOCK rows."""
    block = BLOCK_BYTES // (a * a * features * dt.itemsize)
    return rows if block < MIN_BLOCK else min(rows, block)


def _gemms(ctx, gemm, a_buf, b_buf, c_buf, m, n, k, transpose_a=False, beta=None):
    """One gemm per transform position t: c[t] = a[t] @ b[t] (a[t]^T with transpose_a), plus
    ``beta`` (an IR value; None: 0) times c[t]."""
    b = ctx.b
    with for_range(b, a_buf.aval.shape[0]) as t:
        def at(buf):
            return buf.element(b.mul(t, types.i64(buf.strides[0])))
        gemm(at(a_buf), at(b_buf), at(c_buf), m, n, k, transpose_a, beta)


def forward(ctx, g, lhs, rhs, out, gemm):
    """A 3x3 kernel: tiles of TILE x TILE outputs, gemms over the input features, in blocks
    of tiles (transform, gemms, inverse transform) whose matrices stay in the L2 cache: 8x32x32
    images with 64 channels took 2.0 ms in blocks of 32-64 tiles, 2.9-3.3 ms unblocked (512
    tiles); with 256 channels blocks of 16-64 took 37-53 ms, unblocked 32 ms (a block's gemms
    repack each 256 x 256 filter matrix), hence MIN_BLOCK."""
    b, dt = ctx.b, out.aval.dtype
    m = TILE
    at, gm, bt = matrices(m)
    a = m + 2
    th, tw = (-(-p // m) for p in g.out_sp)
    rows = g.n_out * th * tw
    block = _block(rows, a, g.i + g.o, dt)
    v = _planes(ctx, a, block, g.i, dt, "winograd input")
    u = _planes(ctx, a, g.i, g.o, dt, "winograd filter")
    prod = _planes(ctx, a, block, g.o, dt, "winograd products")
    with loop_nest(b, (g.i, g.o)) as (c, o):  # the filter transform G g G^T
        x = [[rhs.load(index_at(rhs.aval.ndim, g.rhs_spec, [o, c, types.i64(r),
                                                                types.i64(s)]))
              for s in range(3)] for r in range(3)]
        y = _sandwich(b, dt, gm, x)
        for t in range(a * a):
            u.store([types.i64(t), c, o], y[t // a][t % a])

    def tile_of(first, local):
        """(n, ty, tx) of the block's tile ``local`` (the last block repeats the last tile)."""
        r = clamp(b, b.add(first, local), 0, rows - 1)
        return [b.udiv(r, types.i64(th * tw)), b.urem(b.udiv(r, types.i64(tw)), types.i64(th)),
                b.urem(r, types.i64(tw))]
    with for_range(b, rows, step=block) as first:
        def tile(idx):
            n, ty, tx = tile_of(first, idx[0])
            return [b.mul(ty, types.i64(m)), b.mul(tx, types.i64(m))], idx[0], lambda c: [n, c]
        _input_transform(ctx, g, lhs, v, bt, (block,), g.i, tile)
        _gemms(ctx, gemm, v, u, prod, block, g.o, g.i)
        # The output transform A^T M A. An edge tile's outputs past the end are stored at the
        # clamped last position before the valid output there (descending order) overwrites
        # them; the last block's repeats of the last tile store the same values again.
        with for_range(b, block) as local:
            n, ty, tx = tile_of(first, local)
            hs, ws = ([clamp(b, b.add(b.mul(t, types.i64(m)), types.i64(i)), 0, p - 1)
                       for i in range(m)] for t, p in ((ty, g.out_sp[0]), (tx, g.out_sp[1])))
            with for_range(b, g.o) as o:
                x = [[prod.load([types.i64(r * a + s), local, o]) for s in range(a)]
                     for r in range(a)]
                y = _sandwich(b, dt, at, x)
                for i in reversed(range(m)):
                    for k in reversed(range(m)):
                        out.store(index_at(out.aval.ndim, g.out_spec, [n, o, hs[i], ws[k]]),
                                  y[i][k])


def weight_gradient(ctx, g, lhs, rhs, out, gemm):
    """A 3x3 output: tiles of TILE x TILE kernel positions, gemms over (tiles, features)
    accumulated over blocks of the contraction that stay in the L2 cache (the last block's
    rows past the end are zero cotangents)."""
    b, dt = ctx.b, out.aval.dtype
    m = TILE
    at, gm, bt = matrices(m)
    a = m + 2
    th, tw = (-(-s // m) for s in g.kernel)
    depth = th * tw * g.i  # the contraction: tiles x lhs features
    block = _block(depth, a, g.n_out + g.o, dt)
    v = _planes(ctx, a, block, g.n_out, dt, "winograd input")
    h = _planes(ctx, a, block, g.o, dt, "winograd cotangent")
    prod = _planes(ctx, a, g.n_out, g.o, dt, "winograd products")
    a_mat = _transposed(at)
    with for_range(b, depth, step=block) as first:
        def row_of(local):
            r = b.add(first, local)
            ty, tx, f = unravel(b, clamp(b, r, 0, depth - 1), (th, tw, g.i))
            return ty, tx, f, b.icmp_signed("<", r, types.i64(depth))

        def tile(idx):
            ty, tx, f, _ = row_of(idx[0])
            return [b.mul(ty, types.i64(m)), b.mul(tx, types.i64(m))], idx[0], lambda n: [n, f]
        _input_transform(ctx, g, lhs, v, bt, (block,), g.n_out, tile)
        with for_range(b, block) as local:  # the cotangent transform A h A^T
            ty, tx, f, real = row_of(local)
            axes = []
            for d, t in enumerate((ty, tx)):
                axis = []
                for i in range(m):
                    pos = b.add(b.mul(t, types.i64(m)), types.i64(i))
                    ok = b.and_(real, b.icmp_signed("<", pos, types.i64(g.kernel[d])))
                    axis.append((clamp(b, pos, 0, g.kernel[d] - 1), ok))
                axes.append(axis)
            with for_range(b, g.o) as o:
                x = _load_tile(b, dt, rhs, rhs.aval.ndim, g.rhs_spec, [o, f], axes)
                y = _sandwich(b, dt, a_mat, x)
                for t in range(a * a):
                    h.store([types.i64(t), local, o], y[t // a][t % a])
        beta = b.select(b.icmp_signed("==", first, types.i64(0)), types.const(dt, 0),
                        types.const(dt, 1))
        _gemms(ctx, gemm, v, h, prod, g.n_out, g.o, block, transpose_a=True, beta=beta)
    g_t = _transposed(gm)
    with for_range(b, g.n_out) as n:  # the output transform G^T Z G
        with for_range(b, g.o) as o:
            x = [[prod.load([types.i64(r * a + s), n, o]) for s in range(a)] for r in range(a)]
            y = _sandwich(b, dt, g_t, x)
            for i in range(3):
                for k in range(3):
                    out.store(index_at(out.aval.ndim, g.out_spec,
                                       [n, o, types.i64(i), types.i64(k)]), y[i][k])


def plan(g, dtype):
    """``forward``, ``weight_gradient`` or None for the convolution of geometry ``g``."""
    if (dtype not in (np.float32, np.float64) or len(g.kernel) != 2 or g.fgc != 1
            or g.bgc != 1 or any(s != 1 for s in (*g.strides, *g.lhs_dil, *g.rhs_dil))):
        return None
    flops = 2 * g.n_out * g.o * g.i * math.prod(g.out_sp) * math.prod(g.kernel)
    if flops < MIN_FLOPS:
        return None
    if tuple(g.kernel) == (3, 3) and g.i >= MIN_FEATURES:
        return forward
    if tuple(g.out_sp) == (3, 3):
        return weight_gradient
    return None
