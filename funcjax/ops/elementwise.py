"""Elementwise primitives: math functions, arithmetic, comparisons, logic and bit operations.

Operands of one operation always share shape and dtype: ``funcjax.numpy`` broadcasts and
promotes before binding, as ``jax.lax`` requires. Integer division and shifts follow XLA's
defined results (``x // 0 == -1``, ``x % 0 == x``, over-wide shifts give 0 or the sign).
"""

import functools
import math

import numpy as np

from funcjax.core import cost
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import elementwise_batch_rule
from funcjax.interpreters.jvp import defjvp, defjvp2, defjvp_zero
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import ANY, BITS, FLOAT, INEXACT, INT, NUMBER, elementwise_type


def elementwise(name, impl, kinds, out_dtype=None, transcendental=False):
    """Defines an elementwise primitive with its impl, type, batch and cost rules (the jvp and
    transpose rules follow it)."""
    prim = define_primitive(name, impl, functools.partial(elementwise_type, name, kinds=kinds,
                                                          out_dtype=out_dtype))
    prim.def_batch(elementwise_batch_rule(prim))
    prim.def_cost(cost.transcendental if transcendental else cost.elementwise)
    return prim


def _logistic(x):
    return np.exp(-np.logaddexp(np.zeros((), x.dtype), -x)).astype(x.dtype)


def _rsqrt(x):
    return (1 / np.sqrt(x)).astype(x.dtype)


def _erf(x):
    # float64 evaluation of erf via math.erf: exact to double precision, then rounded.
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


def _round(x, rounding_method=0):
    if rounding_method == 1:
        return np.rint(x)
    trunc = np.trunc(x)
    return np.where(np.abs(x - trunc) >= 0.5, trunc + np.sign(x), trunc).astype(x.dtype)


# -- unary float functions -------------------------------------------------------------------
exp_p = elementwise("exp", np.exp, INEXACT, transcendental=True)
defjvp2(exp_p, lambda t, ans, x: lax.mul(t, ans))
exp2_p = elementwise("exp2", np.exp2, FLOAT, transcendental=True)
defjvp2(exp2_p, lambda t, ans, x: lax.mul(t, lax.mul(ans, float(np.log(2)))))
log_p = elementwise("log", np.log, INEXACT, transcendental=True)
defjvp(log_p, lambda t, x: lax.div(t, x))
log1p_p = elementwise("log1p", np.log1p, INEXACT, transcendental=True)
defjvp(log1p_p, lambda t, x: lax.div(t, lax.add(x, 1.0)))
expm1_p = elementwise("expm1", np.expm1, INEXACT, transcendental=True)
defjvp2(expm1_p, lambda t, ans, x: lax.mul(t, lax.add(ans, 1.0)))
sin_p = elementwise("sin", np.sin, INEXACT, transcendental=True)
defjvp(sin_p, lambda t, x: lax.mul(t, lax.cos(x)))
cos_p = elementwise("cos", np.cos, INEXACT, transcendental=True)
defjvp(cos_p, lambda t, x: lax.mul(t, lax.neg(lax.sin(x))))
tan_p = elementwise("tan", np.tan, INEXACT, transcendental=True)
defjvp2(tan_p, lambda t, ans, x: lax.mul(t, lax.add(1.0, lax.mul(ans, ans))))
asin_p = elementwise("asin", np.arcsin, INEXACT, transcendental=True)
defjvp(asin_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.sub(1.0, lax.mul(x, x)))))
acos_p = elementwise("acos", np.arccos, INEXACT, transcendental=True)
defjvp(acos_p, lambda t, x: lax.mul(t, lax.neg(lax.rsqrt(lax.sub(1.0, lax.mul(x, x))))))
atan_p = elementwise("atan", np.arctan, INEXACT, transcendental=True)
defjvp(atan_p, lambda t, x: lax.div(t, lax.add(1.0, lax.mul(x, x))))
sinh_p = elementwise("sinh", np.sinh, INEXACT, transcendental=True)
defjvp(sinh_p, lambda t, x: lax.mul(t, lax.cosh(x)))
cosh_p = elementwise("cosh", np.cosh, INEXACT, transcendental=True)
defjvp(cosh_p, lambda t, x: lax.mul(t, lax.sinh(x)))
tanh_p = elementwise("tanh", np.tanh, INEXACT, transcendental=True)
defjvp2(tanh_p, lambda t, ans, x: lax.mul(t, lax.sub(1.0, lax.mul(ans, ans))))
asinh_p = elementwise("asinh", np.arcsinh, INEXACT, transcendental=True)
defjvp(asinh_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.add(lax.mul(x, x), 1.0))))
acosh_p = elementwise("acosh", np.arccosh, INEXACT, transcendental=True)
defjvp(acosh_p, lambda t, x: lax.mul(t, lax.rsqrt(lax.mul(lax.sub(x, 1.0),
                                                            lax.add(x, 1.0)))))
