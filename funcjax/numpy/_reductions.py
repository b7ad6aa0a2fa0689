"""Reductions of funcjax.numpy with ``axis``/``keepdims``/``where``, built on the reduce,
argmax/argmin, cumulative and sort primitives. Results are strongly typed, as in JAX."""

import builtins

import numpy as np

from funcjax import lax
from funcjax.config import config
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.interpreters.eval import runs_now
from funcjax.numpy._logic import isnan, to_bool
from funcjax.numpy._programs import eager_program
from funcjax.numpy._ufuncs import true_divide
from funcjax.numpy._util import (
    asarray,
    canonical_axes,
    canonical_axis,
    check_no_out,
    eager_reduction,
    promote_dtypes_inexact,
    with_native_reduction,
)
from funcjax.numpy._util import broadcast_to_shape as _broadcast
from funcjax.ops import reductions

__all__ = ["sum", "prod", "max", "min", "amax", "amin", "all", "any", "mean", "var", "std",
           "argmax", "argmin", "cumsum", "cumprod", "cumulative_sum", "cumulative_prod",
           "nansum", "nanprod", "nanmax", "nanmin", "nanmean", "nanvar", "nanstd", "ptp",
           "average", "count_nonzero", "quantile", "percentile", "median", "nanargmax",
           "nanargmin"]


def _strong(x):
    return lax.convert_element_type(x, x.dtype) if x.weak_type else x


def _fill(x, value):
    return lax.full(np.shape(x), value, x.dtype)


def _upcast_sum_dtype(dtype):
    """numpy and JAX sum booleans and integers narrower than the default integer in it
    (int64 with x64), unsigned ones in the unsigned type of that width."""
    if dtype == dtypes.bool_ or (dtype.kind == "i" and dtype.itemsize <
                                 dtypes.default_int().itemsize):
        return dtypes.default_int()
    if dtype.kind == "u" and dtype.itemsize < dtypes.default_int().itemsize:
        return dtypes.canonicalize(np.uint64)
    return dtype


def _reduce(name, prim_fn, a, axis, keepdims, where=None, identity=None, dtype=None):
    a = _strong(asarray(a))
    axes = canonical_axes(name, axis, a.ndim)
    if a.ndim == 0 and axes:  # (``canonical_axes`` lets axis 0 through for 0-d arrays)
        raise ValueError(f"{name}: axis {axis} is out of bounds for a 0-d array, which has no "
                         "axes; use axis=None")
    if dtype is not None:
        a = lax.convert_element_type(a, dtype)
    if where is not None:
        if identity is None:
            raise ValueError(f"{name}: reducing with where= needs initial= (an identity "
                             "for the masked-out elements)")
        mask = _broadcast(to_bool(where), a.shape)
        a = lax.select(mask, a, _fill(a, identity))
    if identity is not None and 0 in [a.shape[i] for i in axes]:
        # An empty reduction is its identity (max/min have one only through ``initial``).
        kept = tuple(d for i, d in enumerate(a.shape) if i not in axes)
        out = lax.full(kept, identity, a.dtype)
    else:
        out = prim_fn(a, axes) if axes else a
    return lax.expand_dims(out, axes) if keepdims and axes else out


def _with_initial(fn, out, initial):
    return out if initial is None else fn(out, lax.full(out.shape, initial, out.dtype))


def _sum(a, axis=None, dtype=None, keepdims=False, initial=None, where=None, *, out=None):
    if dtype is None and not keepdims and initial is None and where is None and out is None:
        fast = eager_reduction(_sum, reductions.reduce_sum_p, a, axis, _upcast_sum_dtype)
        if fast is not None:
            return fast
    check_no_out("sum", out)
    a = asarray(a)
    dtype = _upcast_sum_dtype(a.dtype) if dtype is None else dtypes.canonicalize(dtype)
    out = _reduce("sum", lax.reduce_sum, a, axis, keepdims, where, 0, dtype)
    return _with_initial(lax.add, out, initial)


_sum.__name__ = _sum.__qualname__ = "sum"
sum = with_native_reduction(_sum, np.add)  # noqa: A001


def _prod(a, axis=None, dtype=None, keepdims=False, initial=None, where=None, *, out=None):
    if dtype is None and not keepdims and initial is None and where is None and out is None:
        fast = eager_reduction(_prod, reductions.reduce_prod_p, a, axis, _upcast_sum_dtype)
        if fast is not None:
            return fast
    check_no_out("prod", out)
    a = asarray(a)
    dtype = _upcast_sum_dtype(a.dtype) if dtype is None else dtypes.canonicalize(dtype)
    out = _reduce("prod", lax.reduce_prod, a, axis, keepdims, where, 1, dtype)
    return _with_initial(lax.mul, out, initial)


def _same_dtype(dtype):
    return dtype


