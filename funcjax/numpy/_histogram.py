"""Binning: searchsorted (a branch-free binary search, so it traces and compiles), digitize,
bincount, histograms and piecewise-linear interpolation."""

import math

from funcjax import numpy as jnp
from funcjax.numpy._setops import concrete_size
from funcjax.numpy._util import asarray, promote_dtypes, promote_dtypes_inexact

__all__ = ["searchsorted", "digitize", "bincount", "histogram", "histogram_bin_edges",
           "histogram2d", "histogramdd", "interp"]


def _less(x, y):
    """numpy's sort order: NaN after everything."""
    if jnp.issubdtype(x.dtype, jnp.floating):
        return (x < y) | (jnp.isnan(y) & ~jnp.isnan(x))
    return x < y


def searchsorted(a, v, side="left", sorter=None, *, method="scan"):
    """Insertion points of ``v`` in the sorted 1-d ``a`` (``side`` as numpy)."""
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    a, v = promote_dtypes(a, v)
    if a.ndim != 1:
        raise ValueError(f"searchsorted: a must be 1-d, got shape {a.shape}")
    if sorter is not None:
        a = a[asarray(sorter)]
    n = a.shape[0]
    lo = jnp.zeros(v.shape, jnp.int32)
    hi = jnp.full(v.shape, n, jnp.int32)
    for _ in range(max(1, math.ceil(math.log2(n + 1)))):
        mid = (lo + hi) // 2
        pivot = a[jnp.clip(mid, 0, max(n - 1, 0))] if n else v
        go_right = _less(pivot, v) if side == "left" else ~_less(v, pivot)
        active = lo < hi
        lo = jnp.where(active & go_right, mid + 1, lo)
        hi = jnp.where(active & ~go_right, mid, hi)
    return lo


def digitize(x, bins, right=False):
    """Bin numbers of ``x`` for monotonic ``bins`` (increasing or decreasing)."""
    x, bins = promote_dtypes(x, bins)
    if bins.ndim != 1:
        raise ValueError(f"digitize: bins must be 1-d, got shape {bins.shape}")
    n = bins.shape[0]
    if n == 0:
        return jnp.zeros(x.shape, jnp.int32)
    side = "left" if right else "right"
    increasing = searchsorted(bins, x, side=side)
    decreasing = n - searchsorted(bins[::-1], x, side=side)
    return jnp.where(bins[-1] >= bins[0], increasing, decreasing)


def bincount(x, weights=None, minlength=0, *, length=None):
    """Counts (or sums of ``weights``) of each non-negative integer in 1-d ``x``; traced
    inputs need ``length``. Values outside ``[0, length)`` are dropped."""
    x = asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"bincount: x must be integers, got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"bincount: x must be 1-d, got shape {x.shape}")
    if length is None:
        length = max(int(minlength), concrete_size(
            "bincount", x, lambda v: (v.max() + 1) if v.size else 0))
    dtype = jnp.int32 if weights is None else promote_dtypes(asarray(weights))[0].dtype
    w = jnp.ones(x.shape, dtype) if weights is None else asarray(weights, dtype)
    return jnp.zeros((int(length),), dtype).at[x].add(w, mode="drop")


def histogram_bin_edges(a, bins=10, range=None, weights=None):  # noqa: A002 - numpy's name
    a = asarray(a)
    if not isinstance(bins, int):
        edges = asarray(bins)
        if edges.ndim != 1:
            raise ValueError(f"histogram: bins must be an int or 1-d edges, got {edges.shape}")
        return promote_dtypes_inexact(edges)[0]
    (a,) = promote_dtypes_inexact(a)
    if range is None:
        lo, hi = jnp.min(a), jnp.max(a)
    else:
        lo, hi = (asarray(v, a.dtype) for v in range)
    same = lo == hi
    lo, hi = jnp.where(same, lo - 0.5, lo), jnp.where(same, hi + 0.5, hi)
    return jnp.linspace(lo, hi, bins + 1, dtype=a.dtype)


