"""Numerical helpers: differences and integrals, statistics of pairs of variables, 1-d
convolution (through ``conv_general_dilated``), floating-point decomposition, integer gcd/lcm,
and the NaN-ignoring cumulative and order statistics."""

import math

import numpy as np

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.numpy._util import asarray, canonical_axis, promote_dtypes, promote_dtypes_inexact

__all__ = ["gradient", "cov", "corrcoef", "convolve", "correlate", "ediff1d", "trapezoid",
           "unwrap", "vander", "gcd", "lcm", "frexp", "modf", "spacing", "geomspace",
           "nancumsum", "nancumprod", "nanmedian", "nanpercentile", "nanquantile",
           "fromfunction"]


def _along(x, axis, start, stop):
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(start, stop)
    return x[tuple(idx)]


def _gradient_1d(f, axis, h):
    """Second-order central differences inside, first-order at the ends (numpy's default);
    ``h`` a scalar spacing or the coordinates along the axis."""
    n = f.shape[axis]
    if n < 2:
        raise ValueError(f"gradient: axis {axis} has {n} points; at least 2 are needed")
    shape = [1] * f.ndim
    if np.ndim(h) == 0:
        interior = (_along(f, axis, 2, None) - _along(f, axis, 0, -2)) / (2 * h)
        first = (_along(f, axis, 1, 2) - _along(f, axis, 0, 1)) / h
        last = (_along(f, axis, -1, None) - _along(f, axis, -2, -1)) / h
        return jnp.concatenate([first, interior, last], axis=axis)
    x = asarray(h, f.dtype)
    dx = jnp.diff(x)
    shape[axis] = n - 2
    d1, d2 = dx[:-1].reshape(shape), dx[1:].reshape(shape)
    a = -d2 / (d1 * (d1 + d2))
    b = (d2 - d1) / (d1 * d2)
    c = d1 / (d2 * (d1 + d2))
    interior = (a * _along(f, axis, 0, -2) + b * _along(f, axis, 1, -1)
                + c * _along(f, axis, 2, None))
    first = (_along(f, axis, 1, 2) - _along(f, axis, 0, 1)) / dx[0]
    last = (_along(f, axis, -1, None) - _along(f, axis, -2, -1)) / dx[-1]
    return jnp.concatenate([first, interior, last], axis=axis)


def gradient(f, *varargs, axis=None, edge_order=None):
    """The numerical gradient of ``f`` along each axis (or ``axis``)."""
    if edge_order not in (None, 1):
        raise NotImplementedError("gradient: only edge_order=1 is supported")
    (f,) = promote_dtypes_inexact(f)
    axes = list(range(f.ndim)) if axis is None else (
        [axis] if isinstance(axis, int) else list(axis))
    axes = [canonical_axis("gradient", a, f.ndim) for a in axes]
    spacing = list(varargs) or [1.0]
    if len(spacing) == 1:
        spacing = spacing * len(axes)
    if len(spacing) != len(axes):
        raise TypeError(f"gradient: {len(spacing)} spacings given for {len(axes)} axes")
    out = [_gradient_1d(f, a, h) for a, h in zip(axes, spacing)]
    return out[0] if len(out) == 1 else out


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None):
    """The covariance matrix of the variables in the rows (or columns) of ``m`` and ``y``."""
    (m,) = promote_dtypes_inexact(m)
    if m.ndim > 2:
        raise ValueError(f"cov: m must have at most 2 dimensions, got shape {m.shape}")
    x = jnp.atleast_2d(m)
    if not rowvar and x.shape[0] != 1:
        x = x.T
    if y is not None:
        (y,) = promote_dtypes_inexact(y)
        y = jnp.atleast_2d(y)
        if not rowvar and y.shape[0] != 1:
            y = y.T
        x, y = promote_dtypes(x, y)
        x = jnp.concatenate([x, y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    n = x.shape[1]
    w = None
    if fweights is not None:
        w = asarray(fweights, x.dtype)
    if aweights is not None:
        aw = asarray(aweights, x.dtype)
        w = aw if w is None else w * aw
    if w is None:
        avg = jnp.mean(x, axis=1)
        norm = n - ddof
        xc = x - avg[:, None]
        c = xc @ xc.T / norm
    else:
        total = jnp.sum(w)
        avg = jnp.sum(x * w, axis=1) / total
        if ddof == 0:
            norm = total
        elif aweights is None:
            norm = total - ddof
        else:
            norm = total - ddof * jnp.sum(w * asarray(aweights, x.dtype)) / total
        xc = x - avg[:, None]
        c = (xc * w) @ xc.T / norm
    return jnp.squeeze(c)


def corrcoef(x, y=None, rowvar=True):
    c = cov(x, y, rowvar)
    if c.ndim == 0:
        return c / c
    d = jnp.sqrt(jnp.diagonal(c))
    return jnp.clip(c / d[:, None] / d[None, :], -1, 1)


def _correlate_full(a, v):
    """c[k] = sum_n a[n + k] v[n] for k = -(len(v) - 1) ... len(a) - 1."""
    m = v.shape[0]
    out = lax.conv_general_dilated(a[None, None, :], v[None, None, :], (1,),
                                   ((m - 1, m - 1),))
    return out[0, 0]


def _mode_slice(full, n, m, mode):
    if mode == "full":
        return full
    if mode == "valid":
        return full[min(n, m) - 1:max(n, m)]
    if mode == "same":
        start = (min(n, m) - 1) // 2
        return full[start:start + max(n, m)]
    raise ValueError(f"mode must be 'full', 'same' or 'valid', got {mode!r}")


def _conv_args(name, a, v):
    a, v = promote_dtypes(a, v)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"{name}: a and v must be 1-d, got shapes {a.shape} and {v.shape}")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"{name}: inputs cannot be empty, got shapes {a.shape} and "
                         f"{v.shape}")
    if a.dtype == np.dtype(bool):
        a, v = a.astype(jnp.int32), v.astype(jnp.int32)
    return a, v


