"""Comparisons, logical functions, predicates and selection (``where``, ``clip``)."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy._programs import eager_program
from funcjax.numpy._util import (
    asarray,
    broadcast_arrays,
    check_no_out,
    eager_elementwise,
    promote_args,
    promote_args_inexact,
    promote_dtypes,
    select_native,
    with_native_entry,
    with_native_slot,
)

__all__ = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_and", "logical_or", "logical_xor", "logical_not", "isfinite", "isinf",
           "isnan", "isposinf", "isneginf", "isclose", "allclose", "array_equal",
           "array_equiv", "where", "select", "clip"]


def _comparison(name, op):
    def fn(x1, x2, /):
        out = eager_elementwise(fn, op.primitive, (x1, x2), False)
        if out is not None:
            return out
        x1, x2 = promote_args(name, x1, x2)
        out = op(x1, x2)
        # JAX marks a comparison weak when its promoted operands were (e.g. bool vs 1.0).
        return lax.convert_element_type(out, dtypes.bool_, True) if x1.weak_type else out
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} after numpy broadcasting and JAX promotion."
    return with_native_entry(fn, op.primitive, 2)


equal = _comparison("equal", lax.eq)
not_equal = _comparison("not_equal", lax.ne)
less = _comparison("less", lax.lt)
less_equal = _comparison("less_equal", lax.le)
greater = _comparison("greater", lax.gt)
greater_equal = _comparison("greater_equal", lax.ge)


def to_bool(x):
    x = asarray(x)
    return x if x.dtype == dtypes.bool_ else lax.ne(x, lax.full(np.shape(x), 0, x.dtype))


def _logical(name, op):
    def fn(x1, x2, /):
        return op(*promote_args(name, to_bool(x1), to_bool(x2)))
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} of the truth values of the operands."
    return fn


logical_and = _logical("logical_and", lax.bitwise_and)
logical_or = _logical("logical_or", lax.bitwise_or)
logical_xor = _logical("logical_xor", lax.bitwise_xor)


def logical_not(x, /):
    return lax.bitwise_not(to_bool(x))


def _float_predicate(name, op, otherwise):
    def fn(x, /):
        x = asarray(x)
        return op(x) if x.dtype.kind == "f" else lax.full(np.shape(x), otherwise)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name}; integers and booleans are always {otherwise}."
    return fn


def _is_value(value):
    return lambda x: lax.eq(x, lax.full(x.shape, value, x.dtype))


isfinite = _float_predicate("isfinite", lax.is_finite, True)
isnan = _float_predicate("isnan", lambda x: lax.ne(x, x), False)
isinf = _float_predicate("isinf", lambda x: _is_value(np.inf)(lax.abs(x)), False)
isposinf = _float_predicate("isposinf", _is_value(np.inf), False)
isneginf = _float_predicate("isneginf", _is_value(-np.inf), False)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|a - b| <= atol + rtol * |b|`` elementwise; infinities are close only to themselves."""
    a, b = promote_args_inexact("isclose", a, b)
    full = lambda v: lax.full(a.shape, v, a.dtype)  # noqa: E731
    within = lax.le(lax.abs(lax.sub(a, b)), lax.add(full(atol), lax.mul(full(rtol), lax.abs(b))))
    finite = lax.bitwise_and(lax.is_finite(a), lax.is_finite(b))
    out = lax.bitwise_or(lax.eq(a, b), lax.bitwise_and(finite, within))
    if equal_nan:
        out = lax.bitwise_or(out, lax.bitwise_and(lax.ne(a, a), lax.ne(b, b)))
    return lax.convert_element_type(out, dtypes.bool_)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    close = isclose(a, b, rtol, atol, equal_nan)
    return lax.reduce_and(close, range(close.ndim))


def array_equal(a1, a2, equal_nan=False):
    """Same shape and equal elements (a shape mismatch is a plain False, not an error)."""
    a1, a2 = asarray(a1), asarray(a2)
    if a1.shape != a2.shape:
        return asarray(False)
    return _all_equal(a1, a2, equal_nan)


def array_equiv(a1, a2):
    """Equal after broadcasting (unbroadcastable shapes give False)."""
    a1, a2 = asarray(a1), asarray(a2)
    try:
        a1, a2 = broadcast_arrays("array_equiv", a1, a2)
    except ValueError:
        return asarray(False)
    return _all_equal(a1, a2, False)


def _all_equal(a1, a2, equal_nan):
    a1, a2 = promote_dtypes(a1, a2)
    eq = lax.eq(a1, a2)
    if equal_nan and a1.dtype.kind == "f":
        eq = lax.bitwise_or(eq, lax.bitwise_and(lax.ne(a1, a1), lax.ne(a2, a2)))
    return lax.reduce_and(eq, range(eq.ndim))


@eager_program(native=lambda *replay: select_native(_where, *replay))
def _where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """``x`` where ``condition`` holds, else ``y``; with one argument, ``nonzero(condition)``."""
    if x is None and y is None:
        from funcjax.numpy._indexing import nonzero
        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y must be given")
    x, y = promote_dtypes(x, y)
    condition, x, y = broadcast_arrays("where", to_bool(condition), x, y)  # ValueError, as JAX
    return lax.select(condition, x, y)


where = with_native_slot(_where, 3)
where.__name__ = where.__qualname__ = "where"


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds, elementwise (later ones are checked first and
    overwritten, so the earliest true condition wins)."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist has {len(condlist)} entries but choicelist has "
                         f"{len(choicelist)}")
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = where(cond, choice, out)
    return asarray(out)


def clip(a, a_min=None, a_max=None, *, min=None, max=None, out=None):  # noqa: A002
    """Limits values to ``[min, max]`` (either may be None); the bounds promote the result.
    (``a_min``/``a_max``, ``min``/``max`` and ``out=None``: numpy's names.)"""
    check_no_out("clip", out)
    lo = a_min if min is None else min
    hi = a_max if max is None else max
    a = asarray(a)
    if lo is not None:
        a = lax.max(*promote_args("clip", a, lo))
    if hi is not None:
        a = lax.min(*promote_args("clip", a, hi))
    return a
