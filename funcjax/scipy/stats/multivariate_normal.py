"""The multivariate normal distribution.

The log-density needs ``log det cov`` and ``cov^-1 (x - mean)``: both come from a Cholesky
factor computed here column by column with array ops (static matrix size, so it traces to a
fixed sequence of primitives and differentiates, batches and compiles like any other code).
"""

import math

import funcjax.numpy as jnp
from funcjax.scipy.stats._common import promote


def _cholesky(a):
    """Lower-triangular L with L L^T = a (a symmetric positive definite, (..., n, n))."""
    n = a.shape[-1]
    cols = []
    for j in range(n):
        v = a[..., :, j]
        for col in cols:
            v = v - col * col[..., j:j + 1]
        diag = jnp.sqrt(v[..., j:j + 1])
        mask = jnp.arange(n) >= j
        cols.append(jnp.where(mask, v / diag, jnp.zeros_like(v)))
    return jnp.stack(cols, axis=-1)


def _forward_substitute(lower, b):
    """Solves L y = b for y by forward substitution (b: (..., n))."""
    n = lower.shape[-1]
    ys = []
    for i in range(n):
        acc = b[..., i]
        for k in range(i):
            acc = acc - lower[..., i, k] * ys[k]
        ys.append(acc / lower[..., i, i])
    return jnp.stack(ys, axis=-1)


def logpdf(x, mean, cov, allow_singular=None):
    if allow_singular:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular=True is not "
                                  "supported (as in JAX)")
    x, mean = promote("multivariate_normal.logpdf", x, mean)
    cov = jnp.asarray(cov, dtype=x.dtype)
    n = x.shape[-1] if x.ndim else 1
    if cov.ndim == 0:
        cov = cov * jnp.eye(n, dtype=x.dtype)
    elif cov.ndim == 1:
        cov = jnp.diag(cov)
    if cov.shape[-2:] != (n, n):
        raise ValueError(f"multivariate_normal.logpdf: cov has shape {cov.shape} but x has "
                         f"{n} dimensions in its last axis (shape {x.shape}); cov must be "
                         f"({n}, {n})")
    lower = _cholesky(cov)
    y = _forward_substitute(lower, x - mean)
    log_det = 2 * jnp.sum(jnp.log(jnp.diagonal(lower, axis1=-2, axis2=-1)), axis=-1)
    return -0.5 * (jnp.sum(y * y, axis=-1) + log_det + n * math.log(2 * math.pi))


def pdf(x, mean, cov, allow_singular=None):
    return jnp.exp(logpdf(x, mean, cov, allow_singular))
