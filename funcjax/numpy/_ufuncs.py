"""Elementwise arithmetic and math of funcjax.numpy: promote, broadcast, then bind primitives.

Functions that are not primitives are written so that their derivatives stay finite where
the function is (e.g. ``hypot`` and ``sinc`` avoid dividing by a zero they then mask away).
"""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.numpy._programs import eager_program
from funcjax.numpy._util import (
    asarray,
    check_no_out,
    eager_elementwise,
    promote_args,
    promote_args_inexact,
    static_native,
    with_native_entry,
)
from funcjax.ops.custom import custom_jvp

__all__ = [
    "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "sqrt",
    "cbrt", "add", "subtract", "multiply", "true_divide", "divide", "maximum", "minimum",
    "arctan2", "nextafter", "negative", "positive", "invert", "bitwise_not", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_invert", "left_shift", "right_shift",
    "bitwise_left_shift", "bitwise_right_shift", "abs", "absolute", "fabs", "floor_divide",
    "remainder", "mod", "fmod", "divmod", "power", "pow", "float_power", "square",
    "reciprocal", "sign", "floor", "ceil", "trunc", "fix", "rint", "round", "around", "deg2rad",
    "rad2deg", "degrees", "radians", "hypot", "logaddexp", "logaddexp2", "fmax", "fmin",
    "copysign", "signbit", "heaviside", "sinc", "ldexp", "nan_to_num",
    "acos", "asin", "atan", "atan2", "acosh", "asinh", "atanh",
]


def _float_unary(name, op):
    prim = getattr(op, "primitive", None)

    def fn(x, /):
        if prim is not None:
            out = eager_elementwise(fn, prim, (x,), True)
            if out is not None:
                return out
        (x,) = promote_args_inexact(name, x)
        return op(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} (integers are promoted to float, as in JAX)."
    return with_native_entry(fn, prim, 1)


def _bool_as_int(args):
    """JAX computes arithmetic on booleans in the default integer type."""
    if args[0].dtype != dtypes.bool_:
        return args
    return [lax.convert_element_type(a, dtypes.default_int(), a.weak_type) for a in args]


def _binary(name, op, inexact=False, bool_op=None):
    """A promoting, broadcasting binary function; booleans use ``bool_op`` if given, else
    integer arithmetic."""
    prim = getattr(op, "primitive", None)

    def fn(x1, x2, /):
        if prim is not None:
            out = eager_elementwise(fn, prim, (x1, x2), inexact)
            if out is not None:
                return out
        x1, x2 = (promote_args_inexact if inexact else promote_args)(name, x1, x2)
        if bool_op is not None and x1.dtype == dtypes.bool_:
            return bool_op(x1, x2)
        return op(*_bool_as_int([x1, x2]))
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} with numpy broadcasting and JAX dtype promotion."
    return with_native_entry(fn, prim, 2)


def _const(x, value):
    """``value`` as a weakly typed scalar in ``x``'s dtype (it adapts, never promotes)."""
    return lax.full(np.shape(x), value, x.dtype, weak_type=True)


def _log_base(base):
    return lambda x: lax.div(lax.log(x), _const(x, np.log(base)))


exp = _float_unary("exp", lax.exp)
exp2 = _float_unary("exp2", lax.exp2)
log = _float_unary("log", lax.log)
log1p = _float_unary("log1p", lax.log1p)
expm1 = _float_unary("expm1", lax.expm1)
log2 = _float_unary("log2", _log_base(2.0))
log10 = _float_unary("log10", _log_base(10.0))
sin = _float_unary("sin", lax.sin)
cos = _float_unary("cos", lax.cos)
tan = _float_unary("tan", lax.tan)
arcsin = asin = _float_unary("arcsin", lax.asin)
arccos = acos = _float_unary("arccos", lax.acos)
arctan = atan = _float_unary("arctan", lax.atan)
sinh = _float_unary("sinh", lax.sinh)
cosh = _float_unary("cosh", lax.cosh)
tanh = _float_unary("tanh", lax.tanh)
arcsinh = asinh = _float_unary("arcsinh", lax.asinh)
arccosh = acosh = _float_unary("arccosh", lax.acosh)
arctanh = atanh = _float_unary("arctanh", lax.atanh)
sqrt = _float_unary("sqrt", lax.sqrt)
cbrt = _float_unary("cbrt", lax.cbrt)
deg2rad = radians = _float_unary("deg2rad", lambda x: lax.mul(x, _const(x, np.pi / 180)))
rad2deg = degrees = _float_unary("rad2deg", lambda x: lax.mul(x, _const(x, 180 / np.pi)))
rint = _float_unary("rint", lambda x: lax.round(x, 1))

