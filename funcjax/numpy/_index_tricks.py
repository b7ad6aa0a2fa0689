"""Index helpers: ``r_``/``c_`` concatenation, ``mgrid``/``ogrid`` grids, ``ix_``, the index
arrays of diagonals and triangles, and ``fill_diagonal`` (which returns a new array)."""

import numpy as np

from funcjax import numpy as jnp
from funcjax.numpy._util import asarray

__all__ = ["r_", "c_", "s_", "index_exp", "mgrid", "ogrid", "ix_", "diag_indices",
           "diag_indices_from", "tril_indices", "triu_indices", "tril_indices_from",
           "triu_indices_from", "mask_indices", "fill_diagonal"]

s_, index_exp = np.s_, np.index_exp


def _slice_values(s):
    """A slice of a grid expression as an array (a complex step means a number of points)."""
    start = 0 if s.start is None else s.start
    step = 1 if s.step is None else s.step
    if isinstance(step, complex):
        return jnp.linspace(start, s.stop, int(abs(step)))
    return jnp.arange(start, s.stop, step)


class _Concatenator:
    """``r_[...]``: concatenates arrays, scalars and slices along an axis (a leading string
    such as ``'0'`` or ``'1,2'`` picks the axis and the minimum rank)."""

    def __init__(self, axis, ndmin, name):
        self.axis, self.ndmin, self.name = axis, ndmin, name

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        axis, ndmin = self.axis, self.ndmin
        if items and isinstance(items[0], str):
            spec = items[0].split(",")
            items = items[1:]
            if spec[0] in ("r", "c"):
                raise NotImplementedError(f"{self.name}: matrix directives 'r'/'c' are not "
                                          "supported")
            axis = int(spec[0])
            ndmin = int(spec[1]) if len(spec) > 1 else ndmin
        parts = []
        for item in items:
            x = _slice_values(item) if isinstance(item, slice) else asarray(item)
            while x.ndim < ndmin:  # numpy puts the existing axes first for c_ (trans1d=0)
                x = x[..., None] if self.name == "c_" else x[None]
            parts.append(jnp.atleast_1d(x))
        return jnp.concatenate(parts, axis=axis)

    def __len__(self):
        return 0


r_ = _Concatenator(0, 1, "r_")
c_ = _Concatenator(-1, 2, "c_")


class _Grid:
    def __init__(self, sparse):
        self.sparse = sparse

    def __getitem__(self, key):
        if isinstance(key, slice):
            return _slice_values(key)
        axes = [_slice_values(k) for k in key]
        grids = jnp.meshgrid(*axes, indexing="ij", sparse=self.sparse)
        return tuple(grids) if self.sparse else jnp.stack(grids)


mgrid, ogrid = _Grid(False), _Grid(True)


def ix_(*args):
    """Open-mesh index arrays from 1-d sequences (booleans become their nonzero positions)."""
    out = []
    for k, a in enumerate(args):
        a = asarray(a)
        if a.ndim != 1:
            raise ValueError(f"ix_: argument {k} must be 1-d, got shape {a.shape}")
        if a.dtype == np.dtype(bool):
            (a,) = jnp.nonzero(a)
        shape = [1] * len(args)
        shape[k] = a.shape[0]
        out.append(a.reshape(shape))
    return tuple(out)


def _int_arrays(arrays):
    return tuple(asarray(a.astype(np.int32)) for a in arrays)


def diag_indices(n, ndim=2):
    return (jnp.arange(n),) * ndim


def diag_indices_from(arr):
    arr = asarray(arr)
    if arr.ndim < 2 or len(set(arr.shape)) != 1:
        raise ValueError(f"diag_indices_from: needs a square array of rank >= 2, got shape "
                         f"{arr.shape}")
    return diag_indices(arr.shape[0], arr.ndim)


def tril_indices(n, k=0, m=None):
    return _int_arrays(np.tril_indices(n, k, m))


def triu_indices(n, k=0, m=None):
    return _int_arrays(np.triu_indices(n, k, m))


def tril_indices_from(arr, k=0):
    shape = np.shape(arr)
    if len(shape) != 2:
        raise ValueError(f"tril_indices_from: arr must be 2-d, got shape {shape}")
    return tril_indices(shape[0], k, shape[1])


def triu_indices_from(arr, k=0):
    shape = np.shape(arr)
    if len(shape) != 2:
        raise ValueError(f"triu_indices_from: arr must be 2-d, got shape {shape}")
    return triu_indices(shape[0], k, shape[1])


def mask_indices(n, mask_func, k=0, *, size=None):
    return jnp.nonzero(mask_func(jnp.ones((n, n)), k), size=size)


def fill_diagonal(a, val, wrap=False, *, inplace=True):
    """``a`` with its main diagonal set to ``val`` (repeated as needed). Arrays are immutable,
    so pass ``inplace=False`` (as JAX requires)."""
    if inplace:
        raise NotImplementedError("fill_diagonal: funcjax arrays are immutable; pass "
                                  "inplace=False to get the filled array back")
    a = asarray(a)
    if a.ndim < 2:
        raise ValueError(f"fill_diagonal: a must be at least 2-d, got shape {a.shape}")
    if a.ndim > 2 and len(set(a.shape)) != 1:
        raise ValueError(f"fill_diagonal: arrays of rank > 2 must be square, got {a.shape}")
    if a.ndim > 2:
        n = a.shape[0]
        idx = (jnp.arange(n),) * a.ndim
        values = jnp.resize(jnp.ravel(asarray(val, a.dtype)), (n,))
        return a.at[idx].set(values)
    rows, cols = a.shape
    step = cols + 1
    end = a.size if wrap else min(rows, cols) * cols
    flat_idx = np.arange(0, end, step)
    values = jnp.resize(jnp.ravel(asarray(val, a.dtype)), (flat_idx.size,))
    return jnp.ravel(a).at[flat_idx].set(values).reshape(a.shape)
