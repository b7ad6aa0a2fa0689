"""Elementwise primitives: math functions, arithmetic, comparisons, logic and bit operations.

Operands of one operation always share shape and dtype: ``funcjax.numpy`` broadcasts and
promotes before binding, as ``jax.lax`` requires. Integer division and shifts follow XLA's
defined results (``x // 0 == -1``, ``x % 0 == x``, over-wide shifts give 0 or the sign).
"""

import functools

import numpy as np

from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import elementwise_batch_rule
from funcjax.ops.typing import ANY, BITS, FLOAT, INT, NUMBER, elementwise_type


def elementwise(name, impl, kinds, out_dtype=None):
    """Defines an elementwise primitive with its impl, type and batch rules (others follow)."""
    prim = define_primitive(name, impl, functools.partial(elementwise_type, name, kinds=kinds,
                                                          out_dtype=out_dtype))
    prim.def_batch(elementwise_batch_rule(prim))
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
exp_p = elementwise("exp", np.exp, FLOAT)
exp2_p = elementwise("exp2", np.exp2, FLOAT)
log_p = elementwise("log", np.log, FLOAT)
log1p_p = elementwise("log1p", np.log1p, FLOAT)
expm1_p = elementwise("expm1", np.expm1, FLOAT)
sin_p = elementwise("sin", np.sin, FLOAT)
cos_p = elementwise("cos", np.cos, FLOAT)
tan_p = elementwise("tan", np.tan, FLOAT)
asin_p = elementwise("asin", np.arcsin, FLOAT)
acos_p = elementwise("acos", np.arccos, FLOAT)
atan_p = elementwise("atan", np.arctan, FLOAT)
sinh_p = elementwise("sinh", np.sinh, FLOAT)
cosh_p = elementwise("cosh", np.cosh, FLOAT)
tanh_p = elementwise("tanh", np.tanh, FLOAT)
asinh_p = elementwise("asinh", np.arcsinh, FLOAT)
acosh_p = elementwise("acosh", np.arccosh, FLOAT)
atanh_p = elementwise("atanh", np.arctanh, FLOAT)
logistic_p = elementwise("logistic", _logistic, FLOAT)
sqrt_p = elementwise("sqrt", np.sqrt, FLOAT)
rsqrt_p = elementwise("rsqrt", _rsqrt, FLOAT)
cbrt_p = elementwise("cbrt", np.cbrt, FLOAT)
erf_p = elementwise("erf", _erf, FLOAT)
floor_p = elementwise("floor", np.floor, FLOAT)
ceil_p = elementwise("ceil", np.ceil, FLOAT)
round_p = define_primitive("round", _round, lambda x, rounding_method=0: elementwise_type(
    "round", x, kinds=FLOAT))
round_p.def_batch(elementwise_batch_rule(round_p))
is_finite_p = elementwise("is_finite", np.isfinite, FLOAT, out_dtype=np.dtype(bool))

# -- unary numeric ---------------------------------------------------------------------------
neg_p = elementwise("neg", np.negative, NUMBER)
sign_p = elementwise("sign", np.sign, NUMBER)
abs_p = elementwise("abs", np.abs, NUMBER)


def _integer_pow_impl(x, *, y):
    if y >= 0:
        return np.power(x, y).astype(x.dtype)
    if x.dtype.kind == "f":
        return (1 / np.power(x, -y)).astype(x.dtype)
    return _int_div(np.ones_like(x), np.power(x, -y))


def _integer_pow_type(x, *, y):
    if not isinstance(y, int):
        raise TypeError(f"integer_pow: the exponent must be a Python int, got {y!r}")
    return elementwise_type("integer_pow", x, kinds=NUMBER)


integer_pow_p = define_primitive("integer_pow", _integer_pow_impl, _integer_pow_type)
integer_pow_p.def_batch(elementwise_batch_rule(integer_pow_p))

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
    return np.true_divide(x, y).astype(x.dtype) if x.dtype.kind == "f" else _int_div(x, y)


def _rem(x, y):
    if x.dtype.kind == "f":
        return np.fmod(x, y)
    zero = y == 0
    return np.where(zero, x, np.fmod(x, np.where(zero, np.ones_like(y), y))).astype(x.dtype)


add_p = elementwise("add", np.add, NUMBER)
sub_p = elementwise("sub", np.subtract, NUMBER)
mul_p = elementwise("mul", np.multiply, NUMBER)
div_p = elementwise("div", _div, NUMBER)
rem_p = elementwise("rem", _rem, NUMBER)
pow_p = elementwise("pow", np.power, FLOAT)
max_p = elementwise("max", np.maximum, ANY)
min_p = elementwise("min", np.minimum, ANY)
atan2_p = elementwise("atan2", np.arctan2, FLOAT)
nextafter_p = elementwise("nextafter", np.nextafter, FLOAT)

# -- comparisons -----------------------------------------------------------------------------
_BOOL = np.dtype(bool)
eq_p = elementwise("eq", np.equal, ANY, out_dtype=_BOOL)
ne_p = elementwise("ne", np.not_equal, ANY, out_dtype=_BOOL)
lt_p = elementwise("lt", np.less, ANY, out_dtype=_BOOL)
le_p = elementwise("le", np.less_equal, ANY, out_dtype=_BOOL)
gt_p = elementwise("gt", np.greater, ANY, out_dtype=_BOOL)
ge_p = elementwise("ge", np.greater_equal, ANY, out_dtype=_BOOL)

# -- logic and bits (logical on bool, bitwise on integers) -----------------------------------
not_p = elementwise("not", np.invert, BITS)
and_p = elementwise("and", np.bitwise_and, BITS)
or_p = elementwise("or", np.bitwise_or, BITS)
xor_p = elementwise("xor", np.bitwise_xor, BITS)


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
shift_right_logical_p = elementwise("shift_right_logical",
                                    functools.partial(_shift, kind="logical"), INT)
shift_right_arithmetic_p = elementwise("shift_right_arithmetic",
                                       functools.partial(_shift, kind="arithmetic"), INT)