def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    """Discrete 1-d convolution (numpy's modes)."""
    a, v = _conv_args("convolve", a, v)
    n, m = a.shape[0], v.shape[0]
    if n < m:
        a, v = v, a
    return _mode_slice(_correlate_full(a, v[::-1]), n, m, mode)


def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    """Discrete 1-d cross-correlation (numpy's modes)."""
    a, v = _conv_args("correlate", a, v)
    n, m = a.shape[0], v.shape[0]
    if n < m:  # numpy: correlate(a, v) == correlate(v, a)[::-1] for real inputs
        return _mode_slice(_correlate_full(v, a), m, n, mode)[::-1]
    return _mode_slice(_correlate_full(a, v), n, m, mode)


def ediff1d(ary, to_end=None, to_begin=None):
    x = jnp.ravel(ary)
    parts = [jnp.diff(x)]
    if to_begin is not None:
        parts.insert(0, jnp.ravel(asarray(to_begin, x.dtype)))
    if to_end is not None:
        parts.append(jnp.ravel(asarray(to_end, x.dtype)))
    return jnp.concatenate(parts)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    (y,) = promote_dtypes_inexact(y)
    axis = canonical_axis("trapezoid", axis, y.ndim)
    mid = (_along(y, axis, 1, None) + _along(y, axis, 0, -1)) / 2
    if x is None:
        return jnp.sum(mid, axis=axis) * dx
    d = jnp.diff(asarray(x, y.dtype), axis=-1 if np.ndim(x) > 1 else 0)
    if d.ndim == 1:
        shape = [1] * y.ndim
        shape[axis] = d.shape[0]
        d = d.reshape(shape)
    return jnp.sum(mid * d, axis=axis)


def unwrap(p, discont=None, axis=-1, period=2 * math.pi):
    """Removes jumps larger than ``discont`` by adding multiples of ``period``."""
    (p,) = promote_dtypes_inexact(p)
    axis = canonical_axis("unwrap", axis, p.ndim)
    half = period / 2
    discont = half if discont is None else max(discont, half)
    dd = jnp.diff(p, axis=axis)
    ddmod = jnp.mod(dd + half, period) - half
    ddmod = jnp.where((ddmod == -half) & (dd > 0), half, ddmod)
    correction = jnp.where(jnp.abs(dd) < discont, 0, ddmod - dd)
    zero = jnp.zeros_like(_along(p, axis, 0, 1))
    return p + jnp.concatenate([zero, jnp.cumsum(correction, axis=axis)], axis=axis)


def vander(x, N=None, increasing=False):  # noqa: N803 - numpy's name
    x = asarray(x)
    if x.ndim != 1:
        raise ValueError(f"vander: x must be 1-d, got shape {x.shape}")
    n = x.shape[0] if N is None else int(N)
    powers = jnp.arange(n) if increasing else jnp.arange(n - 1, -1, -1)
    return jnp.power(x[:, None], powers[None, :].astype(x.dtype))


def gcd(x1, x2):
    """Greatest common divisor (non-negative), by Euclid's algorithm in a while loop."""
    x1, x2 = promote_dtypes(x1, x2)
    if not jnp.issubdtype(x1.dtype, jnp.integer):
        raise TypeError(f"gcd: arguments must be integers, got {x1.dtype}")
    a, b = jnp.broadcast_arrays(jnp.abs(x1), jnp.abs(x2))

    def more(carry):
        return jnp.any(carry[1] != 0)

    def step(carry):
        a, b = carry
        safe = jnp.where(b == 0, jnp.ones_like(b), b)
        return jnp.where(b == 0, a, b), jnp.where(b == 0, b, a % safe)
    return lax.while_loop(more, step, (a, b))[0]


