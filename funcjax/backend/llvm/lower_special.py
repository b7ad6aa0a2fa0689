"""Lowering of the special-function primitives (``funcjax.ops.special``).

Each is computed in double precision and rounded, as eager does: erfc and lgamma are libm
calls; float64 erf_inv and digamma evaluate the same steps as the eager rules, every branch
computed and selected (no branches). float32 erf_inv is one float64 polynomial of higher
degree in ``w = -log(1 - y^2)`` (``ERFINV32_*``), its log from ``vecmath`` (inlined: the loop
vectorises): correctly rounded, with no Newton step (whose exp, erf and division made it
5x slower than JAX's float32 polynomial, which is off by up to 64 ulp) and no sqrt.
"""

import itertools
import math

from llvmlite import ir

from funcjax.backend.llvm import types, vecmath
from funcjax.backend.llvm.lower_elementwise import elementwise_value
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.transcendental import libm
from funcjax.ops import special


def _in_double(fn):
    def emit(ctx, dt, x):
        if x.type == types.F64:
            return fn(ctx, x)
        return ctx.b.fptrunc(fn(ctx, ctx.b.fpext(x, types.F64)), x.type)
    return emit


def _horner(b, coeffs, w):
    p = ir.Constant(types.F64, coeffs[0])
    for c in coeffs[1:]:
        p = b.fadd(b.fmul(p, w), ir.Constant(types.F64, c))
    return p


# float32 erf_inv: erfinv(y) / y as two polynomials, lowest power first, in t = (w - MID) /
# HALF for w = -log(1 - y^2) in [0, 5) and in [5, 16.1] (every float32 below 1), no sqrt.
# Fitted by least squares in Chebyshev polynomials (degrees 18 and 20, 40,001 points) against
# scipy's float64 erfinv, then expanded as powers (``benchmarks/erfinv_accuracy.py --fit``):
# 1.4e-14 relative at the fitting points, so float64 evaluation rounds correctly to float32
# (every float32 of a sweep of 1.1e7 in [0, 1); ``erfinv_accuracy.py``: 0.50 ulp over its 2e6
# inputs).
ERFINV32_SPLIT = 5.0
ERFINV32 = (  # (mid, half, coefficients) for w < SPLIT, then beyond
    (2.5, 2.5, (
        1.5014093511107907, 0.6166006918603726, -0.026108235777428244, -0.01957356105676835,
        0.008525400953214843, -0.0004878984490084893, -0.0008341356714456791,
        0.0002921911052119429, 2.047254860431349e-05, -4.1433956507299595e-05,
        8.652484036353121e-06, 2.856625005686528e-06, -1.8539708231935827e-06,
        1.2788623255480764e-07, 2.0064796778972166e-07, -6.329703247854141e-08,
        -8.543956348101459e-09, 6.99003871432169e-09, -6.206664829799297e-10)),
    (10.55, 5.55, (
        3.081951867782603, 0.8588271563236843, -0.10901385313139146, 0.02632298991519056,
        -0.0071640915771404206, 0.0016294009431349393, -1.5278844623073195e-05,
        -0.00032266928641251093, 0.0002725777662663324, -0.0001545305050943222,
        6.675218476909468e-05, -2.0758764650119725e-05, 2.5504339603375453e-06,
        2.2839537201193058e-06, -2.167422703709789e-06, 1.0655129050215997e-06,
        -4.754781801636635e-07, 2.537539545386157e-07, -2.9135498205872915e-08,
        -7.110845965816591e-08, 2.9027712855200616e-08)))


def _erf_inv(ctx, dt, x):
    if x.type == types.F64:
        return _erf_inv_steps(ctx, x, lambda name, v: libm(ctx, name, v), special.NEWTON_STEPS)
    b, f64 = ctx.b, types.F64
    y = b.fpext(x, f64)
    w = _erf_inv_w(ctx, y, lambda v: vecmath.emit(b, "log", v))
    central = b.fcmp_ordered("<", w, ir.Constant(f64, ERFINV32_SPLIT))

    def per_lane(c, d):
        return b.select(central, ir.Constant(f64, c), ir.Constant(f64, d))
    (mid_c, half_c, low), (mid_t, half_t, high) = ERFINV32
    t = b.fmul(b.fsub(w, per_lane(mid_c, mid_t)), per_lane(1 / half_c, 1 / half_t))
    # one evaluation, each lane's coefficients selected (the central's highest are 0)
    terms = [per_lane(c, d) for c, d in itertools.zip_longest(low, high, fillvalue=0.0)]
    ratio = vecmath.estrin(b, lambda p, q, r: ctx.call("llvm.fma.f64", f64, [p, q, r]), terms,
                           t)
    return b.fptrunc(_erf_inv_edges(ctx, y, b.fmul(ratio, y)), x.type)