def _bin_index(x, edges):
    """The bin of each x (the last bin includes its right edge; -1 / nbins outside)."""
    nbins = edges.shape[0] - 1
    idx = searchsorted(edges, x, side="right") - 1
    idx = jnp.where(x == edges[-1], nbins - 1, idx)
    return jnp.where((x < edges[0]) | (x > edges[-1]), nbins, idx)


def histogram(a, bins=10, range=None, weights=None, density=None):  # noqa: A002
    a = asarray(a).ravel()
    edges = histogram_bin_edges(a, bins, range)
    nbins = edges.shape[0] - 1
    w = None if weights is None else asarray(weights).ravel()
    counts = bincount(_bin_index(a, edges), w, length=nbins)
    if density:
        counts = counts / jnp.sum(counts) / jnp.diff(edges)
    elif weights is None:
        counts = counts.astype(jnp.int32)
    return counts, edges


def histogramdd(sample, bins=10, range=None, weights=None, density=None):  # noqa: A002
    sample = asarray(sample)
    if sample.ndim != 2:
        raise ValueError(f"histogramdd: sample must be (N, D), got shape {sample.shape}")
    d = sample.shape[1]
    bins = [bins] * d if isinstance(bins, int) else list(bins)
    ranges = [None] * d if range is None else list(range)
    edges = [histogram_bin_edges(sample[:, k], b, r) for k, (b, r) in enumerate(zip(bins,
                                                                                  ranges))]
    sizes = [e.shape[0] - 1 for e in edges]
    flat = jnp.zeros(sample.shape[:1], jnp.int32)
    outside = jnp.zeros(sample.shape[:1], bool)
    for k, (e, n) in enumerate(zip(edges, sizes)):
        idx = _bin_index(sample[:, k], e)
        outside = outside | (idx >= n)
        flat = flat * n + jnp.minimum(idx, n - 1)
    total = math.prod(sizes)
    flat = jnp.where(outside, total, flat)
    w = None if weights is None else asarray(weights).ravel()
    counts = bincount(flat, w, length=total).reshape(sizes)
    if density:
        counts = counts / jnp.sum(counts)
        for k, e in enumerate(edges):
            shape = [1] * d
            shape[k] = sizes[k]
            counts = counts / jnp.diff(e).reshape(shape)
    elif weights is None:
        counts = counts.astype(jnp.int32)
    return counts, edges


def histogram2d(x, y, bins=10, range=None, weights=None, density=None):  # noqa: A002
    counts, edges = histogramdd(jnp.stack([asarray(x).ravel(), asarray(y).ravel()], axis=1),
                                bins, range, weights, density)
    return counts, edges[0], edges[1]


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation of the points ``(xp, fp)`` (``xp`` increasing)."""
    x, xp, fp = promote_dtypes_inexact(x, xp, fp)
    if xp.ndim != 1 or fp.shape != xp.shape:
        raise ValueError(f"interp: xp and fp must be 1-d of one length, got {xp.shape} and "
                         f"{fp.shape}")
    if period is not None:
        period = abs(float(period))
        x = x % period
        xp = xp % period
        order = jnp.argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = jnp.concatenate([xp[-1:] - period, xp, xp[:1] + period])
        fp = jnp.concatenate([fp[-1:], fp, fp[:1]])
    n = xp.shape[0]
    i = jnp.clip(searchsorted(xp, x, side="right"), 1, n - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    dx = x1 - x0
    safe = jnp.where(dx == 0, jnp.ones_like(dx), dx)
    out = jnp.where(dx == 0, f1, f0 + (x - x0) * (f1 - f0) / safe)
    if period is None:
        out = jnp.where(x < xp[0], fp[0] if left is None else left, out)
        out = jnp.where(x > xp[-1], fp[-1] if right is None else right, out)
    return out


