"""Shape manipulation in funcjax.numpy: views of the same elements in a different layout."""


import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.shapes import canonicalize_shape
from funcjax.numpy import _util
from funcjax.numpy._programs import eager_program
from funcjax.numpy._util import asarray, broadcast_to_shape, canonical_axes, canonical_axis

__all__ = ["shape", "ndim", "size", "reshape", "ravel", "transpose", "permute_dims",
           "matrix_transpose", "moveaxis", "swapaxes", "rollaxis", "squeeze", "expand_dims",
           "broadcast_to", "broadcast_arrays", "broadcast_shapes", "atleast_1d",
           "atleast_2d", "atleast_3d", "flip", "fliplr", "flipud", "rot90", "astype",
           "ravel_multi_index", "unravel_index"]


def shape(a):
    return np.shape(a)


def ndim(a):
    return np.ndim(a)


def size(a, axis=None):
    s = np.shape(a)
    return int(np.prod(s, dtype=np.int64)) if axis is None else s[axis]


def _as_shape(shape, where):
    return canonicalize_shape(shape, where)


@eager_program
def reshape(a, shape, order="C"):
    """``a``'s elements in row-major order laid out as ``shape`` (one entry may be -1)."""
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    a = asarray(a)
    shape = _as_shape(shape, "jnp.reshape")
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise TypeError(f"reshape: cannot reshape array of shape {a.shape} (size {a.size}) "
                            f"into shape {shape}")
        shape = tuple(a.size // known if d == -1 else d for d in shape)
    if int(np.prod(shape, dtype=np.int64)) != a.size or any(d < 0 for d in shape):
        raise TypeError(f"reshape: cannot reshape array of shape {a.shape} (size {a.size}) into "
                        f"shape {shape} (size {int(np.prod(shape, dtype=np.int64))}); the new "
                        "shape must have the same number of elements (one entry may be -1)")
    return lax.reshape(a, shape)


def ravel(a, order="C"):
    return reshape(a, (-1,), order)


@eager_program
def transpose(a, axes=None):
    a = asarray(a)
    if axes is None:
        return lax.transpose(a, range(a.ndim)[::-1])
    axes = tuple(canonical_axis("transpose", int(x), a.ndim) for x in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of an "
                         f"array of shape {a.shape}")
    return lax.transpose(a, axes)


permute_dims = transpose


def matrix_transpose(x, /):
    x = asarray(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose: needs at least 2 dimensions, got shape {x.shape}")
    return swapaxes(x, -1, -2)


def moveaxis(a, source, destination):
    a = asarray(a)
    src = [canonical_axis("moveaxis", s, a.ndim) for s in np.atleast_1d(source)]
    dst = [canonical_axis("moveaxis", d, a.ndim) for d in np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} need the "
                         "same number of axes")
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


@eager_program
def swapaxes(a, axis1, axis2):
    a = asarray(a)
    perm = list(range(a.ndim))
    i, j = canonical_axis("swapaxes", axis1, a.ndim), canonical_axis("swapaxes", axis2, a.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


def rollaxis(a, axis, start=0):
    a = asarray(a)
    axis = canonical_axis("rollaxis", axis, a.ndim)
    start = canonical_axis("rollaxis", start, a.ndim + 1)
    return moveaxis(a, axis, start - 1 if start > axis else start)


@eager_program
def squeeze(a, axis=None):
    a = asarray(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = canonical_axes("squeeze", axis, a.ndim)
        wrong = [i for i in axes if a.shape[i] != 1]
        if wrong:
            raise ValueError(f"squeeze: cannot select an axis to squeeze out which has size "
                             f"not equal to one: axes {wrong} of shape {a.shape}")
    return lax.squeeze(a, axes)


@eager_program
def expand_dims(a, axis):
    a = asarray(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = a.ndim + len(axes)
    return lax.expand_dims(a, [canonical_axis("expand_dims", int(x), nd) for x in axes])


def broadcast_shapes(*shapes):
    return _util.broadcast_shapes("broadcast_shapes", *map(_as_shape, shapes))


def broadcast_to(array, shape):
    array = asarray(array)
    shape = _as_shape(shape, "jnp.broadcast_to")
    ok = len(shape) >= array.ndim and all(
        d in (1, n) for d, n in zip(array.shape[::-1], shape[::-1]))
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast an array of shape {array.shape} to "
                         f"shape {shape}; aligned from the right, each dimension of the array "
                         "must be 1 or equal the target's")
    return broadcast_to_shape(array, shape)


def broadcast_arrays(*args):
    return _util.broadcast_arrays("broadcast_arrays", *map(asarray, args))


def _atleast(nd, place):
    def fn(*arys):
        out = []
        for a in map(asarray, arys):
            if a.ndim < nd:
                a = lax.reshape(a, place(a.shape))
            out.append(a)
        return out[0] if len(out) == 1 else out
    fn.__name__ = f"atleast_{nd}d"
    return fn


atleast_1d = _atleast(1, lambda s: (1,))
atleast_2d = _atleast(2, lambda s: (1,) * (2 - len(s)) + s)
# numpy's rule: a 1-D array of length N becomes (1, N, 1), a 2-D one (M, N, 1).
atleast_3d = _atleast(3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)])


def flip(m, axis=None):
    m = asarray(m)
    return lax.rev(m, canonical_axes("flip", axis, m.ndim))


def fliplr(m):
    m = asarray(m)
    if m.ndim < 2:
        raise ValueError(f"fliplr: needs at least 2 dimensions, got shape {m.shape}")
    return flip(m, 1)


def flipud(m):
    m = asarray(m)
    if m.ndim < 1:
        raise ValueError("flipud: needs at least 1 dimension, got a 0-d array")
    return flip(m, 0)


def rot90(m, k=1, axes=(0, 1)):
    """Rotates by 90 degrees ``k`` times in the plane of ``axes`` (first towards second)."""
    m = asarray(m)
    a0, a1 = (canonical_axis("rot90", a, m.ndim) for a in axes)
    if a0 == a1:
        raise ValueError(f"rot90: axes must differ, got {axes}")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (a0, a1))
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return lax.transpose(flip(m, a1), perm) if k == 1 else flip(lax.transpose(m, perm), a1)


def _cast_loop(backend, dtype, out_dtype, static):
    return backend.generated_loop("cast", (dtype,), out_dtype)


@eager_program(native=_util.static_native("astype", _cast_loop))
def astype(x, dtype, /, *, copy=False):
    return lax.convert_element_type(asarray(x), dtypes.canonicalize(dtype, "astype",
                                                                             warn=True))


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Flat indices of coordinate arrays into an array of shape ``dims`` (clipped)."""
    if order != "C" or mode not in ("raise", "clip"):
        raise NotImplementedError("ravel_multi_index: only order='C', mode='clip' supported")
    from funcjax.numpy._logic import clip
    from funcjax.numpy._ufuncs import add, multiply
    out, stride = 0, 1
    for idx, n in reversed(list(zip(multi_index, dims))):
        out = add(out, multiply(clip(idx, 0, n - 1), stride))
        stride *= n
    return asarray(out)


def unravel_index(indices, shape):
    """Coordinate arrays of flat ``indices`` into an array of ``shape``."""
    from funcjax.numpy._ufuncs import floor_divide, remainder
    indices = asarray(indices)
    out, stride = [], 1
    for n in reversed(_as_shape(shape, "jnp.unravel_index")):
        out.append(remainder(floor_divide(indices, stride), n))
        stride *= n
    return tuple(out[::-1])
