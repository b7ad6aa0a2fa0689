"""Shape manipulation in funcjax.numpy."""

import numpy as np

from funcjax import lax
from funcjax.numpy._util import (
    asarray,
    broadcast_to_shape,
    canonical_axes,
    canonical_axis,
    promote_dtypes,
)


def shape(a):
    return np.shape(a)


def ndim(a):
    return np.ndim(a)


def size(a):
    return int(np.prod(np.shape(a), dtype=np.int64))


def reshape(a, shape, order="C"):
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    a = asarray(a)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise ValueError(f"reshape: cannot reshape array of shape {a.shape} into {shape}")
        shape = tuple(a.size // known if d == -1 else d for d in shape)
    return lax.reshape(a, shape)


def ravel(a, order="C"):
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    a = asarray(a)
    axes = tuple(range(a.ndim))[::-1] if axes is None else \
        tuple(canonical_axis("transpose", int(x), a.ndim) for x in axes)
    return lax.transpose(a, axes)


def permute_dims(a, axes=None):
    return transpose(a, axes)


def moveaxis(a, source, destination):
    a = asarray(a)
    src = [canonical_axis("moveaxis", s, a.ndim) for s in np.atleast_1d(source)]
    dst = [canonical_axis("moveaxis", d, a.ndim) for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError("moveaxis: source and destination need the same number of axes")
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    perm = list(range(a.ndim))
    i, j = canonical_axis("swapaxes", axis1, a.ndim), canonical_axis("swapaxes", axis2, a.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


def squeeze(a, axis=None):
    a = asarray(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = canonical_axes("squeeze", axis, a.ndim)
    return lax.squeeze(a, axes)


def expand_dims(a, axis):
    a = asarray(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = a.ndim + len(axes)
    return lax.expand_dims(a, [canonical_axis("expand_dims", int(x), nd) for x in axes])


def broadcast_to(array, shape):
    array = asarray(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    from funcjax.numpy._util import broadcast_shapes
    if broadcast_shapes("broadcast_to", array.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {array.shape} to {shape}")
    return broadcast_to_shape(array, shape)


def concatenate(arrays, axis=0):
    arrays = promote_dtypes(*arrays)
    if not arrays:
        raise ValueError("concatenate: need at least one array")
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if arrays[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    return lax.concatenate(arrays, canonical_axis("concatenate", axis, arrays[0].ndim))


def stack(arrays, axis=0):
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got "
                         f"{[a.shape for a in arrays]}")
    axis = canonical_axis("stack", axis, arrays[0].ndim + 1)
    return concatenate([lax.expand_dims(a, (axis,)) for a in arrays], axis)


def astype(x, dtype):
    return lax.convert_element_type(asarray(x), dtype)