def _max(a, axis=None, keepdims=False, initial=None, where=None, *, out=None):
    if not keepdims and initial is None and where is None and out is None:
        fast = eager_reduction(_max, reductions.reduce_max_p, a, axis, _same_dtype)
        if fast is not None:
            return fast
    check_no_out("max", out)
    out = _reduce("max", lax.reduce_max, a, axis, keepdims, where, initial)
    return _with_initial(lax.max, out, initial)


def _min(a, axis=None, keepdims=False, initial=None, where=None, *, out=None):
    if not keepdims and initial is None and where is None and out is None:
        fast = eager_reduction(_min, reductions.reduce_min_p, a, axis, _same_dtype)
        if fast is not None:
            return fast
    check_no_out("min", out)
    out = _reduce("min", lax.reduce_min, a, axis, keepdims, where, initial)
    return _with_initial(lax.min, out, initial)


for _fn, _name in ((_prod, "prod"), (_max, "max"), (_min, "min")):
    _fn.__name__ = _fn.__qualname__ = _name
prod = with_native_reduction(_prod, np.multiply)
max = with_native_reduction(_max, np.maximum)  # noqa: A001
min = with_native_reduction(_min, np.minimum)  # noqa: A001


amax, amin = max, min


def all(a, axis=None, keepdims=False, where=None, *, out=None):  # noqa: A001
    check_no_out("all", out)
    return _reduce("all", lax.reduce_and, to_bool(a), axis, keepdims, where, True)


def any(a, axis=None, keepdims=False, where=None, *, out=None):  # noqa: A001
    check_no_out("any", out)
    return _reduce("any", lax.reduce_or, to_bool(a), axis, keepdims, where, False)


def _count(shape, axes):
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _mean_dtype(a, dtype):
    if dtype is not None:
        return dtypes.canonicalize(dtype)
    return dtypes.to_inexact(a.dtype)


def _computation_dtype(dtype):
    """As JAX does, means and variances of float16 are computed in float32: a float16 sum
    of squares overflows at 65504."""
    return dtypes.canonicalize(np.float32) if dtype == np.float16 else dtype


def mean(a, axis=None, dtype=None, keepdims=False, where=None, *, out=None):
    if (axis is None or type(axis) is int) and dtype is None and not keepdims and \
            where is None and out is None and type(a) is Array and runs_now():
        aval = a._aval
        if not aval.weak_type and aval.dtype.kind == "f" and 0 < aval.size < 2**24 and \
                (aval.dtype.itemsize == 4 or (aval.dtype.itemsize == 8 and
                                               config.jax_enable_x64)) and \
                (axis is None or -aval.ndim <= axis < aval.ndim):
            # What the general path computes (a sum in the array's dtype divided by the
            # count in that dtype, exact below 2**24), from the eager sum and division.
            count = aval.size if axis is None else aval.shape[axis]
            return true_divide(sum(a, axis), float(count))
    return _mean(a, axis, dtype, keepdims, where, out=out)


@eager_program
def _mean(a, axis=None, dtype=None, keepdims=False, where=None, *, out=None):
    check_no_out("mean", out)
    a = asarray(a)
    axes = canonical_axes("mean", axis, a.ndim)
    dtype = _mean_dtype(a, dtype)
    work = _computation_dtype(dtype)
    total = sum(a, axis, work, keepdims, where=where)
    if where is None:
        count = lax.full(total.shape, _count(a.shape, axes), work)
    else:
        count = sum(_broadcast(to_bool(where), a.shape), axis, work, keepdims)
    return lax.convert_element_type(lax.div(total, count), dtype)


def var(a, axis=None, dtype=None, ddof=0, keepdims=False, *, correction=None, out=None,
        where=None):
    """Mean squared deviation from the mean, divided by ``N - ddof`` (over the elements
    ``where`` selects, if given)."""
    check_no_out("var", out)
    a = asarray(a)
    ddof = ddof if correction is None else correction
    axes = canonical_axes("var", axis, a.ndim)
    dtype = _mean_dtype(a, dtype)
    a = lax.convert_element_type(_strong(a), _computation_dtype(dtype))
    centered = lax.sub(a, _broadcast(mean(a, axis, keepdims=True, where=where), a.shape))
    total = sum(lax.mul(centered, centered), axis, keepdims=keepdims, where=where)
    if where is None:
        count = lax.full(total.shape, _count(a.shape, axes) - ddof, total.dtype)
    else:
        count = lax.sub(sum(_broadcast(to_bool(where), a.shape), axis, total.dtype, keepdims),
                        lax.full(total.shape, ddof, total.dtype))
    return lax.convert_element_type(lax.div(total, count), dtype)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False, *, correction=None, out=None,
        where=None):
    check_no_out("std", out)
    return lax.sqrt(var(a, axis, dtype, ddof, keepdims, correction=correction, where=where))