def lcm(x1, x2):
    x1, x2 = promote_dtypes(x1, x2)
    g = gcd(x1, x2)
    safe = jnp.where(g == 0, jnp.ones_like(g), g)
    return jnp.where(g == 0, jnp.zeros_like(g), jnp.abs(x1 // safe * x2))


def _scale(x, e):
    """``x * 2**e`` in two exact steps (2**e alone may overflow for subnormal x)."""
    half = e // 2
    return jnp.ldexp(jnp.ldexp(x, half), e - half)


def frexp(x):
    """``(mantissa, exponent)`` with ``x = mantissa * 2**exponent``, ``0.5 <= |m| < 1``."""
    (x,) = promote_dtypes_inexact(x)
    finite = jnp.isfinite(x) & (x != 0)
    mag = jnp.where(finite, jnp.abs(x), jnp.ones_like(x))
    e = jnp.floor(jnp.log2(mag)).astype(jnp.int32) + 1
    # log2 may round across a power of two: fix the exponent so 0.5 <= m < 1 exactly.
    m = _scale(mag, -e)
    e = jnp.where(m >= 1, e + 1, jnp.where(m < 0.5, e - 1, e))
    m = _scale(mag, -e)
    return (jnp.where(finite, jnp.sign(x) * m, x),
            jnp.where(finite, e, jnp.zeros_like(e)))


def modf(x):
    (x,) = promote_dtypes_inexact(x)
    whole = jnp.trunc(x)
    frac = jnp.where(jnp.isinf(x), jnp.zeros_like(x), x - whole)
    return jnp.copysign(frac, x), whole


def spacing(x):
    """The distance from ``x`` to the next representable number away from zero."""
    (x,) = promote_dtypes_inexact(x)
    away = jnp.where(jnp.signbit(x), -jnp.inf, jnp.inf).astype(x.dtype)
    return jnp.nextafter(x, away) - x


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    start, stop = promote_dtypes_inexact(start, stop)
    sign = jnp.sign(start)
    out = sign * jnp.logspace(jnp.log10(start * sign), jnp.log10(stop * sign), num,
                              endpoint=endpoint, base=10.0, axis=axis)
    if num > 0:  # the ends exactly as given
        out = jnp.moveaxis(out, axis, 0)
        out = out.at[0].set(start)
        if endpoint and num > 1:
            out = out.at[-1].set(stop)
        out = jnp.moveaxis(out, 0, axis)
    return out if dtype is None else out.astype(dtype)


def nancumsum(a, axis=None, dtype=None):
    a = asarray(a)
    return jnp.cumsum(jnp.where(jnp.isnan(a), jnp.zeros_like(a), a), axis=axis, dtype=dtype)


def nancumprod(a, axis=None, dtype=None):
    a = asarray(a)
    return jnp.cumprod(jnp.where(jnp.isnan(a), jnp.ones_like(a), a), axis=axis, dtype=dtype)


def nanquantile(a, q, axis=None, method="linear", keepdims=False):
    """Quantiles of the non-NaN values along ``axis`` (NaN where a slice has none)."""
    if method != "linear":
        raise NotImplementedError("nanquantile: only method='linear' is supported")
    a, q = promote_dtypes_inexact(a, q)
    if axis is None:
        x, axis = jnp.ravel(a), 0
    else:
        x, axis = a, canonical_axis("nanquantile", axis, a.ndim)
    x = jnp.moveaxis(jnp.sort(x, axis=axis), axis, -1)  # NaNs sort last
    count = jnp.sum(~jnp.isnan(x), axis=-1, keepdims=True)
    qs = q.reshape(q.shape + (1,) * x.ndim)
    pos = qs * (count - 1).astype(x.dtype)
    lo = jnp.clip(jnp.floor(pos), 0, x.shape[-1] - 1).astype(jnp.int32)
    hi = jnp.clip(lo + 1, 0, jnp.maximum(count - 1, 0)).astype(jnp.int32)
    xb = jnp.broadcast_to(x, q.shape + x.shape)
    below = jnp.take_along_axis(xb, lo, axis=-1)
    above = jnp.take_along_axis(xb, hi, axis=-1)
    out = (below + (pos - lo) * (above - below))[..., 0]
    out = jnp.where((count == 0)[..., 0], jnp.nan, out)
    if keepdims:  # the reduced axis comes back with size 1 (all axes when axis was None)
        axes = range(q.ndim, q.ndim + a.ndim) if x.ndim == 1 and a.ndim != 1 else [
            q.ndim + axis]
        out = jnp.expand_dims(out, tuple(axes))
    return out


def nanpercentile(a, q, axis=None, method="linear", keepdims=False):
    return nanquantile(a, asarray(q) / 100, axis, method, keepdims)


def nanmedian(a, axis=None, keepdims=False):
    return nanquantile(a, 0.5, axis, keepdims=keepdims)


def fromfunction(function, shape, *, dtype=float, **kwargs):
    """``function(*indices)`` over the index grids of ``shape``."""
    return function(*jnp.indices(shape, dtype=dtype), **kwargs)
