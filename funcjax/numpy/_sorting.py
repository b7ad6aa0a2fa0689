"""Sorting: ``sort``, ``argsort`` (sort an iota along with the keys), and friends."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy._dtypes import promote_types
from funcjax.numpy._util import asarray, canonical_axis

__all__ = ["sort", "argsort", "lexsort", "msort", "partition", "argpartition",
           "sort_complex"]


def _flat_or_axis(a, axis):
    a = asarray(a)
    if axis is None:
        return lax.reshape(a, (a.size,)), 0
    return a, canonical_axis("sort", axis, a.ndim) if a.ndim else 0


def sort(a, axis=-1, kind=None, order=None, stable=True, descending=False):
    """Sorted copy along ``axis`` (None: flattened); NaNs go last, as in numpy."""
    if order is not None:
        raise NotImplementedError("sort: order= (structured arrays) is not supported")
    a, axis = _flat_or_axis(a, axis)
    if a.ndim == 0:
        return a
    out = lax.sort(a, axis)
    return lax.rev(out, (axis,)) if descending else out


def argsort(a, axis=-1, kind=None, order=None, stable=True, descending=False):
    """Indices that sort ``a`` along ``axis`` (stable: ties keep their order)."""
    if order is not None:
        raise NotImplementedError("argsort: order= (structured arrays) is not supported")
    a, axis = _flat_or_axis(a, axis)
    if a.ndim == 0:
        return lax.full((), 0, dtypes.default_int())
    iota = lax.broadcasted_iota(dtypes.default_int(), a.shape, axis)
    if descending:
        # Reversing, sorting stably and reversing back keeps ties in their original order.
        keys, iota = lax.rev(a, (axis,)), lax.rev(iota, (axis,))
        _, perm = lax.sort((keys, iota), axis, num_keys=1)
        return lax.rev(perm, (axis,))
    return lax.sort((a, iota), axis, num_keys=1)[1]


def lexsort(keys, axis=-1):
    """Indices sorting by the last key first, then the one before it, and so on."""
    keys = [asarray(k) for k in keys]
    if not keys:
        raise TypeError("lexsort: need at least one key")
    shape = keys[0].shape
    if any(k.shape != shape for k in keys):
        raise ValueError(f"lexsort: all keys must have one shape, got "
                         f"{[k.shape for k in keys]}")
    axis = canonical_axis("lexsort", axis, len(shape))
    iota = lax.broadcasted_iota(dtypes.default_int(), shape, axis)
    return lax.sort(tuple(keys[::-1]) + (iota,), axis, num_keys=len(keys))[-1]


def msort(a):
    return sort(a, axis=0)


def partition(a, kth, axis=-1):
    """A full sort satisfies partition's contract (kth element in place, smaller before)."""
    return sort(a, axis)


def argpartition(a, kth, axis=-1):
    return argsort(a, axis)


def sort_complex(a):
    """``a`` sorted along its last axis by real part, then imaginary part, as complex."""
    a = asarray(a)
    return sort(a.astype(promote_types(a.dtype, np.complex64)))
