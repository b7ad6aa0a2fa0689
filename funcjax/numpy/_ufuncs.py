"""Elementwise functions of funcjax.numpy: promote, broadcast, then bind one primitive."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy._util import (
    asarray,
    broadcast_arrays,
    promote_args,
    promote_args_inexact,
    promote_dtypes,
)


def _float_unary(name, op):
    def fn(x, /):
        (x,) = promote_args_inexact(name, x)
        return op(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} (integers are promoted to float, as in JAX)."
    return fn


def _binary(name, op, inexact=False):
    def fn(x1, x2, /):
        x1, x2 = (promote_args_inexact if inexact else promote_args)(name, x1, x2)
        return op(x1, x2)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} with numpy broadcasting and JAX dtype promotion."
    return fn


exp = _float_unary("exp", lax.exp)
exp2 = _float_unary("exp2", lax.exp2)
log = _float_unary("log", lax.log)
log1p = _float_unary("log1p", lax.log1p)
expm1 = _float_unary("expm1", lax.expm1)
log2 = _float_unary("log2", lambda x: lax.div(lax.log(x), lax.log(lax.full((), 2.0, x.dtype))))
log10 = _float_unary("log10",
                     lambda x: lax.div(lax.log(x), lax.log(lax.full((), 10.0, x.dtype))))
sin = _float_unary("sin", lax.sin)
cos = _float_unary("cos", lax.cos)
tan = _float_unary("tan", lax.tan)
arcsin = _float_unary("arcsin", lax.asin)
arccos = _float_unary("arccos", lax.acos)
arctan = _float_unary("arctan", lax.atan)
sinh = _float_unary("sinh", lax.sinh)
cosh = _float_unary("cosh", lax.cosh)
tanh = _float_unary("tanh", lax.tanh)
arcsinh = _float_unary("arcsinh", lax.asinh)
arccosh = _float_unary("arccosh", lax.acosh)
arctanh = _float_unary("arctanh", lax.atanh)
sqrt = _float_unary("sqrt", lax.sqrt)
cbrt = _float_unary("cbrt", lax.cbrt)

add = _binary("add", lax.add)
subtract = _binary("subtract", lax.sub)
multiply = _binary("multiply", lax.mul)
true_divide = divide = _binary("true_divide", lax.div, inexact=True)
maximum = _binary("maximum", lax.max)
minimum = _binary("minimum", lax.min)
arctan2 = _binary("arctan2", lax.atan2, inexact=True)
equal = _binary("equal", lax.eq)
not_equal = _binary("not_equal", lax.ne)
less = _binary("less", lax.lt)
less_equal = _binary("less_equal", lax.le)
greater = _binary("greater", lax.gt)
greater_equal = _binary("greater_equal", lax.ge)
bitwise_and = _binary("bitwise_and", lax.bitwise_and)
bitwise_or = _binary("bitwise_or", lax.bitwise_or)
bitwise_xor = _binary("bitwise_xor", lax.bitwise_xor)


def negative(x, /):
    (x,) = promote_args("negative", x)
    if x.dtype == dtypes.bool_:
        raise TypeError("negative does not accept boolean arrays; use logical_not")
    return lax.neg(x)


def positive(x, /):
    return asarray(x)


def invert(x, /):
    (x,) = promote_args("invert", x)
    return lax.bitwise_not(x)


bitwise_not = invert


def abs(x, /):  # noqa: A001 - numpy's name
    (x,) = promote_args("abs", x)
    return x if x.dtype.kind in "ub" else lax.abs(x)


absolute = abs


def floor_divide(x1, x2, /):
    x1, x2 = promote_args("floor_divide", x1, x2)
    if x1.dtype.kind == "f":
        return lax.floor(lax.div(x1, x2))
    if x1.dtype == dtypes.bool_:
        raise TypeError("floor_divide does not accept boolean arrays")
    q = lax.div(x1, x2)
    if x1.dtype.kind == "u":
        return q
    # Truncation rounds towards zero; step down where the signs differ and it was inexact.
    fix = lax.bitwise_and(lax.ne(lax.rem(x1, x2), 0),
                          lax.ne(lax.lt(x1, 0), lax.lt(x2, 0)))
    return lax.select(fix, lax.sub(q, 1), q)


def remainder(x1, x2, /):
    x1, x2 = promote_args("remainder", x1, x2)
    r = lax.rem(x1, x2)
    if x1.dtype.kind == "u":
        return r
    # numpy's remainder takes the sign of the divisor.
    fix = lax.bitwise_and(lax.ne(r, 0), lax.ne(lax.lt(r, 0), lax.lt(x2, 0)))
    return lax.select(fix, lax.add(r, x2), r)


mod = remainder


def divmod(x1, x2, /):  # noqa: A001
    return floor_divide(x1, x2), remainder(x1, x2)


def power(x1, x2, /):
    if isinstance(x2, int) and not isinstance(x2, bool):
        (x1,) = promote_args("power", x1)
        if x1.dtype.kind in "iu" and x2 < 0:
            raise ValueError("power: integers to negative integer powers are not allowed")
        return lax.integer_pow(x1, x2)
    x1, x2 = promote_args("power", x1, x2)
    if x1.dtype.kind == "f":
        return lax.pow(x1, x2)
    return _integer_power(x1, x2)


def _integer_power(base, exponent):
    """Integer powers by repeated squaring over the exponent's bits (as jnp.power does)."""
    bits = base.dtype.itemsize * 8
    acc = lax.full(np.shape(base), 1, base.dtype)
    for _ in range(bits):
        acc = lax.select(lax.ne(lax.bitwise_and(exponent, 1), 0), lax.mul(acc, base), acc)
        base = lax.mul(base, base)
        exponent = lax.shift_right_logical(exponent, lax.full(np.shape(exponent), 1,
                                                              exponent.dtype))
    return acc


