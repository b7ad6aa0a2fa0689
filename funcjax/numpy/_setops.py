"""Set operations on flattened arrays: unique (and its numpy-2 variants), isin, and the
two-array set operations.

Results whose length depends on the values need a concrete input, or ``size=`` (extra slots
get ``fill_value``) to be traced, as in JAX. ``unique`` sorts, marks the first element of each
run of equal values, and scatters those to their run number; NaNs count as equal.
"""

import collections

import numpy as np

from funcjax import lax
from funcjax.core.errors import ConcretizationTypeError
from funcjax.core.trace import Tracer
from funcjax.numpy import _creation, _joining, _sorting
from funcjax.numpy._util import asarray, promote_dtypes

__all__ = ["unique", "unique_all", "unique_counts", "unique_inverse", "unique_values", "isin",
           "intersect1d", "setdiff1d", "setxor1d", "union1d"]

UniqueAllResult = collections.namedtuple("UniqueAllResult",
                                         ["values", "indices", "inverse_indices", "counts"])
UniqueCountsResult = collections.namedtuple("UniqueCountsResult", ["values", "counts"])
UniqueInverseResult = collections.namedtuple("UniqueInverseResult",
                                             ["values", "inverse_indices"])


def concrete_size(name, x, count):
    """``count()`` evaluated on a concrete ``x``; a traced ``x`` needs ``size=``."""
    if isinstance(x, Tracer):
        raise ConcretizationTypeError(
            f"{name}: the number of results depends on the values of the traced array "
            f"{x.aval.str_short()}, so the result's shape is unknown while tracing. Pass "
            "size=... (and optionally fill_value=...) to fix it.")
    return int(count(np.asarray(x)))


def _int(x):
    return lax.convert_element_type(x, np.int32)


def _differs(a, b):
    ne = lax.ne(a, b)
    if a.dtype.kind == "f":
        both_nan = lax.bitwise_and(lax.ne(a, a), lax.ne(b, b))
        ne = lax.bitwise_and(ne, lax.bitwise_not(both_nan))
    return ne


def _unique_flat(x, size, fill_value):
    """values, first indices, inverse (flat), counts of a 1-d ``x`` with ``size`` slots."""
    n = x.shape[0]
    if n == 0:
        fill = 0 if fill_value is None else fill_value
        ints = _creation.zeros((size,), np.int32)
        return (lax.full((size,), fill, x.dtype), ints, _creation.zeros((0,), np.int32),
                ints)
    order = _sorting.argsort(x, stable=True)
    s = x[order]
    first = _joining.concatenate([_creation.ones((1,), bool), _differs(s[1:], s[:-1])])
    run = lax.sub(lax.cumsum(_int(first)), 1)
    slot = lax.select(first, run, lax.full(run.shape, size, np.int32))
    values = _creation.zeros((size,), x.dtype).at[slot].set(s, mode="drop")
    indices = _creation.zeros((size,), np.int32).at[slot].set(_int(order), mode="drop")
    counts = _creation.zeros((size,), np.int32).at[run].add(1, mode="drop")
    inverse = _creation.zeros((n,), np.int32).at[order].set(run)
    used = lax.lt(lax.iota(np.int32, size), lax.broadcast_in_dim(lax.add(run[-1], 1),
                                                                  (size,), ()))
    fill = s[0] if fill_value is None else lax.convert_element_type(asarray(fill_value),
                                                                    x.dtype)
    values = lax.select(used, values, lax.broadcast_in_dim(asarray(fill), (size,), ()))
    return values, indices, inverse, counts


def _count_unique(v):
    if v.size == 0:
        return 0
    s = np.sort(v.ravel())
    same = (s[1:] == s[:-1]) | (np.isnan(s[1:]) & np.isnan(s[:-1]) if s.dtype.kind == "f"
                                else False)
    return 1 + int(np.count_nonzero(~same))


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None, sorted=True):  # noqa: A002
    """The sorted distinct values of the flattened ``ar`` (``axis=None`` only)."""
    if axis is not None:
        raise NotImplementedError("unique: only axis=None is supported")
    x = asarray(ar)
    flat = lax.reshape(x, (x.size,))
    if size is None:
        size = concrete_size("unique", flat, _count_unique)
    values, index, inverse, counts = _unique_flat(flat, int(size), fill_value)
    out = [values]
    if return_index:
        out.append(index)
    if return_inverse:
        out.append(lax.reshape(inverse, x.shape))
    if return_counts:
        out.append(counts)
    return out[0] if len(out) == 1 else tuple(out)