add = _binary("add", lax.add, bool_op=lax.bitwise_or)
subtract = _binary("subtract", lax.sub, bool_op=lax.sub)
multiply = _binary("multiply", lax.mul, bool_op=lax.bitwise_and)
true_divide = divide = _binary("true_divide", lax.div, inexact=True)
maximum = _binary("maximum", lax.max, bool_op=lax.max)
minimum = _binary("minimum", lax.min, bool_op=lax.min)
arctan2 = atan2 = _binary("arctan2", lax.atan2, inexact=True)
nextafter = _binary("nextafter", lax.nextafter, inexact=True)
bitwise_and = _binary("bitwise_and", lax.bitwise_and, bool_op=lax.bitwise_and)
bitwise_or = _binary("bitwise_or", lax.bitwise_or, bool_op=lax.bitwise_or)
bitwise_xor = _binary("bitwise_xor", lax.bitwise_xor, bool_op=lax.bitwise_xor)
left_shift = bitwise_left_shift = _binary("left_shift", lax.shift_left)
float_power = _binary("float_power", lax.pow, inexact=True)


def _right_shift(x1, x2):
    if x1.dtype.kind == "u":
        return lax.shift_right_logical(x1, x2)
    return lax.shift_right_arithmetic(x1, x2)


right_shift = bitwise_right_shift = _binary("right_shift", _right_shift)


def _negative(x, /):
    out = eager_elementwise(_negative, lax.neg.primitive, (x,), False)
    if out is not None:
        return out
    (x,) = promote_args("negative", x)
    return lax.neg(x)


_negative.__name__ = "negative"
negative = with_native_entry(_negative, lax.neg.primitive, 1)


def positive(x, /):
    return asarray(x)


def invert(x, /):
    (x,) = promote_args("invert", x)
    return lax.bitwise_not(x)


bitwise_not = bitwise_invert = invert


def _abs(x, /):
    if type(x) is Array and x._aval.dtype.kind in "if":  # (others: x itself, below)
        out = eager_elementwise(_abs, lax.abs.primitive, (x,), False)
        if out is not None:
            return out
    (x,) = promote_args("abs", x)
    return x if x.dtype.kind in "ub" else lax.abs(x)


_abs.__name__ = "abs"
abs = absolute = with_native_entry(_abs, lax.abs.primitive, 1)  # noqa: A001 - numpy's name


def fabs(x, /):
    (x,) = promote_args_inexact("fabs", x)
    return lax.abs(x)


def floor_divide(x1, x2, /):
    x1, x2 = _bool_as_int(promote_args("floor_divide", x1, x2))
    if x1.dtype.kind == "f":
        return _float_floor_divide(x1, x2)
    q = lax.div(x1, x2)
    if x1.dtype.kind == "u":
        return q
    # Division truncates towards zero; step down where the signs differ and it was inexact.
    # Comparing signs (not "< 0") also gives JAX's x // 0 == -2 for x > 0.
    fix = lax.bitwise_and(lax.ne(lax.rem(x1, x2), _const(x1, 0)),
                          lax.ne(lax.sign(x1), lax.sign(x2)))
    return lax.select(fix, lax.sub(q, _const(q, 1)), q)


def _float_floor_divide(x1, x2):
    """CPython's float divmod: ``(x1 - fmod(x1, x2)) / x2`` is (nearly) an integer, one less
    where the remainder's sign is not the divisor's; ``floor(x1 / x2)`` would round the
    quotient first (``7 // 0.1`` is 69, not 70)."""
    mod = lax.rem(x1, x2)
    div = lax.div(lax.select(lax.eq(x2, _const(x2, 0)), x1, lax.sub(x1, mod)), x2)
    fix = lax.bitwise_and(lax.ne(mod, _const(mod, 0)), lax.ne(lax.sign(x2), lax.sign(mod)))
    return lax.round(lax.select(fix, lax.sub(div, _const(div, 1)), div))


def _int_divisor(x1, x2):
    """As in numpy and JAX, an integer remainder by zero is 0: the divisor counts as 1."""
    if x1.dtype.kind not in "iu":
        return x2
    return lax.select(lax.eq(x2, _const(x2, 0)), _const(x2, 1), x2)