atanh_p = elementwise("atanh", np.arctanh, INEXACT, transcendental=True)
defjvp(atanh_p, lambda t, x: lax.div(t, lax.sub(1.0, lax.mul(x, x))))
logistic_p = elementwise("logistic", _logistic, INEXACT, transcendental=True)
defjvp2(logistic_p, lambda t, ans, x: lax.mul(t, lax.mul(ans, lax.sub(1.0, ans))))
sqrt_p = elementwise("sqrt", np.sqrt, INEXACT, transcendental=True)
defjvp2(sqrt_p, lambda t, ans, x: lax.mul(t, lax.div(0.5, ans)))
rsqrt_p = elementwise("rsqrt", _rsqrt, INEXACT, transcendental=True)
defjvp2(rsqrt_p, lambda t, ans, x: lax.mul(t, lax.mul(-0.5, lax.div(ans, x))))
cbrt_p = elementwise("cbrt", np.cbrt, FLOAT, transcendental=True)
defjvp2(cbrt_p, lambda t, ans, x: lax.mul(t, lax.mul(1 / 3, lax.integer_pow(ans, -2))))
erf_p = elementwise("erf", _erf, FLOAT, transcendental=True)
defjvp(erf_p, lambda t, x: lax.mul(t, lax.mul(2 / math.sqrt(math.pi),
                                               lax.exp(lax.neg(lax.mul(x, x))))))
floor_p = elementwise("floor", np.floor, FLOAT)
defjvp_zero(floor_p)
ceil_p = elementwise("ceil", np.ceil, FLOAT)
defjvp_zero(ceil_p)
round_p = define_primitive("round", _round, lambda x, rounding_method=0: elementwise_type(
    "round", x, kinds=FLOAT))
defjvp_zero(round_p)
round_p.def_batch(elementwise_batch_rule(round_p))
round_p.def_cost(cost.elementwise)
is_finite_p = elementwise("is_finite", np.isfinite, FLOAT, out_dtype=np.dtype(bool))
defjvp_zero(is_finite_p)

# -- unary numeric ---------------------------------------------------------------------------
neg_p = elementwise("neg", np.negative, NUMBER)
defjvp(neg_p, lambda t, x: lax.neg(t))
neg_p.def_transpose(lambda ct, x: [lax.neg(ct)])
sign_p = elementwise("sign", np.sign, NUMBER)
defjvp_zero(sign_p)
abs_p = elementwise("abs", np.abs, NUMBER)
defjvp(abs_p, lambda t, x: lax.select(lax.ge(x, 0.0), t, lax.neg(t)))


def _integer_pow_impl(x, *, y):
    if y == 2 and x.dtype.kind in "fiu":
        return np.square(x)  # x * x, as numpy's ``x ** 2`` computes it (same bits as power)
    if y >= 0:
        return np.power(x, y).astype(x.dtype, copy=False)
    if x.dtype.kind in "fc":
        return (1 / np.power(x, -y)).astype(x.dtype)
    return _int_div(np.ones_like(x), np.power(x, -y))


def _integer_pow_type(x, *, y):
    if not isinstance(y, int):
        raise TypeError(f"integer_pow: the exponent must be a Python int, got {y!r}")
    return elementwise_type("integer_pow", x, kinds=NUMBER)


