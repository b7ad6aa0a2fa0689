"""Polynomials as coefficient arrays, highest power first (numpy's ``poly*`` functions)."""


import numpy as np

from funcjax import numpy as jnp
from funcjax.numpy._util import asarray, promote_dtypes, promote_dtypes_inexact

__all__ = ["poly", "polyadd", "polysub", "polymul", "polydiv", "polyder", "polyint",
           "polyval", "polyfit", "roots"]


def _1d(name, p):
    p = asarray(p)
    if p.ndim != 1:
        raise ValueError(f"{name}: coefficients must be 1-d, got shape {p.shape}")
    return p


def polyval(p, x, *, unroll=16):
    """``p[0] x^(n-1) + ... + p[-1]`` by Horner's rule."""
    p, x = promote_dtypes(p, x)
    p = _1d("polyval", p)
    out = jnp.zeros_like(x)
    for k in range(p.shape[0]):
        out = out * x + p[k]
    return out


def _pad_to(p, n):
    return jnp.concatenate([jnp.zeros((n - p.shape[0],), p.dtype), p]) if p.shape[0] < n else p


def polyadd(a1, a2):
    a1, a2 = promote_dtypes(_1d("polyadd", a1), _1d("polyadd", a2))
    n = max(a1.shape[0], a2.shape[0])
    return _pad_to(a1, n) + _pad_to(a2, n)


def polysub(a1, a2):
    a1, a2 = promote_dtypes(_1d("polysub", a1), _1d("polysub", a2))
    n = max(a1.shape[0], a2.shape[0])
    return _pad_to(a1, n) - _pad_to(a2, n)


def polymul(a1, a2, *, trim_leading_zeros=False):
    a1, a2 = promote_dtypes(_1d("polymul", a1), _1d("polymul", a2))
    return jnp.convolve(a1, a2)


def polyder(p, m=1):
    p = _1d("polyder", p)
    m = int(m)
    if m < 0:
        raise ValueError(f"polyder: the order m must be non-negative, got {m}")
    (p,) = promote_dtypes_inexact(p) if p.dtype.kind == "b" else (p,)
    for _ in range(m):
        n = p.shape[0]
        if n <= 1:
            return jnp.zeros((1,), p.dtype) if n else p
        p = p[:-1] * jnp.arange(n - 1, 0, -1).astype(p.dtype)
    return p


def polyint(p, m=1, k=None):
    (p,) = promote_dtypes_inexact(_1d("polyint", p))
    m = int(m)
    if m < 0:
        raise ValueError(f"polyint: the order m must be non-negative, got {m}")
    ks = jnp.zeros((m,), p.dtype) if k is None else jnp.ravel(asarray(k, p.dtype))
    ks = jnp.broadcast_to(ks, (m,))
    for i in range(m):
        n = p.shape[0]
        p = jnp.concatenate([p / jnp.arange(n, 0, -1).astype(p.dtype), ks[i:i + 1]])
    return p


def polydiv(u, v, *, trim_leading_zeros=False):
    """Quotient and remainder of the division of ``u`` by ``v`` (long division)."""
    u, v = promote_dtypes_inexact(_1d("polydiv", u), _1d("polydiv", v))
    n, m = u.shape[0], v.shape[0]
    if m == 0:
        raise ValueError("polydiv: the divisor has no coefficients")
    q = jnp.zeros((max(n - m + 1, 1),), u.dtype)
    r = u
    for k in range(n - m + 1):
        d = r[k] / v[0]
        q = q.at[k].set(d)
        r = r.at[k:k + m].add(-d * v)
    return q, r


def poly(seq_of_zeros):
    """The monic polynomial with the given roots (1-d input only)."""
    z = asarray(seq_of_zeros)
    if z.ndim != 1:
        raise NotImplementedError("poly: only a 1-d sequence of roots is supported (a matrix "
                                  "needs its eigenvalues)")
    (z,) = promote_dtypes_inexact(z)
    out = jnp.ones((1,), z.dtype)
    for k in range(z.shape[0]):
        out = jnp.convolve(out, jnp.stack([jnp.ones((), z.dtype), -z[k]]))
    return out




def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least-squares fit of a degree-``deg`` polynomial (coefficients highest power first);
    ``y`` may be 2-d (one fit per column). ``full`` and ``cov`` are not supported."""
    if full or cov:
        raise NotImplementedError("polyfit: full=True and cov=True are not supported")
    x, y = promote_dtypes_inexact(x, y)
    deg = int(deg)
    if x.ndim != 1 or y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(f"polyfit: x must be 1-d and y 1-d or 2-d with x's length, got "
                         f"{x.shape} and {y.shape}")
    lhs = jnp.vander(x, deg + 1)
    rhs = y
    if w is not None:
        w = asarray(w, x.dtype)
        lhs = lhs * w[:, None]
        rhs = rhs * (w if y.ndim == 1 else w[:, None])
    scale = jnp.sqrt(jnp.sum(lhs * lhs, axis=0))  # column scaling, as numpy, for conditioning
    scale = jnp.where(scale == 0, jnp.ones_like(scale), scale)
    coef = jnp.linalg.lstsq(lhs / scale, rhs, rcond=rcond)[0]
    return (coef.T / scale).T


def roots(p, *, strip_zeros=True):
    """The roots of a polynomial: the eigenvalues of its companion matrix (complex)."""
    p = _1d("roots", p)
    if strip_zeros:
        values = np.asarray(p)  # the number of leading/trailing zeros decides the shape
        nz = np.nonzero(values)[0]
        if nz.size == 0:
            return jnp.zeros((0,), p.dtype)
        trailing = values.size - 1 - nz[-1]
        p = p[nz[0]:nz[-1] + 1]
    else:
        trailing = 0
    (p,) = promote_dtypes_inexact(p)
    n = p.shape[0] - 1
    if n < 1:
        out = jnp.zeros((0,), p.dtype)
    else:
        companion = jnp.diag(jnp.ones((n - 1,), p.dtype), -1)
        companion = companion.at[0, :].set(-p[1:] / p[0])
        out = jnp.linalg.eigvals(companion)
    if trailing:
        out = jnp.concatenate([out, jnp.zeros((trailing,), out.dtype)])
    return out