def unique_values(x, *, size=None, fill_value=None):
    return unique(x, size=size, fill_value=fill_value)


def unique_counts(x, *, size=None, fill_value=None):
    return UniqueCountsResult(*unique(x, return_counts=True, size=size, fill_value=fill_value))


def unique_inverse(x, *, size=None, fill_value=None):
    return UniqueInverseResult(*unique(x, return_inverse=True, size=size,
                                       fill_value=fill_value))


def unique_all(x, *, size=None, fill_value=None):
    return UniqueAllResult(*unique(x, return_index=True, return_inverse=True,
                                   return_counts=True, size=size, fill_value=fill_value))


def isin(element, test_elements, assume_unique=False, invert=False, *, method="auto"):
    """Whether each element occurs in ``test_elements`` (compares against all of them)."""
    element, test = promote_dtypes(element, test_elements)
    test = lax.reshape(test, (test.size,))
    e = lax.expand_dims(element, (element.ndim,))
    shape = element.shape + (test.size,)
    hits = lax.eq(lax.broadcast_in_dim(e, shape, tuple(range(element.ndim + 1))),
                  lax.broadcast_in_dim(test, shape, (element.ndim,)))
    found = lax.reduce_or(hits, (element.ndim,))
    return lax.bitwise_not(found) if invert else found


def _select(name, values, keep, size, fill_value):
    """The elements of 1-d ``values`` where ``keep``, packed to the front (``size`` slots)."""
    if size is None:
        size = concrete_size(name, keep, np.count_nonzero)
    if size == 0:
        return _creation.zeros((0,), values.dtype)
    n = values.shape[0]
    slot = lax.sub(lax.cumsum(_int(keep)), 1) if n else _creation.zeros((0,), np.int32)
    slot = lax.select(keep, slot, lax.full((n,), size, np.int32))
    out = _creation.zeros((size,), values.dtype).at[slot].set(values, mode="drop")
    count = lax.reduce_sum(_int(keep), (0,)) if n else asarray(np.int32(0))
    used = lax.lt(lax.iota(np.int32, size), lax.broadcast_in_dim(count, (size,), ()))
    fill = lax.convert_element_type(asarray(0 if fill_value is None else fill_value),
                                    values.dtype)
    return lax.select(used, out, lax.broadcast_in_dim(fill, (size,), ()))


def union1d(ar1, ar2, *, size=None, fill_value=None):
    a, b = promote_dtypes(ar1, ar2)
    both = _joining.concatenate([lax.reshape(a, (a.size,)), lax.reshape(b, (b.size,))])
    return unique(both, size=size, fill_value=fill_value)


def _unique_slots(x, size):
    """unique(x) and which of its slots hold values: all when ``size`` is None, else the
    first ones (the rest are padding)."""
    if size is None:
        u = unique(x)
        return u, lax.full(u.shape, True, bool)
    u, counts = unique(x, return_counts=True, size=x.size)
    return u, lax.gt(counts, lax.full(counts.shape, 0, counts.dtype))


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False, *, size=None,
                fill_value=None):
    if return_indices:
        raise NotImplementedError("intersect1d: return_indices=True is not supported")
    a, b = promote_dtypes(ar1, ar2)
    ua, real = _unique_slots(a, size)
    return _select("intersect1d", ua, lax.bitwise_and(real, isin(ua, b)), size, fill_value)


def setdiff1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    a, b = promote_dtypes(ar1, ar2)
    ua, real = _unique_slots(a, size)
    return _select("setdiff1d", ua, lax.bitwise_and(real, isin(ua, b, invert=True)), size,
                   fill_value)


def setxor1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    a, b = promote_dtypes(ar1, ar2)
    both = _joining.concatenate([lax.reshape(a, (a.size,)), lax.reshape(b, (b.size,))])
    u, real = _unique_slots(both, size)
    keep = lax.bitwise_and(real, lax.bitwise_xor(isin(u, a), isin(u, b)))
    return _select("setxor1d", u, keep, size, fill_value)