integer_pow_p = define_primitive("integer_pow", _integer_pow_impl, _integer_pow_type)
defjvp(integer_pow_p, lambda t, x, *, y: lax.mul(t, lax.mul(float(y), lax.integer_pow(x, y - 1)))
       if y else lax.full(x.shape, 0.0, x.dtype))
integer_pow_p.def_batch(elementwise_batch_rule(integer_pow_p))
integer_pow_p.def_cost(cost.elementwise)

# -- binary arithmetic -----------------------------------------------------------------------


def _int_div(x, y):
    """Truncating division with XLA's results: x / 0 == -1, INT_MIN / -1 == INT_MIN."""
    zero = y == 0
    safe = np.where(zero, np.ones_like(y), y)
    q = np.floor_divide(x, safe)
    if x.dtype.kind == "i":
        q = np.where((np.remainder(x, safe) != 0) & ((x < 0) != (safe < 0)), q + 1, q)
    return np.where(zero, np.array(-1).astype(x.dtype), q).astype(x.dtype)


def _div(x, y):
    return np.true_divide(x, y).astype(x.dtype) if x.dtype.kind in "fc" else _int_div(x, y)


_div.float_ufunc = np.true_divide  # all it runs on floats (funcjax.numpy._util.ufunc_of)


def _rem(x, y):
    if x.dtype.kind == "f":
        return np.fmod(x, y)
    zero = y == 0
    return np.where(zero, x, np.fmod(x, np.where(zero, np.ones_like(y), y))).astype(x.dtype)


def _linear_cts(*cts):
    """Transpose rule of a primitive linear in each input separately, e.g. add and sub."""
    def rule(ct, *args):
        return [f(ct) if is_undefined_primal(a) else None for f, a in zip(cts, args)]
    return rule


add_p = elementwise("add", np.add, NUMBER)
defjvp(add_p, lambda t, x, y: t, lambda t, x, y: t)
add_p.def_transpose(_linear_cts(lambda ct: ct, lambda ct: ct))
sub_p = elementwise("sub", np.subtract, NUMBER)
defjvp(sub_p, lambda t, x, y: t, lambda t, x, y: lax.neg(t))
sub_p.def_transpose(_linear_cts(lambda ct: ct, lambda ct: lax.neg(ct)))
mul_p = elementwise("mul", np.multiply, NUMBER)
defjvp(mul_p, lambda t, x, y: lax.mul(t, y), lambda t, x, y: lax.mul(x, t))


def _mul_transpose(ct, x, y):
    if is_undefined_primal(x) and is_undefined_primal(y):
        raise not_linear("mul", "both of its operands at once (a product of two linear values)")
    return [lax.mul(ct, y), None] if is_undefined_primal(x) else [None, lax.mul(x, ct)]


mul_p.def_transpose(_mul_transpose)
div_p = elementwise("div", _div, NUMBER)
defjvp(div_p, lambda t, x, y: lax.div(t, y),
       lambda t, x, y: lax.mul(lax.neg(t), lax.div(x, lax.mul(y, y))))


def _div_transpose(ct, x, y):
    if is_undefined_primal(y):
        raise not_linear("div", "its divisor")
    return [lax.div(ct, y), None]


div_p.def_transpose(_div_transpose)
rem_p = elementwise("rem", _rem, NUMBER)
defjvp(rem_p, lambda t, x, y: t, lambda t, x, y: lax.mul(lax.neg(t), lax.mul(
    lax.sign(lax.div(x, y)), lax.floor(lax.abs(lax.div(x, y))))))
pow_p = elementwise("pow", np.power, INEXACT, transcendental=True)
defjvp(pow_p, lambda t, x, y: lax.mul(t, lax.mul(y, lax.pow(x, lax.sub(y, 1.0)))),
       # log(x) is replaced by 0 where x == 0, so 0 ** y has derivative 0 in y, as in JAX.
       lambda t, x, y: lax.mul(t, lax.mul(lax.log(lax.select(lax.eq(x, 0.0), lax.full(
           x.shape, 1.0, x.dtype), x)), lax.pow(x, y))))


