"""Building and editing arrays: delete/insert (static positions), block, resize, trim_zeros,
compress/extract/choose, the functional forms of numpy's in-place place/put/put_along_axis
(they require ``inplace=False``, as in JAX), unstack, matvec/vecmat, bit counting and packing.
"""

import math

import numpy as np

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.core.trace import Tracer
from funcjax.numpy._setops import concrete_size
from funcjax.numpy._util import asarray, canonical_axis, promote_dtypes

__all__ = ["delete", "insert", "block", "resize", "trim_zeros", "extract", "compress",
           "choose", "place", "put", "put_along_axis", "unstack", "matvec", "vecmat",
           "bitwise_count", "packbits", "unpackbits", "diagflat"]


def _static(name, what, value):
    if isinstance(value, Tracer):
        raise TypeError(f"{name}: {what} must be static (a Python int, slice or concrete "
                        "array), because it decides the result's shape")
    return value if isinstance(value, slice) else np.asarray(value)


def delete(arr, obj, axis=None, *, assume_unique_indices=False):
    """``arr`` without the entries ``obj`` (int, slice or indices) along ``axis``."""
    a = asarray(arr)
    if axis is None:
        a, axis = jnp.ravel(a), 0
    axis = canonical_axis("delete", axis, a.ndim)
    obj = _static("delete", "obj", obj)
    n = a.shape[axis]
    keep = np.ones(n, bool)
    if isinstance(obj, slice):
        keep[obj] = False
    elif obj.dtype == bool:
        keep = ~obj
    else:
        keep[obj.astype(np.int64)] = False
    return jnp.take(a, np.nonzero(keep)[0], axis=axis)


def insert(arr, obj, values, axis=None):
    """``arr`` with ``values`` inserted before the positions ``obj`` along ``axis``."""
    a = asarray(arr)
    if axis is None:
        a, axis = jnp.ravel(a), 0
    axis = canonical_axis("insert", axis, a.ndim)
    n = a.shape[axis]
    obj = _static("insert", "obj", obj)
    if isinstance(obj, slice):
        obj = np.arange(*obj.indices(n))
    values = asarray(values, a.dtype)
    if obj.ndim == 0:
        count = values.shape[axis] if values.ndim == a.ndim else (
            values.size if a.ndim == 1 else 1)
        positions = np.full(count, int(obj) + n if obj < 0 else int(obj))
        if values.ndim < a.ndim and a.ndim > 1:
            values = jnp.expand_dims(values, axis) if values.ndim == a.ndim - 1 else values
    else:
        positions = np.where(obj < 0, obj + n, obj).astype(np.int64)
        count = positions.size
    order = np.argsort(positions, kind="stable")
    shape = list(a.shape)
    shape[axis] = count
    if a.ndim == 1:
        values = jnp.broadcast_to(jnp.ravel(values) if values.size == count else values,
                                  (count,))
    else:
        values = jnp.broadcast_to(values, shape)
    values = jnp.take(values, order, axis=axis)
    total = n + count
    new_at = positions[order] + np.arange(count)
    old_at = np.setdiff1d(np.arange(total), new_at)
    source = np.empty(total, np.int64)
    source[old_at] = np.arange(n)
    source[new_at] = n + np.arange(count)
    return jnp.take(jnp.concatenate([a, values], axis=axis), source, axis=axis)


def _depth(x):
    return 1 + _depth(x[0]) if isinstance(x, list) and x else (1 if isinstance(x, list) else 0)


def block(arrays):
    """Assembles nested lists of arrays: the innermost lists join along the last axis."""
    if isinstance(arrays, tuple):
        raise TypeError("block: use nested lists, not tuples")
    depth = _depth(arrays)

    def max_ndim(x):
        return max(max_ndim(i) for i in x) if isinstance(x, list) else np.ndim(x)
    ndim = max(depth, max_ndim(arrays))

    def assemble(x, level):
        if not isinstance(x, list):
            x = asarray(x)
            return x.reshape((1,) * (ndim - x.ndim) + x.shape)
        if _depth(x) != depth - level:
            raise ValueError("block: the lists are nested to different depths")
        return jnp.concatenate([assemble(i, level + 1) for i in x], axis=ndim - depth + level)
    return assemble(arrays, 0)


