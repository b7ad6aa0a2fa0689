"""Joining, splitting and repeating arrays: concatenate, stack, split, tile, repeat, roll,
pad, diff. Every size here is static, so slices and index arrays are computed up front."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.trace import Tracer
from funcjax.numpy._shape import atleast_1d, atleast_2d, atleast_3d, ravel
from funcjax.numpy._util import asarray, canonical_axis, promote_dtypes

__all__ = ["concatenate", "concat", "stack", "hstack", "vstack", "dstack", "column_stack",
           "row_stack", "append", "split", "array_split", "hsplit", "vsplit", "dsplit",
           "tile", "repeat", "roll", "diff"]


def concatenate(arrays, axis=0, dtype=None):
    """Joins arrays along an existing axis; they must agree on every other axis."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("concatenate: need at least one array to concatenate")
    arrays = promote_dtypes(*arrays)
    if dtype is not None:
        arrays = [lax.convert_element_type(a, dtypes.canonicalize(dtype)) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    if arrays[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = canonical_axis("concatenate", axis, arrays[0].ndim)
    first = arrays[0].shape
    for a in arrays[1:]:
        if a.ndim != len(first) or any(x != y for i, (x, y) in enumerate(zip(a.shape, first))
                                       if i != axis):
            raise TypeError(f"concatenate: cannot concatenate arrays with shapes that differ "
                            f"in dimensions other than the one being concatenated (axis "
                            f"{axis}): shapes {', '.join(str(b.shape) for b in arrays)}")
    return lax.concatenate(arrays, axis)


concat = concatenate


def stack(arrays, axis=0, dtype=None):
    """Joins same-shaped arrays along a new axis."""
    arrays = [asarray(a) for a in arrays]
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    if len({a.shape for a in arrays}) > 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got shapes "
                         f"{', '.join(str(a.shape) for a in arrays)}")
    axis = canonical_axis("stack", axis, arrays[0].ndim + 1)
    return concatenate([lax.expand_dims(a, (axis,)) for a in arrays], axis, dtype)


def hstack(tup, dtype=None):
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, 0 if arrays and arrays[0].ndim == 1 else 1, dtype)


def vstack(tup, dtype=None):
    return concatenate([atleast_2d(a) for a in tup], 0, dtype)


row_stack = vstack


def dstack(tup, dtype=None):
    return concatenate([atleast_3d(a) for a in tup], 2, dtype)


def column_stack(tup):
    arrays = [asarray(a) for a in tup]
    return concatenate([lax.reshape(a, a.shape + (1,)) if a.ndim < 2 else a for a in arrays], 1)


def append(arr, values, axis=None):
    return concatenate([arr, values], axis)


def _split_points(name, n, indices_or_sections, even):
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{name}: the number of sections must be positive, got {sections}")
        if even and n % sections:
            raise ValueError(f"{name}: array split does not result in an equal division: an "
                             f"axis of size {n} into {sections} sections; use array_split")
        size, extra = divmod(n, sections)
        sizes = [size + 1] * extra + [size] * (sections - extra)
        return np.cumsum([0] + sizes)
    return np.clip([0] + [int(i) for i in indices_or_sections] + [n], 0, n)


def _split(name, even):
    def fn(ary, indices_or_sections, axis=0):
        ary = asarray(ary)
        axis = canonical_axis(name, axis, ary.ndim)
        points = _split_points(name, ary.shape[axis], indices_or_sections, even)
        return [lax.slice_in_dim(ary, int(lo), int(max(lo, hi)), axis=axis)
                for lo, hi in zip(points[:-1], points[1:])]
    fn.__name__ = name
    return fn


split = _split("split", even=True)
array_split = _split("array_split", even=False)


def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0 if np.ndim(ary) == 1 else 1)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 2)