def _choice_weight(x, y, wins):
    """How much of max(x, y)'s (or min's) tangent comes from x: 1, 0, or 0.5 on ties."""
    half = lax.full(x.shape, 0.5, x.dtype)
    return lax.select(lax.eq(x, y), half, lax.convert_element_type(wins(x, y), x.dtype))


# complex values compare lexicographically (real parts, then imaginary ones), as in numpy and JAX
max_p = elementwise("max", np.maximum, ANY + "c")
defjvp(max_p, lambda t, x, y: lax.mul(t, _choice_weight(x, y, lax.gt)),
       lambda t, x, y: lax.mul(t, _choice_weight(y, x, lax.gt)))
min_p = elementwise("min", np.minimum, ANY + "c")
defjvp(min_p, lambda t, x, y: lax.mul(t, _choice_weight(x, y, lax.lt)),
       lambda t, x, y: lax.mul(t, _choice_weight(y, x, lax.lt)))
atan2_p = elementwise("atan2", np.arctan2, FLOAT, transcendental=True)
defjvp(atan2_p, lambda t, x, y: lax.mul(t, lax.div(y, lax.add(lax.mul(x, x), lax.mul(y, y)))),
       lambda t, x, y: lax.mul(t, lax.div(lax.neg(x), lax.add(lax.mul(x, x), lax.mul(y, y)))))
nextafter_p = elementwise("nextafter", np.nextafter, FLOAT)
defjvp(nextafter_p, lambda t, x, y: t, None)  # a step of one ulp: the identity in x

# -- comparisons -----------------------------------------------------------------------------
_BOOL = np.dtype(bool)
eq_p = elementwise("eq", np.equal, ANY + "c", out_dtype=_BOOL)
defjvp_zero(eq_p)
ne_p = elementwise("ne", np.not_equal, ANY + "c", out_dtype=_BOOL)
defjvp_zero(ne_p)
lt_p = elementwise("lt", np.less, ANY + "c", out_dtype=_BOOL)
defjvp_zero(lt_p)
le_p = elementwise("le", np.less_equal, ANY + "c", out_dtype=_BOOL)
defjvp_zero(le_p)
gt_p = elementwise("gt", np.greater, ANY + "c", out_dtype=_BOOL)
defjvp_zero(gt_p)
ge_p = elementwise("ge", np.greater_equal, ANY + "c", out_dtype=_BOOL)
defjvp_zero(ge_p)

# -- logic and bits (logical on bool, bitwise on integers) -----------------------------------
not_p = elementwise("not", np.invert, BITS)
defjvp_zero(not_p)
and_p = elementwise("and", np.bitwise_and, BITS)
defjvp_zero(and_p)
or_p = elementwise("or", np.bitwise_or, BITS)
defjvp_zero(or_p)
xor_p = elementwise("xor", np.bitwise_xor, BITS)
defjvp_zero(xor_p)


def _shift(x, s, kind):
    bits = x.dtype.itemsize * 8
    too_wide = (s < 0) | (s >= bits)
    amount = np.where(too_wide, 0, s).astype(x.dtype)
    if kind == "left":
        out = np.left_shift(x, amount)
        return np.where(too_wide, 0, out).astype(x.dtype)
    signed = np.dtype(f"i{x.dtype.itemsize}")
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    if kind == "logical":
        out = np.right_shift(x.view(unsigned), amount.view(unsigned)).view(x.dtype)
        return np.where(too_wide, 0, out).astype(x.dtype)
    xs = x.view(signed)
    out = np.right_shift(xs, np.where(too_wide, bits - 1, s).astype(signed))
    return out.view(x.dtype)


shift_left_p = elementwise("shift_left", functools.partial(_shift, kind="left"), INT)
defjvp_zero(shift_left_p)
shift_right_logical_p = elementwise("shift_right_logical",
                                    functools.partial(_shift, kind="logical"), INT)
defjvp_zero(shift_right_logical_p)
shift_right_arithmetic_p = elementwise("shift_right_arithmetic",
                                       functools.partial(_shift, kind="arithmetic"), INT)
defjvp_zero(shift_right_arithmetic_p)