def remainder(x1, x2, /):
    x1, x2 = _bool_as_int(promote_args("remainder", x1, x2))
    x2 = _int_divisor(x1, x2)
    r = lax.rem(x1, x2)
    if x1.dtype.kind == "u":
        return r
    # numpy's remainder takes the sign of the divisor; lax.rem takes the dividend's.
    zero = _const(r, 0)
    fix = lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(x2, zero)))
    return lax.select(fix, lax.add(r, x2), r)


mod = remainder
def fmod(x1, x2, /):
    """The remainder with the dividend's sign (C's ``fmod``)."""
    x1, x2 = _bool_as_int(promote_args("fmod", x1, x2))
    return lax.rem(x1, _int_divisor(x1, x2))


def divmod(x1, x2, /):  # noqa: A001
    return floor_divide(x1, x2), remainder(x1, x2)


def _square_loop(backend, dtype, out_dtype, exponent):
    if type(exponent) is int and exponent == 2 and dtype == out_dtype:
        return backend.ufunc_loop(np.square, dtype, dtype)
    return None


@eager_program(native=static_native("__pow__", _square_loop))
def power(x1, x2, /):
    if isinstance(x2, int) and not isinstance(x2, bool):
        (x1,) = _bool_as_int(promote_args("power", x1))
        if x1.dtype.kind in "iu" and x2 < 0:
            raise ValueError(f"power: integers cannot be raised to negative integer powers "
                             f"(got exponent {x2}); convert the base to float first")
        return lax.integer_pow(x1, x2)
    x1, x2 = _bool_as_int(promote_args("power", x1, x2))
    if x1.dtype.kind == "f":
        return lax.pow(x1, x2)
    return _integer_power(x1, x2)


pow = power  # noqa: A001 - the array API's name


def _integer_power(base, exponent):
    """Integer powers by squaring over the exponent's bits (negative exponents give 0)."""
    acc = _const(base, 1)
    one = _const(exponent, 1)
    for _ in range(base.dtype.itemsize * 8):
        acc = lax.select(lax.ne(lax.bitwise_and(exponent, one), _const(exponent, 0)),
                         lax.mul(acc, base), acc)
        base = lax.mul(base, base)
        exponent = lax.shift_right_logical(exponent, one)
    return acc


def square(x, /):
    if type(x) is Array:  # what ``x ** 2`` computes (a native entry once hot)
        return x ** 2
    (x,) = _bool_as_int(promote_args("square", x))
    return lax.integer_pow(x, 2)


def reciprocal(x, /):
    (x,) = promote_args_inexact("reciprocal", x)
    return lax.integer_pow(x, -1)


def sign(x, /):
    (x,) = promote_args("sign", x)
    return lax.sign(x)


def _integral_or(name, op):
    """Rounding functions are the identity on integers and booleans."""
    def fn(x, /):
        (x,) = promote_args(name, x)
        return x if x.dtype.kind in "iub" else op(x)
    fn.__name__ = name
    return fn


floor = _integral_or("floor", lax.floor)
ceil = _integral_or("ceil", lax.ceil)
trunc = fix = _integral_or(
    "trunc", lambda x: lax.select(lax.lt(x, _const(x, 0)), lax.ceil(x), lax.floor(x)))


def round(a, decimals=0, out=None):  # noqa: A001
    """Rounds half to even, as numpy does; ``decimals`` scales by a power of ten."""
    check_no_out("round", out)
    (a,) = promote_args("round", a)
    if a.dtype == dtypes.bool_:
        raise ValueError("round: not defined for boolean arrays; convert with .astype(int)")
    if a.dtype.kind in "iu":
        return a
    if decimals == 0:
        return lax.round(a, 1)
    scale = _const(a, 10.0 ** decimals)
    return lax.div(lax.round(lax.mul(a, scale), 1), scale)


around = round


def hypot(x1, x2, /):
    """``sqrt(x1**2 + x2**2)`` scaled by the larger magnitude so squares cannot overflow."""
    x1, x2 = promote_args_inexact("hypot", x1, x2)
    x1, x2 = lax.abs(x1), lax.abs(x2)
    big, small = lax.max(x1, x2), lax.min(x1, x2)
    zero = lax.eq(big, _const(big, 0))
    safe = lax.select(zero, _const(big, 1), big)
    ratio = lax.div(small, safe)
    out = lax.mul(big, lax.sqrt(lax.add(_const(big, 1), lax.mul(ratio, ratio))))
    # An infinite side wins even over NaN (IEEE hypot), which max/min would propagate.
    inf = _const(big, np.inf)
    return lax.select(lax.bitwise_or(lax.eq(x1, inf), lax.eq(x2, inf)), inf, out)