def _arg(name, prim_fn, a, axis, keepdims):
    a = asarray(a)
    if axis is None:
        out = prim_fn(lax.reshape(a, (a.size,)), 0, dtypes.default_int())
        return lax.reshape(out, (1,) * a.ndim) if keepdims else out
    axis = canonical_axis(name, axis, a.ndim)
    out = prim_fn(a, axis, dtypes.default_int())
    return lax.expand_dims(out, (axis,)) if keepdims else out


def argmax(a, axis=None, keepdims=False, *, out=None):
    check_no_out("argmax", out)
    return _arg("argmax", lax.argmax, a, axis, keepdims)


def argmin(a, axis=None, keepdims=False, *, out=None):
    check_no_out("argmin", out)
    return _arg("argmin", lax.argmin, a, axis, keepdims)


def _cumulative(name, prim_fn, a, axis, dtype):
    a = _strong(asarray(a))
    if axis is None:
        a, axis = lax.reshape(a, (a.size,)), 0
    if dtype is not None:
        a = lax.convert_element_type(a, dtype)
    elif a.dtype == dtypes.bool_:
        a = lax.convert_element_type(a, dtypes.default_int())
    return prim_fn(a, canonical_axis(name, axis, a.ndim))


def cumsum(a, axis=None, dtype=None, *, out=None):
    check_no_out("cumsum", out)
    return _cumulative("cumsum", lax.cumsum, a, axis, dtype)


def cumprod(a, axis=None, dtype=None, *, out=None):
    check_no_out("cumprod", out)
    return _cumulative("cumprod", lax.cumprod, a, axis, dtype)


def _cumulative_inclusive(fn):
    def op(x, /, *, axis=None, dtype=None, include_initial=False):
        x = asarray(x)
        if axis is None:
            if x.ndim != 1:
                raise ValueError(f"{fn.__name__}: axis is required for arrays of rank "
                                 f"{x.ndim} (shape {x.shape})")
            axis = 0
        out = fn(x, axis, dtype)
        if include_initial:
            axis = canonical_axis(fn.__name__, axis, x.ndim)
            shape = list(out.shape)
            shape[axis] = 1
            first = lax.full(shape, 0 if fn is cumsum else 1, out.dtype)
            out = lax.concatenate([first, out], axis)
        return out
    op.__name__ = f"cumulative_{fn.__name__[3:]}"
    return op


cumulative_sum = _cumulative_inclusive(cumsum)
cumulative_prod = _cumulative_inclusive(cumprod)


# -- NaN-ignoring reductions -----------------------------------------------------------------
def _nan_to(a, value):
    a = asarray(a)
    return a if a.dtype.kind != "f" else lax.select(isnan(a), _fill(a, value), a)


def nansum(a, axis=None, dtype=None, keepdims=False):
    return sum(_nan_to(a, 0), axis, dtype, keepdims)


def nanprod(a, axis=None, dtype=None, keepdims=False):
    return prod(_nan_to(a, 1), axis, dtype, keepdims)


def _nan_extreme(fn, fill):
    def op(a, axis=None, keepdims=False):
        a = asarray(a)
        if a.dtype.kind != "f":
            return fn(a, axis, keepdims)
        out = fn(_nan_to(a, fill), axis, keepdims)
        all_nan = all(isnan(a), axis, keepdims)
        return lax.select(all_nan, _fill(out, np.nan), out)
    op.__name__ = f"nan{fn.__name__}"
    op.__doc__ = f"{fn.__name__} ignoring NaNs (NaN only where every element is NaN)."
    return op


nanmax = _nan_extreme(max, -np.inf)
nanmin = _nan_extreme(min, np.inf)


def _nan_arg(fn, fill):
    def op(a, axis=None, keepdims=False):
        return fn(_nan_to(a, fill), axis, keepdims)
    op.__name__ = f"nan{fn.__name__}"
    return op


nanargmax = _nan_arg(argmax, -np.inf)
nanargmin = _nan_arg(argmin, np.inf)


def nanmean(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a)
    if a.dtype.kind != "f":
        return mean(a, axis, dtype, keepdims)
    return mean(a, axis, dtype, keepdims, where=lax.bitwise_not(isnan(a)))


