"""Argument handling shared by funcjax.numpy: conversion, dtype promotion and broadcasting."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.core.trace import Tracer


def is_array(x):
    return isinstance(x, (Array, Tracer))


def asarray(x, dtype=None, copy=None):
    """An Array or tracer for any array-like; Python scalars stay weakly typed. (``copy`` is
    accepted for numpy's signature: Arrays are immutable, so sharing is never observable.)"""
    if is_array(x):
        return x if dtype is None else lax.convert_element_type(x, dtype)
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        if dtype is None:
            return Array(np.asarray(x, dtypes.python_scalar_dtype(x)), weak_type=not
                         isinstance(x, bool))
        target = dtypes.canonicalize(dtype, "jnp.asarray")
        try:
            return Array(np.asarray(x, target))
        except OverflowError:
            raise OverflowError(f"jnp.asarray: Python integer {x} out of bounds for {target}; "
                                "use a wider dtype (int64 needs jax_enable_x64) or a smaller "
                                "value") from None
    if isinstance(x, (list, tuple)) and any(is_array(e) for e in _flat(x)):
        from funcjax.numpy._joining import stack
        return stack([asarray(e) for e in x]) if dtype is None else \
            stack([asarray(e, dtype) for e in x])
    value = np.array(x)
    if value.dtype == object:
        raise TypeError(f"jnp.asarray: cannot convert {x!r:.80} to a funcjax array; pass "
                        "numbers, arrays or (nested) lists of them")
    target = dtypes.canonicalize(dtype if dtype is not None else value.dtype, "jnp.asarray")
    if value.dtype.kind in "iu" and target.kind in "iu" and value.size and \
            not isinstance(x, (np.ndarray, np.generic)):
        info = np.iinfo(target)  # Python ints that do not fit: an error, not a wrap (as JAX)
        if value.min() < info.min or value.max() > info.max:
            bad = value.min() if value.min() < info.min else value.max()
            raise OverflowError(f"jnp.asarray: Python integer {bad} out of bounds for {target}; "
                                "use a wider dtype (int64 needs jax_enable_x64) or a smaller "
                                "value")
    return Array(value.astype(target, copy=False))


def _flat(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def _dtype_and_weak(x):
    if is_array(x):
        return x.dtype, x.weak_type
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        return dtypes.python_scalar_dtype(x), not isinstance(x, bool)
    return dtypes.canonicalize(np.asarray(x).dtype), False


def result_type(*args):
    """JAX's promotion over arrays, dtypes and Python scalars."""
    pairs = []
    for a in args:
        if isinstance(a, (np.dtype, type)) or isinstance(a, str):
            pairs.append((dtypes.canonicalize(a), False))
        else:
            pairs.append(_dtype_and_weak(a))
    return dtypes.result_type(*pairs)[0]


def promote_dtypes(*args):
    dtype, weak = dtypes.result_type(*map(_dtype_and_weak, args))
    return [lax.convert_element_type(asarray(a), dtype, weak) for a in args]


def promote_dtypes_inexact(*args):
    dtype, weak = dtypes.result_type(*map(_dtype_and_weak, args))
    dtype = dtypes.to_inexact(dtype)
    return [lax.convert_element_type(asarray(a), dtype, weak) for a in args]


def broadcast_shapes(name, *shapes, error=ValueError):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise error(f"{name}: incompatible shapes for broadcasting: "
                        + ", ".join(str(tuple(s)) for s in shapes)
                        + "; aligned from the right, each dimension must match or be 1 "
                        "(reshape, slice or expand_dims the arguments)")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_to_shape(x, shape):
    x_shape = np.shape(x)
    if x_shape == tuple(shape):
        return x
    lead = len(shape) - len(x_shape)
    keep = [i for i, d in enumerate(x_shape) if d == shape[lead + i]]
    if len(keep) != len(x_shape):
        x = lax.reshape(x, [x_shape[i] for i in keep])
    return lax.broadcast_in_dim(x, shape, [lead + i for i in keep])


def broadcast_arrays(name, *args, error=ValueError):
    shape = broadcast_shapes(name, *(np.shape(a) for a in args), error=error)
    return [broadcast_to_shape(a, shape) for a in args]


def promote_args(name, *args):
    return broadcast_arrays(name, *promote_dtypes(*args), error=TypeError)


def promote_args_inexact(name, *args):
    return broadcast_arrays(name, *promote_dtypes_inexact(*args), error=TypeError)


def canonical_axis(name, axis, ndim):
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of bounds for an array of rank {ndim}; "
                         f"use an axis in [{-ndim}, {max(ndim, 1)})")
    return axis % max(ndim, 1)


def canonical_axes(name, axis, ndim):
    """None -> all axes; int or sequence -> sorted non-negative tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(sorted(canonical_axis(name, int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return out
