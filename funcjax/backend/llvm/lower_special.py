"""Lowering of the special-function primitives (``funcjax.ops.special``).

Each is computed in double precision and rounded, as eager does: erfc and lgamma are libm
calls; erf_inv and digamma evaluate the same steps as the eager rules, every branch computed
and selected (no branches). float32 erf_inv takes its log, exp and erf from ``vecmath``
(inlined float64 code: the loop vectorises; libm's scalar calls made it 40x slower), which
is enough for a float32 result; float64 keeps libm's.
"""

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


def _erf_inv(ctx, dt, x):
    if x.type == types.F64:
        return _erf_inv_steps(ctx, x, lambda name, v: libm(ctx, name, v), special.NEWTON_STEPS)

    def inlined(name, v):
        return vecmath.erf_f64(ctx.b, v) if name == "erf" else vecmath.emit(ctx.b, name, v)
    z = _erf_inv_steps(ctx, ctx.b.fpext(x, types.F64), inlined, 1)  # 1e-7 -> 1e-11: enough
    return ctx.b.fptrunc(z, x.type)


def _erf_inv_steps(ctx, y, fn, steps):
    """In float64, ``fn(name, v)`` giving log, exp and erf; ``steps`` Newton steps."""
    b, f64 = ctx.b, types.F64
    one = ir.Constant(f64, 1.0)
    w = b.fneg(fn("log", b.fmul(b.fsub(one, y), b.fadd(one, y))))
    central = _horner(b, special.ERFINV_CENTRAL, b.fsub(w, ir.Constant(f64, 2.5)))
    root = ctx.call("llvm.sqrt.f64", f64, [w])
    tail = _horner(b, special.ERFINV_TAIL, b.fsub(root, ir.Constant(f64, 3.0)))
    z = b.fmul(b.select(b.fcmp_ordered("<", w, ir.Constant(f64, 5.0)), central, tail), y)
    for _ in range(steps):
        slope = b.fmul(ir.Constant(f64, special.TWO_OVER_SQRT_PI),
                       fn("exp", b.fneg(b.fmul(z, z))))
        z = b.fsub(z, b.fdiv(b.fsub(fn("erf", z), y), slope))
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