def nanvar(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = asarray(a)
    a = lax.convert_element_type(_strong(a), _mean_dtype(a, dtype))
    keep = lax.bitwise_not(isnan(a))
    centered = lax.sub(a, _broadcast(nanmean(a, axis, keepdims=True), a.shape))
    total = nansum(lax.mul(centered, centered), axis, keepdims=keepdims)
    count = lax.convert_element_type(sum(keep, axis, keepdims=keepdims), a.dtype)
    return lax.div(total, lax.sub(count, lax.full(count.shape, ddof, a.dtype)))


def nanstd(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return lax.sqrt(nanvar(a, axis, dtype, ddof, keepdims))


# -- statistics ------------------------------------------------------------------------------
def ptp(a, axis=None, keepdims=False, *, out=None):
    """Peak to peak: ``max - min``."""
    check_no_out("ptp", out)
    from funcjax.numpy._ufuncs import subtract
    return subtract(max(a, axis, keepdims), min(a, axis, keepdims))


def count_nonzero(a, axis=None, keepdims=False):
    return sum(to_bool(a), axis, dtypes.default_int(), keepdims)


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """Weighted mean; ``weights`` is 1-D along ``axis`` or has ``a``'s shape."""
    from funcjax.numpy._ufuncs import multiply, true_divide
    a = asarray(a)
    if weights is None:
        avg = mean(a, axis, keepdims=keepdims)
        count = _count(a.shape, canonical_axes("average", axis, a.ndim))
        return (avg, lax.full(avg.shape, count, avg.dtype)) if returned else avg
    a, weights = promote_dtypes_inexact(a, weights)  # as JAX: int32 data gives float32
    if weights.shape != a.shape:
        if axis is None or weights.ndim != 1 or np.ndim(axis) != 0:
            raise ValueError(f"average: weights of shape {weights.shape} must have the shape "
                             f"{a.shape} of a, or be 1-D along a single given axis")
        axis = canonical_axis("average", axis, a.ndim)
        if weights.shape[0] != a.shape[axis]:
            raise ValueError(f"average: weights of length {weights.shape[0]} do not match "
                             f"axis {axis} of a (shape {a.shape})")
        weights = lax.broadcast_in_dim(weights, a.shape, (axis,))
    total_weight = sum(weights, axis, keepdims=keepdims)
    avg = true_divide(sum(multiply(a, weights), axis, keepdims=keepdims), total_weight)
    if returned:
        return avg, lax.convert_element_type(total_weight, avg.dtype)
    return avg


def quantile(a, q, axis=None, method="linear", keepdims=False):
    """Linear-interpolated quantiles via sort; the result's leading axes are ``q``'s axes.
    NaN anywhere along the axis gives NaN (as numpy)."""
    from funcjax.numpy._indexing import take
    from funcjax.numpy._sorting import sort
    if method != "linear":
        raise NotImplementedError(f"quantile: only method='linear' is implemented, got "
                                  f"{method!r}")
    a = asarray(a)
    a = lax.convert_element_type(a, dtypes.to_inexact(a.dtype))
    axes = canonical_axes("quantile", axis, a.ndim)
    rest = [d for d in range(a.ndim) if d not in axes]
    # Move the reduced axes last and flatten them into one.
    moved = lax.transpose(a, rest + list(axes))
    n = _count(a.shape, axes)
    flat = lax.reshape(moved, [a.shape[d] for d in rest] + [n])
    ordered = sort(flat, axis=-1)
    q = lax.convert_element_type(asarray(q), a.dtype)
    pos = lax.mul(q, lax.full(q.shape, builtins.max(n - 1, 0), a.dtype))
    lo = lax.floor(pos)
    frac = lax.sub(pos, lo)
    lo = lax.convert_element_type(lo, dtypes.default_int())
    hi = lax.min(lax.add(lo, lax.full(lo.shape, 1, lo.dtype)), lax.full(lo.shape, n - 1,
                                                                        lo.dtype))
    v_lo = take(ordered, lo, axis=-1, mode="clip")
    v_hi = take(ordered, hi, axis=-1, mode="clip")
    frac = lax.broadcast_in_dim(frac, v_lo.shape, range(len(rest), v_lo.ndim))
    out = lax.add(v_lo, lax.mul(lax.sub(v_hi, v_lo), frac))
    has_nan = lax.broadcast_in_dim(any(isnan(flat), -1), out.shape, range(len(rest)))
    out = lax.select(has_nan, _fill(out, np.nan), out)
    # Result axes: q's axes first, then the kept axes (with size-1 reduced axes if keepdims).
    out = lax.transpose(out, list(range(len(rest), out.ndim)) + list(range(len(rest))))
    if keepdims:
        out = lax.expand_dims(out, [q.ndim + d for d in axes])
    return out


def percentile(a, q, axis=None, method="linear", keepdims=False):
    q = lax.div(*_as_float_pair(q, 100.0))
    return quantile(a, q, axis, method, keepdims)


def _as_float_pair(q, denominator):
    q = asarray(q)
    q = lax.convert_element_type(q, dtypes.to_inexact(q.dtype))
    return q, lax.full(q.shape, denominator, q.dtype)


def median(a, axis=None, keepdims=False):
    return quantile(a, 0.5, axis, keepdims=keepdims)