def resize(a, new_shape):
    """``a`` repeated (flattened) to fill ``new_shape``."""
    a = jnp.ravel(asarray(a))
    shape = (int(new_shape),) if np.ndim(new_shape) == 0 else tuple(int(s) for s in new_shape)
    size = math.prod(shape)
    if a.size == 0 or size == 0:
        return jnp.zeros(shape, a.dtype)
    reps = -(-size // a.size)
    return jnp.tile(a, reps)[:size].reshape(shape)


def trim_zeros(filt, trim="fb"):
    f = asarray(filt)
    values = np.asarray(_static("trim_zeros", "filt", f))
    nz = np.nonzero(values)[0]
    if nz.size == 0:
        return f[:0]
    start = nz[0] if "f" in trim.lower() else 0
    stop = nz[-1] + 1 if "b" in trim.lower() else values.size
    return f[start:stop]


def compress(condition, a, axis=None, *, size=None, fill_value=0):
    """The slices of ``a`` along ``axis`` where ``condition`` (1-d) holds."""
    cond = jnp.ravel(asarray(condition)).astype(bool)
    a = asarray(a)
    if axis is None:
        a, axis = jnp.ravel(a), 0
    axis = canonical_axis("compress", axis, a.ndim)
    n = a.shape[axis]
    cond = cond[:n]
    if cond.shape[0] < n:
        cond = jnp.concatenate([cond, jnp.zeros((n - cond.shape[0],), bool)])
    if size is None:
        size = concrete_size("compress", cond, np.count_nonzero)
    (idx,) = jnp.nonzero(cond, size=size, fill_value=n)
    return jnp.take(a, idx, axis=axis, mode="fill", fill_value=fill_value)


def extract(condition, arr, *, size=None, fill_value=0):
    return compress(jnp.ravel(asarray(condition)), jnp.ravel(asarray(arr)), size=size,
                    fill_value=fill_value)


def choose(a, choices, out=None, mode="raise"):
    """``choices[a[i]][i]`` elementwise; mode 'raise' checks concrete indices and is an
    error under tracing (use 'wrap' or 'clip' there)."""
    if out is not None:
        raise NotImplementedError("choose: out= is not supported (arrays are immutable)")
    idx = asarray(a)
    choices = promote_dtypes(*choices)
    n = len(choices)
    if mode == "raise":
        if isinstance(idx, Tracer):
            raise ValueError("choose: mode='raise' needs concrete indices; use 'wrap' or "
                             "'clip' under jit")
        bad = (np.asarray(idx) < 0) | (np.asarray(idx) >= n)
        if bad.any():
            raise ValueError(f"choose: index out of range for {n} choices")
    elif mode == "wrap":
        idx = idx % n
    elif mode == "clip":
        idx = jnp.clip(idx, 0, n - 1)
    else:
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    arrays = jnp.broadcast_arrays(idx, *choices)
    return lax.select_n(arrays[0].astype(np.int32), *arrays[1:])


def _no_inplace(name, inplace):
    if inplace:
        raise ValueError(f"{name}: funcjax arrays are immutable, so the update cannot happen "
                         "in place; pass inplace=False to get the updated array back")


def place(arr, mask, vals, *, inplace=True):
    _no_inplace("place", inplace)
    a = asarray(arr)
    flat_mask = jnp.ravel(asarray(mask)).astype(bool)
    count = concrete_size("place", flat_mask, np.count_nonzero)
    (idx,) = jnp.nonzero(flat_mask, size=count)
    values = resize(asarray(vals, a.dtype), (count,))
    return jnp.ravel(a).at[idx].set(values).reshape(a.shape)


def put(a, ind, v, mode=None, *, inplace=True):
    _no_inplace("put", inplace)
    a = asarray(a)
    ind = jnp.ravel(asarray(ind))
    values = resize(asarray(v, a.dtype), ind.shape)
    if mode == "wrap":
        ind = ind % a.size
    elif mode == "clip":
        ind = jnp.clip(ind, 0, a.size - 1)
    return jnp.ravel(a).at[ind].set(values).reshape(a.shape)


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    _no_inplace("put_along_axis", inplace)
    a = asarray(arr)
    idx = asarray(indices)
    if axis is None:
        return put(jnp.ravel(a), idx, values, inplace=False).reshape(a.shape)
    axis = canonical_axis("put_along_axis", axis, a.ndim)
    shape = idx.shape
    grids = jnp.meshgrid(*[jnp.arange(n) for n in shape], indexing="ij", sparse=True)
    full = tuple(idx if d == axis else grids[d] for d in range(a.ndim))
    return a.at[full].set(jnp.broadcast_to(asarray(values, a.dtype), shape))


def unstack(x, /, *, axis=0):
    x = asarray(x)
    axis = canonical_axis("unstack", axis, x.ndim)
    return tuple(jnp.take(x, i, axis=axis) for i in range(x.shape[axis]))


def matvec(x1, x2, /):
    """Matrix-vector products over broadcast batch axes: (..., m, n) x (..., n)."""
    return jnp.matmul(x1, asarray(x2)[..., None])[..., 0]


def vecmat(x1, x2, /):
    """Vector-matrix products: (..., n) x (..., n, m)."""
    return jnp.matmul(jnp.conj(asarray(x1))[..., None, :], x2)[..., 0, :]


def bitwise_count(x, /):
    """The number of 1 bits in ``|x|`` (numpy's popcount), as uint8."""
    x = asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == np.dtype(bool)):
        raise TypeError(f"bitwise_count: x must be integers, got {x.dtype}")
    if x.dtype == np.dtype(bool):
        return x.astype(np.uint8)
    u = jnp.abs(x).astype(np.dtype(f"u{x.dtype.itemsize}"))
    total = jnp.zeros(x.shape, np.uint8)
    for bit in range(8 * x.dtype.itemsize):
        total = total + ((u >> bit) & 1).astype(np.uint8)
    return total