def square(x, /):
    (x,) = promote_args("square", x)
    return lax.integer_pow(x, 2)


def reciprocal(x, /):
    (x,) = promote_args_inexact("reciprocal", x)
    return lax.integer_pow(x, -1)


def sign(x, /):
    (x,) = promote_args("sign", x)
    return lax.sign(x)


def floor(x, /):
    (x,) = promote_args("floor", x)
    return x if x.dtype.kind in "iub" else lax.floor(x)


def ceil(x, /):
    (x,) = promote_args("ceil", x)
    return x if x.dtype.kind in "iub" else lax.ceil(x)


def round(a, decimals=0):  # noqa: A001
    (a,) = promote_args("round", a)
    if a.dtype.kind in "iub":
        return a
    if decimals == 0:
        return lax.round(a, 1)
    scale = lax.full((), 10.0 ** decimals, a.dtype)
    return lax.div(lax.round(lax.mul(a, scale), 1), scale)


around = round


def isfinite(x, /):
    (x,) = promote_args("isfinite", x)
    return lax.is_finite(x) if x.dtype.kind == "f" else lax.full(np.shape(x), True)


def isinf(x, /):
    (x,) = promote_args("isinf", x)
    if x.dtype.kind != "f":
        return lax.full(np.shape(x), False)
    return lax.eq(lax.abs(x), lax.full(np.shape(x), np.inf, x.dtype))


def isnan(x, /):
    (x,) = promote_args("isnan", x)
    return lax.ne(x, x) if x.dtype.kind == "f" else lax.full(np.shape(x), False)


def logical_and(x1, x2, /):
    return lax.bitwise_and(*promote_args("logical_and", _to_bool(x1), _to_bool(x2)))


def logical_or(x1, x2, /):
    return lax.bitwise_or(*promote_args("logical_or", _to_bool(x1), _to_bool(x2)))


def logical_xor(x1, x2, /):
    return lax.bitwise_xor(*promote_args("logical_xor", _to_bool(x1), _to_bool(x2)))


def logical_not(x, /):
    return lax.bitwise_not(_to_bool(x))


def _to_bool(x):
    x = asarray(x)
    return x if x.dtype == dtypes.bool_ else lax.ne(x, lax.full(np.shape(x), 0, x.dtype))


def where(condition, x=None, y=None, /):
    if x is None and y is None:
        from funcjax.numpy._indexing import nonzero
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y must be given")
    x, y = promote_dtypes(x, y)
    condition, x, y = broadcast_arrays("where", _to_bool(condition), x, y)
    return lax.select(condition, x, y)


def clip(a, a_min=None, a_max=None):
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return asarray(a)