def _logaddexp(exp_fn, log1p_fn):
    """log(exp(x1) + exp(x2)) without overflow, with the derivative written out: through
    max/abs it would be wrong where x1 == x2 (their derivatives split or pick a side)."""
    @custom_jvp
    def op(x1, x2):
        big = lax.max(x1, x2)
        delta = lax.sub(x1, x2)
        out = lax.add(big, log1p_fn(exp_fn(lax.neg(lax.abs(delta)))))
        # delta is NaN for inf - inf of equal sign (the answer is that inf) or for NaN inputs.
        return lax.select(lax.ne(delta, delta), lax.add(x1, x2), out)

    @op.defjvp
    def op_jvp(primals, tangents):
        (x1, x2), (t1, t2) = primals, tangents
        out = op(x1, x2)
        # Each input's weight is its share of the sum: exp(x_i - out) (as JAX, infs read as 0).
        finite = lambda x: lax.select(lax.is_finite(x), x, _const(x, 0))  # noqa: E731
        w1 = exp_fn(lax.sub(finite(x1), finite(out)))
        w2 = exp_fn(lax.sub(finite(x2), finite(out)))
        return out, lax.add(lax.mul(t1, w1), lax.mul(t2, w2))
    return op


logaddexp = _binary("logaddexp", _logaddexp(lax.exp, lax.log1p), inexact=True)
logaddexp2 = _binary("logaddexp2", _logaddexp(
    lax.exp2, lambda t: lax.div(lax.log1p(t), _const(t, np.log(2.0)))), inexact=True)


def _nan_ignoring(name, op):
    def fn(x1, x2, /):
        x1, x2 = promote_args(name, x1, x2)
        if x1.dtype.kind != "f":
            return op(x1, x2)
        out = lax.select(lax.ne(x1, x1), x2, op(x1, x2))
        return lax.select(lax.ne(x2, x2), x1, out)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} that ignores a NaN if the other operand is a number."
    return fn


fmax = _nan_ignoring("fmax", lax.max)
fmin = _nan_ignoring("fmin", lax.min)


def signbit(x, /):
    """True where the sign is negative, including -0.0 (without bit casts, -NaN gives False)."""
    (x,) = promote_args("signbit", x)
    if x.dtype.kind in "ub":
        return lax.full(x.shape, False)
    zero = _const(x, 0)
    negative_ = lax.lt(x, zero)
    if x.dtype.kind != "f":
        return negative_
    negative_zero = lax.bitwise_and(lax.eq(x, zero), lax.lt(lax.div(_const(x, 1), x), zero))
    return lax.bitwise_or(negative_, negative_zero)


def copysign(x1, x2, /):
    x1, x2 = promote_args_inexact("copysign", x1, x2)
    magnitude = lax.abs(x1)
    return lax.select(signbit(x2), lax.neg(magnitude), magnitude)


def heaviside(x1, x2, /):
    """0 below zero, 1 above, ``x2`` at zero, NaN at NaN."""
    x1, x2 = promote_args_inexact("heaviside", x1, x2)
    zero = _const(x1, 0)
    step = lax.select(lax.gt(x1, zero), _const(x1, 1), zero)
    step = lax.select(lax.ne(x1, x1), x1, step)
    return lax.select(lax.eq(x1, zero), x2, step)


def sinc(x, /):
    """``sin(pi x) / (pi x)``, 1 at 0 (the divisor is made safe there, not just masked)."""
    (x,) = promote_args_inexact("sinc", x)
    zero = lax.eq(x, _const(x, 0))
    pix = lax.mul(_const(x, np.pi), lax.select(zero, _const(x, 1), x))
    return lax.select(zero, _const(x, 1), lax.div(lax.sin(pix), pix))


def ldexp(x1, x2, /):
    """``x1 * 2**x2`` for integer ``x2``."""
    x2 = asarray(x2)
    if x2.dtype.kind not in "iu":
        raise TypeError(f"ldexp: the exponent must be an integer array, got dtype {x2.dtype}")
    x1, x2 = promote_args_inexact("ldexp", x1, x2)
    return lax.mul(x1, lax.exp2(x2))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN becomes ``nan``, infinities the largest finite values (or ``posinf``/``neginf``)."""
    (x,) = promote_args("nan_to_num", x)
    if x.dtype.kind != "f":
        return x
    info = dtypes.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = lax.select(lax.ne(x, x), _const(x, nan), x)
    x = lax.select(lax.eq(x, _const(x, np.inf)), _const(x, posinf), x)
    return lax.select(lax.eq(x, _const(x, -np.inf)), _const(x, neginf), x)