def packbits(a, axis=None, bitorder="big"):
    """Booleans (non-zero values) packed eight to a uint8 along ``axis``."""
    if bitorder not in ("big", "little"):
        raise ValueError(f"packbits: bitorder must be 'big' or 'little', got {bitorder!r}")
    a = asarray(a)
    if axis is None:
        a, axis = jnp.ravel(a), 0
    axis = canonical_axis("packbits", axis, a.ndim)
    bits = jnp.moveaxis((a != 0).astype(np.uint8), axis, -1)
    n = bits.shape[-1]
    pad = -n % 8
    if pad:
        bits = jnp.concatenate([bits, jnp.zeros(bits.shape[:-1] + (pad,), np.uint8)], -1)
    bits = bits.reshape(bits.shape[:-1] + (-1, 8))
    shifts = np.arange(7, -1, -1) if bitorder == "big" else np.arange(8)
    packed = jnp.sum(bits << shifts.astype(np.uint8), axis=-1, dtype=np.uint8)
    return jnp.moveaxis(packed, -1, axis)


def unpackbits(a, axis=None, count=None, bitorder="big"):
    a = asarray(a)
    if a.dtype != np.dtype(np.uint8):
        raise TypeError(f"unpackbits: a must be uint8, got {a.dtype}")
    if bitorder not in ("big", "little"):
        raise ValueError(f"unpackbits: bitorder must be 'big' or 'little', got {bitorder!r}")
    if axis is None:
        a, axis = jnp.ravel(a), 0
    axis = canonical_axis("unpackbits", axis, a.ndim)
    x = jnp.moveaxis(a, axis, -1)
    shifts = np.arange(7, -1, -1) if bitorder == "big" else np.arange(8)
    bits = (x[..., None] >> shifts.astype(np.uint8)) & 1
    bits = bits.reshape(x.shape[:-1] + (-1,)).astype(np.uint8)
    if count is not None:
        bits = bits[..., :count]
    return jnp.moveaxis(bits, -1, axis)


def diagflat(v, k=0):
    return jnp.diag(jnp.ravel(asarray(v)), k)