def tile(A, reps):  # noqa: N803 - numpy's name
    """``A`` repeated ``reps`` times per axis: one broadcast and one reshape."""
    A = asarray(A)
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(map(int, reps))
    nd = max(A.ndim, len(reps))
    shape = (1,) * (nd - A.ndim) + A.shape
    reps = (1,) * (nd - len(reps)) + reps
    A = lax.reshape(A, shape)
    interleaved = [n for pair in zip(reps, shape) for n in pair]
    out = lax.broadcast_in_dim(A, interleaved, range(1, 2 * nd, 2))
    return lax.reshape(out, [r * n for r, n in zip(reps, shape)])


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    """Each element repeated ``repeats`` times along ``axis``. ``repeats`` must be concrete
    unless ``total_repeat_length`` fixes the result's length; then the result is cut to that
    length or padded with the last element, as in JAX."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = canonical_axis("repeat", axis, a.ndim)
    n = a.shape[axis]
    if total_repeat_length is not None:
        total = _static_length(total_repeat_length)
        return _repeat_to_length(a, repeats, axis, n, total)
    if isinstance(repeats, Tracer):
        raise TypeError("repeat: repeats must be concrete (they decide the result's shape); "
                        "pass a Python int or a numpy array, or give total_repeat_length")
    counts = np.asarray(repeats)
    if counts.ndim == 0:
        r = int(counts)
        expanded = lax.broadcast_in_dim(a, a.shape[:axis + 1] + (r,) + a.shape[axis + 1:],
                                        [d + (d > axis) for d in range(a.ndim)])
        out_shape = list(a.shape)
        out_shape[axis] = n * r
        return lax.reshape(expanded, out_shape)
    _check_repeats_shape(counts.shape, n, axis, a.shape)
    from funcjax.numpy._indexing import take
    return take(a, np.repeat(np.arange(n), counts), axis=axis, mode="clip")


def _check_repeats_shape(shape, n, axis, a_shape):
    if shape != (n,):
        raise ValueError(f"repeat: repeats of shape {shape} must be a scalar or have "
                         f"the length {n} of axis {axis} (array shape {a_shape})")


def _static_length(total):
    if isinstance(total, Tracer) or not isinstance(total, (int, np.integer)) or total < 0:
        raise TypeError(f"repeat: total_repeat_length must be a non-negative Python int, got "
                        f"{total!r:.60}; it fixes the result's shape, so it must be static")
    return int(total)


def _repeat_to_length(a, repeats, axis, n, total):
    """Output position ``j`` takes element ``#{k : cumsum(repeats)[k] <= j}`` (at most n-1)."""
    from funcjax.numpy._indexing import take
    if not isinstance(repeats, Tracer):
        counts = np.broadcast_to(np.asarray(repeats), (n,)) if np.ndim(repeats) == 0 \
            else np.asarray(repeats)
        _check_repeats_shape(counts.shape, n, axis, a.shape)
        ends = np.cumsum(counts)
        index = np.minimum(np.searchsorted(ends, np.arange(total), side="right"), n - 1)
        return take(a, index.astype(np.int32), axis=axis, mode="clip")
    counts = lax.broadcast_in_dim(repeats, (n,), ()) if repeats.ndim == 0 else repeats
    _check_repeats_shape(counts.shape, n, axis, a.shape)
    ends = lax.cumsum(counts, 0)
    positions = lax.broadcasted_iota(ends.dtype, (total, n), 0)
    below = lax.convert_element_type(
        lax.le(lax.broadcast_in_dim(ends, (total, n), (1,)), positions), np.int32)
    index = lax.min(lax.reduce_sum(below, (1,)), lax.full((total,), max(n - 1, 0), np.int32))
    return take(a, index, axis=axis, mode="clip")


def roll(a, shift, axis=None):
    """Elements shifted cyclically by ``shift`` along ``axis`` (None: the flattened array)."""
    a = asarray(a)
    if axis is None:
        return lax.reshape(roll(ravel(a), shift, 0), a.shape)
    shifts = np.atleast_1d(shift) if not isinstance(shift, Tracer) else [shift]
    axes = np.atleast_1d(axis)
    shifts, axes = np.broadcast_arrays(np.asarray(shifts, object), axes)
    for s, ax in zip(shifts, axes):
        ax = canonical_axis("roll", int(ax), a.ndim)
        n = a.shape[ax]
        if n == 0:
            continue
        if isinstance(s, Tracer):
            from funcjax.numpy._indexing import take
            from funcjax.numpy._ufuncs import remainder, subtract
            index = remainder(subtract(lax.iota(dtypes.default_int(), n), s), n)
            a = take(a, index, axis=ax, mode="clip")
        else:
            k = int(s) % n
            a = lax.concatenate([lax.slice_in_dim(a, n - k, n, axis=ax),
                                 lax.slice_in_dim(a, 0, n - k, axis=ax)], ax) if k else a
    return a


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th discrete difference along ``axis`` (booleans: ``!=``)."""
    a = asarray(a)
    axis = canonical_axis("diff", axis, a.ndim)
    extra = [a]
    for where, value in ((0, prepend), (1, append)):
        if value is not None:
            value = asarray(value)
            if value.ndim == 0:
                shape = list(a.shape)
                shape[axis] = 1
                value = lax.broadcast_in_dim(value, shape, ())
            extra.insert(0 if where == 0 else len(extra), value)
    a = concatenate(extra, axis) if len(extra) > 1 else a
    for _ in range(n):
        m = a.shape[axis]
        hi = lax.slice_in_dim(a, 1, m, axis=axis)
        lo = lax.slice_in_dim(a, 0, max(m - 1, 0), axis=axis)
        a = lax.ne(hi, lo) if a.dtype == dtypes.bool_ else lax.sub(hi, lo)
    return a
