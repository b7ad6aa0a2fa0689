"""Reductions of funcjax.numpy with ``axis``/``keepdims``, built on the reduce primitives."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy._util import asarray, canonical_axes, canonical_axis


def _keep(x, axes, keepdims):
    return lax.expand_dims(x, axes) if keepdims and axes else x


def _reduce(name, prim_fn, a, axis, keepdims, dtype=None, upcast_small_ints=False):
    a = asarray(a)
    axes = canonical_axes(name, axis, a.ndim)
    if dtype is not None:
        a = lax.convert_element_type(a, dtype)
    elif upcast_small_ints and (a.dtype == dtypes.bool_ or
                                (a.dtype.kind in "iu" and a.dtype.itemsize < 4)):
        # numpy and JAX sum bools and small ints in the default integer type.
        a = lax.convert_element_type(a, dtypes.canonicalize(np.uint64) if a.dtype.kind == "u"
                                     else dtypes.default_int())
    out = prim_fn(a, axes) if axes else a
    return _keep(out, axes, keepdims)


def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
    return _reduce("sum", lax.reduce_sum, a, axis, keepdims, dtype, upcast_small_ints=True)


def prod(a, axis=None, dtype=None, keepdims=False):
    return _reduce("prod", lax.reduce_prod, a, axis, keepdims, dtype, upcast_small_ints=True)


def max(a, axis=None, keepdims=False):  # noqa: A001
    return _reduce("max", lax.reduce_max, a, axis, keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001
    return _reduce("min", lax.reduce_min, a, axis, keepdims)


amax, amin = max, min


def all(a, axis=None, keepdims=False):  # noqa: A001
    from funcjax.numpy._ufuncs import _to_bool
    return _reduce("all", lax.reduce_and, _to_bool(a), axis, keepdims)


def any(a, axis=None, keepdims=False):  # noqa: A001
    from funcjax.numpy._ufuncs import _to_bool
    return _reduce("any", lax.reduce_or, _to_bool(a), axis, keepdims)


def _count(a, axes):
    return int(np.prod([np.shape(a)[i] for i in axes], dtype=np.int64))


def mean(a, axis=None, dtype=None, keepdims=False):
    a = asarray(a)
    axes = canonical_axes("mean", axis, a.ndim)
    if dtype is None:
        dtype = a.dtype if a.dtype.kind == "f" else dtypes.default_float()
    total = sum(lax.convert_element_type(a, dtype, a.weak_type and a.dtype == dtype), axis,
                keepdims=keepdims)
    return lax.div(total, lax.full(np.shape(total), _count(a, axes), total.dtype))


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = asarray(a)
    axes = canonical_axes("var", axis, a.ndim)
    if dtype is None:
        dtype = a.dtype if a.dtype.kind == "f" else dtypes.default_float()
    a = lax.convert_element_type(a, dtype)
    centered = lax.sub(a, _broadcast_back(mean(a, axis, keepdims=True), np.shape(a)))
    total = sum(lax.mul(centered, centered), axis, keepdims=keepdims)
    return lax.div(total, lax.full(np.shape(total), _count(a, axes) - ddof, total.dtype))


def _broadcast_back(x, shape):
    return lax.broadcast_in_dim(x, shape, range(len(shape))) if np.shape(x) != shape else x


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return lax.sqrt(var(a, axis, dtype, ddof, keepdims))


def _arg(name, prim_fn, a, axis, keepdims):
    a = asarray(a)
    if axis is None:
        from funcjax.numpy._shape import ravel
        out = prim_fn(ravel(a), 0, dtypes.default_int())
        return lax.reshape(out, (1,) * a.ndim) if keepdims else out
    axis = canonical_axis(name, axis, a.ndim)
    out = prim_fn(a, axis, dtypes.default_int())
    return lax.expand_dims(out, (axis,)) if keepdims else out


def argmax(a, axis=None, keepdims=False):
    return _arg("argmax", lax.argmax, a, axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    return _arg("argmin", lax.argmin, a, axis, keepdims)


def _cumulative(name, prim_fn, a, axis, dtype):
    a = asarray(a)
    if axis is None:
        from funcjax.numpy._shape import ravel
        a, axis = ravel(a), 0
    if dtype is not None:
        a = lax.convert_element_type(a, dtype)
    elif a.dtype == dtypes.bool_ or (a.dtype.kind in "iu" and a.dtype.itemsize < 4):
        a = lax.convert_element_type(a, dtypes.default_int())
    return prim_fn(a, canonical_axis(name, axis, a.ndim))


def cumsum(a, axis=None, dtype=None):
    return _cumulative("cumsum", lax.cumsum, a, axis, dtype)


def cumprod(a, axis=None, dtype=None):
    return _cumulative("cumprod", lax.cumprod, a, axis, dtype)
