"""Complex numbers in compiled code, as (re, im) pairs of floats.

A complex element is an LLVM ``{float, float}`` / ``{double, double}`` (``types.C64``/``C128``):
numpy's interleaved layout in memory, and a pair of registers once LLVM's scalar replacement
has split it. The scalar emitters here fill ``lower_elementwise.COMPLEX`` (the elementwise
rule looks there for complex operands) with numpy's formulas: Smith's division, ``hypot`` for
``abs``, JAX's lexicographic order for ``max``/``min``. Views, ``select_n``, conversions,
reductions and ``dot_general`` (``cgemm``/``zgemm``, see ``lower_dot``) take complex values
through the same code as real ones.

``NATIVE`` lists the primitives whose compiled form handles complex operands (``lower_sort``
orders complex keys as numpy does); any other equation on complex values (scatter, cumulative
scans, ``tan``/``tanh``/``pow``/
``log1p`` and the rarer functions, control flow carrying complex values) still runs its numpy
impl through a host call (``host_call.outline_complex``).
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import host_call, lower_elementwise, transcendental, types
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Lazy
from funcjax.ops import complex_ops as cx
from funcjax.ops import contractions, conversion, indexing, reductions, shape, sorting
from funcjax.ops import elementwise as ops


def parts(b, z):
    return b.extract_value(z, 0), b.extract_value(z, 1)


def pair(b, re, im):
    typ = types.C64 if re.type == types.F32 else types.C128
    return b.insert_value(b.insert_value(ir.Constant(typ, ir.Undefined), re, 0), im, 1)


def _zero(x):
    return ir.Constant(x.type, 0.0)


def _fn(ctx, name, x):
    return transcendental.emitter(name)(ctx, None, x)


def _hypot(ctx, x, y):
    return transcendental.libm(ctx, "hypot", x, y)


# -- arithmetic ----------------------------------------------------------------------------
def _add(ctx, dt, x, y):
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    return pair(b, b.fadd(a, d), b.fadd(c, e))


def _sub(ctx, dt, x, y):
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    return pair(b, b.fsub(a, d), b.fsub(c, e))


def _mul(ctx, dt, x, y):
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    return pair(b, b.fsub(b.fmul(a, d), b.fmul(c, e)), b.fadd(b.fmul(a, e), b.fmul(c, d)))


def _div(ctx, dt, x, y):
    """Smith's algorithm (numpy's): scales by the larger part of the divisor."""
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    abs_d, abs_e = _fabs(ctx, d), _fabs(ctx, e)
    big_re = b.fcmp_ordered(">=", abs_d, abs_e)
    # |d| >= |e|: r = e/d, den = d + e r, ((a + c r) / den, (c - a r) / den)
    r1 = b.fdiv(e, d)
    den1 = b.fadd(d, b.fmul(e, r1))
    re1, im1 = b.fdiv(b.fadd(a, b.fmul(c, r1)), den1), b.fdiv(b.fsub(c, b.fmul(a, r1)), den1)
    # otherwise: r = d/e, den = d r + e, ((a r + c) / den, (c r - a) / den)
    r2 = b.fdiv(d, e)
    den2 = b.fadd(b.fmul(d, r2), e)
    re2, im2 = b.fdiv(b.fadd(b.fmul(a, r2), c), den2), b.fdiv(b.fsub(b.fmul(c, r2), a), den2)
    # 0 / 0 and x / 0: numpy divides each part by |y| = 0 (inf or nan)
    by_zero = b.and_(b.fcmp_ordered("==", d, _zero(d)), b.fcmp_ordered("==", e, _zero(e)))
    re0, im0 = b.fdiv(a, abs_d), b.fdiv(c, abs_d)
    re = b.select(by_zero, re0, b.select(big_re, re1, re2))
    im = b.select(by_zero, im0, b.select(big_re, im1, im2))
    return pair(b, re, im)


def _fabs(ctx, x):
    return lower_elementwise.intrinsic(ctx, "fabs", x)


def _suffix(x):
    return "f64" if x.type == types.F64 else "f32"


def _neg(ctx, dt, x):
    b = ctx.b
    a, c = parts(b, x)
    return pair(b, b.fneg(a), b.fneg(c))


def _conj(ctx, dt, x):
    b = ctx.b
    a, c = parts(b, x)
    return pair(b, a, b.fneg(c))


def _abs(ctx, dt, x):
    return _hypot(ctx, *parts(ctx.b, x))


def _sign(ctx, dt, x):
    """``z / |z|``, 0 at 0."""
    b = ctx.b
    a, c = parts(b, x)
    mag = _hypot(ctx, a, c)
    zero = b.fcmp_ordered("==", mag, _zero(mag))
    safe = b.select(zero, ir.Constant(mag.type, 1.0), mag)
    return pair(b, b.fdiv(a, safe), b.fdiv(c, safe))


def _integer_pow(ctx, dt, x, *, y):
    return lower_elementwise.power_by_squaring(ctx, dt, x, y, _mul, _div)


# -- comparisons: equality, and JAX's lexicographic order for max/min -----------------------
def _eq(ctx, dt, x, y):
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    return b.and_(b.fcmp_ordered("==", a, d), b.fcmp_ordered("==", c, e))


def _ne(ctx, dt, x, y):
    b = ctx.b
    (a, c), (d, e) = parts(b, x), parts(b, y)
    return b.or_(b.fcmp_unordered("!=", a, d), b.fcmp_unordered("!=", c, e))


def _has_nan(b, a, c):
    return b.or_(b.fcmp_unordered("uno", a, a), b.fcmp_unordered("uno", c, c))


def _ordered(op):
    """x op y comparing real parts, then imaginary parts on a tie (JAX's complex order);
    false when either value has a NaN part, as numpy's eager comparison."""
    def emit(ctx, dt, x, y):
        b = ctx.b
        (a, c), (d, e) = parts(b, x), parts(b, y)
        first = b.fcmp_ordered(op[0], a, d)
        tie = b.and_(b.fcmp_ordered("==", a, d), b.fcmp_ordered(op, c, e))
        nan = b.or_(_has_nan(b, a, c), _has_nan(b, d, e))
        return b.and_(b.or_(first, tie), b.not_(nan))
    return emit


def _max_min(greater):
    def emit(ctx, dt, x, y):
        b = ctx.b
        a, c = parts(b, x)
        wins = _ordered(">" if greater else "<")(ctx, dt, x, y)
        take_x = b.or_(_has_nan(b, a, c), wins)  # a NaN propagates (x's first), as numpy
        return b.select(take_x, x, y)
    return emit


# -- functions -----------------------------------------------------------------------------
def _exp(ctx, dt, x):
    """``e^a (cos b + i sin b)``; a real argument keeps an exactly-zero imaginary part."""
    b = ctx.b
    a, c = parts(b, x)
    mag = _fn(ctx, "exp", a)
    real_arg = b.fcmp_ordered("==", c, _zero(c))
    re = b.select(real_arg, mag, b.fmul(mag, _fn(ctx, "cos", c)))
    im = b.select(real_arg, c, b.fmul(mag, _fn(ctx, "sin", c)))
    return pair(b, re, im)


def _log(ctx, dt, x):
    b = ctx.b
    a, c = parts(b, x)
    return pair(b, _fn(ctx, "log", _hypot(ctx, a, c)), transcendental.libm(ctx, "atan2", c, a))


def _sqrt(ctx, dt, x):
    """numpy's csqrt: t = sqrt((|a| + |z|) / 2), then the root in the right half-plane."""
    b = ctx.b
    a, c = parts(b, x)
    half, two = ir.Constant(a.type, 0.5), ir.Constant(a.type, 2.0)
    t = lower_elementwise.intrinsic(ctx, "sqrt", b.fmul(b.fadd(_fabs(ctx, a),
                                                                _hypot(ctx, a, c)), half))
    zero = b.fcmp_ordered("==", t, _zero(t))
    other = b.fdiv(c, b.fmul(two, b.select(zero, ir.Constant(t.type, 1.0), t)))
    positive = b.fcmp_ordered(">=", a, _zero(a))
    re = b.select(positive, t, _fabs(ctx, other))
    im = b.select(positive, other, ctx.call(f"llvm.copysign.{_suffix(t)}", t.type, [t, c]))
    return pair(b, b.select(zero, _zero(a), re), b.select(zero, c, im))


def _rsqrt(ctx, dt, x):
    return _div(ctx, dt, types.const(dt, 1), _sqrt(ctx, dt, x))


def _trig(name):
    """sin, cos, sinh, cosh of a + ib from the real functions of a and b."""
    def emit(ctx, dt, x):
        b = ctx.b
        a, c = parts(b, x)
        if name in ("sin", "cos"):
            sa, ca = _fn(ctx, "sin", a), _fn(ctx, "cos", a)
            sh, ch = _fn(ctx, "sinh", c), _fn(ctx, "cosh", c)
            if name == "sin":
                return pair(b, b.fmul(sa, ch), b.fmul(ca, sh))
            return pair(b, b.fmul(ca, ch), b.fneg(b.fmul(sa, sh)))
        sh, ch = _fn(ctx, "sinh", a), _fn(ctx, "cosh", a)
        sc, cc = _fn(ctx, "sin", c), _fn(ctx, "cos", c)
        if name == "sinh":
            return pair(b, b.fmul(sh, cc), b.fmul(ch, sc))
        return pair(b, b.fmul(ch, cc), b.fmul(sh, sc))
    return emit


SCALAR = {
    ops.add_p: _add, ops.sub_p: _sub, ops.mul_p: _mul, ops.div_p: _div, ops.neg_p: _neg,
    ops.abs_p: _abs, ops.sign_p: _sign, ops.integer_pow_p: _integer_pow,
    ops.eq_p: _eq, ops.ne_p: _ne, ops.max_p: _max_min(True), ops.min_p: _max_min(False),
    ops.lt_p: _ordered("<"), ops.le_p: _ordered("<="), ops.gt_p: _ordered(">"),
    ops.ge_p: _ordered(">="),
    ops.exp_p: _exp, ops.log_p: _log, ops.sqrt_p: _sqrt, ops.rsqrt_p: _rsqrt,
    ops.sin_p: _trig("sin"), ops.cos_p: _trig("cos"), ops.sinh_p: _trig("sinh"),
    ops.cosh_p: _trig("cosh"),
}
lower_elementwise.COMPLEX.update(SCALAR)


# -- conversions -----------------------------------------------------------------------------
def convert(ctx, x, src, dst):
    """numpy's casts to, from and between complex types (complex -> real keeps the real
    part; complex -> bool is "nonzero")."""
    b = ctx.b
    if src.kind == "c" and dst.kind == "c":
        part = np.dtype(dst.char.lower())
        re, im = parts(b, x)
        src_part = np.dtype(src.char.lower())
        return pair(b, lower_elementwise.convert(ctx, re, src_part, part),
                    lower_elementwise.convert(ctx, im, src_part, part))
    if src.kind == "c":
        re, im = parts(b, x)
        src_part = np.dtype(src.char.lower())
        if dst.kind == "b":
            return b.or_(b.fcmp_unordered("!=", re, _zero(re)),
                         b.fcmp_unordered("!=", im, _zero(im)))
        return lower_elementwise.convert(ctx, re, src_part, dst)
    part = np.dtype(dst.char.lower())
    re = lower_elementwise.convert(ctx, x, src, part)
    return pair(b, re, _zero(re))


lower_elementwise.COMPLEX["convert"] = convert


# -- real, imag, conj, complex -----------------------------------------------------------
def _unary(emit):
    def rule(ctx, eqn, ins):
        (x,) = ins
        return Lazy(eqn.outputs[0].aval, lambda idx: emit(ctx.b, x.load(idx)))
    return rule


register("fused", cx.real_p, pointwise=True)(_unary(lambda b, z: b.extract_value(z, 0)))
register("fused", cx.imag_p, pointwise=True)(_unary(lambda b, z: b.extract_value(z, 1)))


@register("fused", cx.conj_p, pointwise=True)
def _lower_conj(ctx, eqn, ins):
    (x,) = ins
    if x.aval.dtype.kind != "c":
        return x
    return Lazy(eqn.outputs[0].aval, lambda idx: _conj(ctx, None, x.load(idx)))


@register("fused", cx.complex_p, pointwise=True)
def _lower_complex(ctx, eqn, ins):
    x, y = ins
    return Lazy(eqn.outputs[0].aval, lambda idx: pair(
        ctx.b, x.load(idx if x.aval.shape else []), y.load(idx if y.aval.shape else [])))


NATIVE = {
    *SCALAR, cx.real_p, cx.imag_p, cx.conj_p, cx.complex_p,
    conversion.convert_element_type_p, conversion.select_n_p, conversion.stop_gradient_p,
    shape.broadcast_in_dim_p, shape.reshape_p, shape.squeeze_p, shape.expand_dims_p,
    shape.transpose_p, shape.rev_p, shape.slice_p, shape.pad_p, shape.concatenate_p,
    indexing.dynamic_slice_p, indexing.dynamic_update_slice_p, indexing.gather_p,
    reductions.reduce_sum_p, reductions.reduce_prod_p, reductions.reduce_max_p,
    reductions.reduce_min_p, contractions.dot_general_p, sorting.sort_p,
}
host_call.NATIVE_COMPLEX.update(NATIVE)