def _erf_inv_w(ctx, y, log):
    """``w = -log((1 - y)(1 + y))`` (the product is exact in float64 for a float32 y)."""
    b, one = ctx.b, ir.Constant(types.F64, 1.0)
    return b.fneg(log(b.fmul(b.fsub(one, y), b.fadd(one, y))))


def _erf_inv_steps(ctx, y, fn, steps):
    """In float64, ``fn(name, v)`` giving log, exp and erf; ``steps`` Newton steps."""
    b, f64 = ctx.b, types.F64
    w = _erf_inv_w(ctx, y, lambda v: fn("log", v))
    central = _horner(b, special.ERFINV_CENTRAL, b.fsub(w, ir.Constant(f64, 2.5)))
    root = ctx.call("llvm.sqrt.f64", f64, [w])
    tail = _horner(b, special.ERFINV_TAIL, b.fsub(root, ir.Constant(f64, 3.0)))
    z = b.fmul(b.select(b.fcmp_ordered("<", w, ir.Constant(f64, 5.0)), central, tail), y)
    for _ in range(steps):
        slope = b.fmul(ir.Constant(f64, special.TWO_OVER_SQRT_PI),
                       fn("exp", b.fneg(b.fmul(z, z))))
        z = b.fsub(z, b.fdiv(b.fsub(fn("erf", z), y), slope))
    return _erf_inv_edges(ctx, y, z)


def _erf_inv_edges(ctx, y, z):
    """``z`` with +-inf at y = +-1 and NaN beyond."""
    b, f64, one = ctx.b, types.F64, ir.Constant(types.F64, 1.0)
    size = ctx.call("llvm.fabs.f64", f64, [y])
    inf = ctx.call("llvm.copysign.f64", f64, [ir.Constant(f64, math.inf), y])
    z = b.select(b.fcmp_ordered("==", size, one), inf, z)
    return b.select(b.fcmp_ordered(">", size, one), ir.Constant(f64, math.nan), z)


def _digamma(ctx, x):
    """The eager rule's shift, asymptotic series and reflection, without branches."""
    b, f64 = ctx.b, types.F64

    def c(v):
        return ir.Constant(f64, v)
    negative = b.fcmp_ordered("<", x, c(0.0))
    r = b.select(negative, b.fsub(c(1.0), x), x)
    small = b.fcmp_ordered("<", r, c(special._SHIFT))
    skipped = c(0.0)
    for k in range(special._SHIFT):
        skipped = b.fadd(skipped, b.fdiv(c(1.0), b.fadd(r, c(k))))
    z = b.select(small, b.fadd(r, c(special._SHIFT)), r)
    inv2 = b.fdiv(c(1.0), b.fmul(z, z))
    series = b.fsub(b.fsub(libm(ctx, "log", z), b.fdiv(c(0.5), z)),
                    b.fmul(inv2, _horner(b, special._PSI_SERIES[::-1], inv2)))
    psi = b.fsub(series, b.select(small, skipped, c(0.0)))
    pix = b.fmul(c(math.pi), x)
    reflected = b.fsub(psi, b.fdiv(c(math.pi), libm(ctx, "tan", pix)))
    psi = b.select(negative, reflected, psi)
    floor = ctx.call("llvm.floor.f64", f64, [x])
    pole = b.and_(b.fcmp_ordered("<=", x, c(0.0)), b.fcmp_ordered("==", floor, x))
    return b.select(pole, c(math.nan), psi)


_EMIT = {
    special.digamma_p: _in_double(_digamma),
    special.erf_inv_p: _erf_inv,
    special.erfc_p: _in_double(lambda ctx, x: libm(ctx, "erfc", x)),
    special.lgamma_p: _in_double(lambda ctx, x: libm(ctx, "lgamma", x)),
}


@register("fused", *_EMIT, pointwise=True)
def _lower_special(ctx, eqn, ins):
    return elementwise_value(ctx, eqn, ins, _EMIT[eqn.primitive])
