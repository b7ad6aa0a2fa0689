"""Distributions derived from uniform and normal samples: transforms, rejection samplers
(gamma by Marsaglia and Tsang, Poisson by Knuth and by transformed rejection) and
multivariate normal. Each follows JAX's construction, so the same key gives JAX's numbers.

Gamma draws one key per element and runs Marsaglia-Tsang's rejection loop as a
``while_loop`` vmapped over the elements: each element stops when it is accepted.
"""


import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.api import vmap
from funcjax.core import dtypes
from funcjax.ops.custom import custom_jvp
from funcjax.random._keys import raw, split
from funcjax.random._samplers import (
    _check_order,
    _normal,
    _uniform,
    canonical_shape,
    check_shape,
    float_dtype,
)
from funcjax.random._special import erf_inv


def _shape_or_broadcast(name, shape, *params):
    shapes = [np.shape(p) for p in params]
    if shape is None:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()
    shape = canonical_shape(name, shape)
    check_shape(name, shape, *shapes)
    return shape


def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Standard normal samples conditioned on ``lower < x < upper`` (inverse-CDF method)."""
    data, _ = raw("truncated_normal", key)
    dt = float_dtype("truncated_normal", dtype)
    shape = _shape_or_broadcast("truncated_normal", shape, lower, upper)
    _check_order("truncated_normal", lower, upper, "lower", "upper")
    sqrt2 = np.array(np.sqrt(2), dt)
    lower, upper = jnp.asarray(lower).astype(dt), jnp.asarray(upper).astype(dt)
    a, b = lax.erf(lower / sqrt2), lax.erf(upper / sqrt2)
    out = sqrt2 * erf_inv(_uniform(data, shape, dt, a, b))
    return jnp.clip(out, jnp.nextafter(lax.stop_gradient(lower), np.array(np.inf, dt)),
                    jnp.nextafter(lax.stop_gradient(upper), np.array(-np.inf, dt)))


def bernoulli(key, p=0.5, shape=None):
    """Booleans that are True with probability ``p``."""
    data, _ = raw("bernoulli", key)
    p = jnp.asarray(p)
    if not dtypes.is_float(p.dtype):
        p = p.astype(dtypes.default_float())
    shape = _shape_or_broadcast("bernoulli", shape, p)
    return _uniform(data, shape, p.dtype, 0.0, 1.0) < p


def exponential(key, shape=(), dtype=None):
    data, _ = raw("exponential", key)
    u = _uniform(data, canonical_shape("exponential", shape),
                 float_dtype("exponential", dtype), 0.0, 1.0)
    return -jnp.log1p(-u)


def laplace(key, shape=(), dtype=None):
    data, _ = raw("laplace", key)
    dt = float_dtype("laplace", dtype)
    u = _uniform(data, canonical_shape("laplace", shape), dt, -1.0 + np.finfo(dt).epsneg, 1.0)
    return jnp.sign(u) * jnp.log1p(-jnp.abs(u))


def logistic(key, shape=(), dtype=None):
    data, _ = raw("logistic", key)
    dt = float_dtype("logistic", dtype)
    x = _uniform(data, canonical_shape("logistic", shape), dt, np.finfo(dt).tiny, 1.0)
    return jnp.log(x) - jnp.log1p(-x)


def cauchy(key, shape=(), dtype=None):
    data, _ = raw("cauchy", key)
    dt = float_dtype("cauchy", dtype)
    u = _uniform(data, canonical_shape("cauchy", shape), dt, np.finfo(dt).eps, 1.0)
    return jnp.tan(np.array(np.pi, dt) * (u - np.array(0.5, dt)))


# -- gamma family ----------------------------------------------------------------------------
def _gamma_one(data, alpha, log_space):
    """One Marsaglia-Tsang gamma(alpha) draw; alpha < 1 is boosted from alpha + 1."""
    dt = alpha.dtype
    zero, one = np.array(0, dt), np.array(1, dt)
    boost_mask = alpha >= one
    alpha_orig = alpha
    alpha = jnp.where(boost_mask, alpha, alpha + one)
    d = alpha - np.array(1 / 3, dt)
    c = np.array(1 / 3, dt) / jnp.sqrt(d)

    def cond(state):
        _, x2, v3, u = state
        squeeze = u >= one - np.array(0.0331, dt) * x2 * x2
        return squeeze & (jnp.log(u) >= x2 * np.array(0.5, dt) + d * (one - v3 + jnp.log(v3)))

    def body(state):
        data = state[0]
        data, x_key, u_key = split(data, 3)

        def next_x(kxv):
            k, sub = split(kxv[0])
            x = _normal(sub, (), dt)
            return k, x, one + x * c
        _, x, v = lax.while_loop(lambda kxv: kxv[2] <= zero, next_x,
                                 (x_key, zero, np.array(-1, dt)))
        return data, x * x, v * v * v, _uniform(u_key, (), dt, 0.0, 1.0)

    data, sub = split(data)
    _, _, v3, _ = lax.while_loop(cond, body, (data, zero, one, np.array(2, dt)))
    if log_space:
        log_u = jnp.log1p(-_uniform(sub, (), dt, 0.0, 1.0))  # -exponential
        log_boost = jnp.where(boost_mask | (log_u == zero), zero, log_u * (one / alpha_orig))
        return jnp.log(d) + jnp.log(v3) + log_boost
    u = one - _uniform(sub, (), dt, 0.0, 1.0)
    return d * v3 * jnp.where(boost_mask, one, jnp.power(u, one / alpha_orig))


def _gamma_draws(data, a, log_space):
    n = a.size
    if n == 0:
        return jnp.zeros(a.shape, a.dtype)
    keys = split(data, n)
    samples = vmap(lambda k, al: _gamma_one(k, al, log_space))(keys, jnp.reshape(a, (n,)))
    return jnp.reshape(samples, a.shape)


def _dsample_dalpha(z, a):
    """d z / d alpha of a Gamma(alpha) sample z at fixed CDF value (implicit
    reparameterisation, Figurnov et al. 2018): ``-dP(alpha, z)/dalpha / p(z; alpha)``.

    P is the regularised lower incomplete gamma function, summed from its series
    ``P = z**a e**-z / Gamma(a+1) * sum_n z**n / ((a+1)...(a+n))`` together with its alpha
    derivative, until the terms stop mattering."""
    z = jnp.maximum(z, np.finfo(z.dtype).tiny)
    log_z = jnp.log(z)
    log_prefactor = a * log_z - z - lax.lgamma(a + 1)
    eps = np.finfo(z.dtype).eps

    def cond(c):
        return jnp.any(c[1] > eps * c[3]) & (c[0] < 10000)

    def body(c):
        n, t, h, s, ds = c
        n = n + 1
        t = t * z / (a + n)
        h = h + 1 / (a + n)
        return n, t, h, s + t, ds - t * h

    one, zero = jnp.ones_like(z), jnp.zeros_like(z)
    _, _, _, s, ds = lax.while_loop(cond, body, (jnp.asarray(0, z.dtype), one, zero, one, zero))
    prefactor = jnp.exp(log_prefactor)
    dp_da = prefactor * (s * (log_z - lax.digamma(a + 1)) + ds)
    density = jnp.exp((a - 1) * log_z - z - lax.lgamma(a))
    return -dp_da / density


def _gamma_sampler(log_space):
    """The gamma (or log-gamma) draws as a function of alpha with the implicit
    reparameterisation derivative as its jvp rule."""
    @custom_jvp
    def draw(data, a):
        return _gamma_draws(data, a, log_space)

    @draw.defjvp
    def draw_jvp(primals, tangents):
        data, a = primals
        out = draw(data, a)
        z = lax.stop_gradient(jnp.exp(out) if log_space else out)
        dz = _dsample_dalpha(z, lax.stop_gradient(a))
        return out, tangents[1] * (dz / z if log_space else dz)
    return draw


_GAMMA = {False: _gamma_sampler(False), True: _gamma_sampler(True)}


def _gamma(data, a, shape, dt, log_space):
    a = jnp.broadcast_to(jnp.asarray(a).astype(dt), shape)
    return _GAMMA[log_space](data, a)


def gamma(key, a, shape=None, dtype=None):
    """Gamma(a, 1) samples, differentiable in ``a`` (implicit reparameterisation)."""
    data, _ = raw("gamma", key)
    dt = float_dtype("gamma", dtype)
    shape = _shape_or_broadcast("gamma", shape, a)
    return _gamma(data, jnp.asarray(a), shape, dt, False)


def loggamma(key, a, shape=None, dtype=None):
    """log of Gamma(a, 1) samples, accurate for small ``a`` where the samples underflow."""
    data, _ = raw("loggamma", key)
    dt = float_dtype("loggamma", dtype)
    shape = _shape_or_broadcast("loggamma", shape, a)
    return _gamma(data, jnp.asarray(a), shape, dt, True)


def beta(key, a, b, shape=None, dtype=None):
    """Beta(a, b) samples as a ratio of gamma samples (computed in log space)."""
    data, _ = raw("beta", key)
    dt = float_dtype("beta", dtype)
    shape = _shape_or_broadcast("beta", shape, a, b)
    key_a, key_b = split(data)
    log_a = _gamma(key_a, jnp.asarray(a), shape, dt, True)
    log_b = _gamma(key_b, jnp.asarray(b), shape, dt, True)
    log_max = jnp.maximum(log_a, log_b)
    ga, gb = jnp.exp(log_a - log_max), jnp.exp(log_b - log_max)
    return ga / (ga + gb)


def dirichlet(key, alpha, shape=None, dtype=None):
    """Dirichlet(alpha) samples over the last axis: normalised gamma samples."""
    data, _ = raw("dirichlet", key)
    dt = float_dtype("dirichlet", dtype)
    if np.ndim(alpha) < 1:
        raise ValueError(f"dirichlet requires alpha.ndim >= 1, got alpha.ndim == "
                         f"{np.ndim(alpha)}")
    shape = _shape_or_broadcast("dirichlet", shape, np.zeros(np.shape(alpha)[:-1]))
    logs = _gamma(data, jnp.asarray(alpha), shape + np.shape(alpha)[-1:],
                  dt, True)
    e = jnp.exp(logs - lax.stop_gradient(jnp.max(logs, axis=-1, keepdims=True)))
    return e / jnp.sum(e, axis=-1, keepdims=True)


# -- Poisson ---------------------------------------------------------------------------------
def _poisson_knuth(data, lam, shape, dt):
    """Counts uniforms until their product drops below exp(-lam) (for small lam)."""
    def body(carry):
        i, k, d, log_prod = carry
        d, sub = split(d)
        k = jnp.where(log_prod > -lam, k + 1, k)
        return i + 1, k, d, log_prod + jnp.log(_uniform(sub, shape, np.dtype(np.float32),
                                                        0.0, 1.0))

    def cond(carry):
        return jnp.any(carry[3] > -lam)

    init = (jnp.asarray(0), jnp.zeros(shape, dt), data, jnp.zeros(shape, np.float32))
    return (lax.while_loop(cond, body, init)[1] - 1).astype(dt)


def _poisson_rejection(data, lam, shape, dt):
    """Hormann's transformed rejection with squeeze (PTRS), for lam >= 10."""
    log_lam = jnp.log(lam)
    b = 0.931 + 2.53 * jnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def body(carry):
        i, k_out, accepted, d = carry
        d, k0, k1 = split(d, 3)
        u = _uniform(k0, shape, lam.dtype, 0.0, 1.0) - 0.5
        v = _uniform(k1, shape, lam.dtype, 0.0, 1.0)
        us = 0.5 - jnp.abs(u)
        k = jnp.floor((2 * a / us + b) * u + lam + 0.43)
        s = jnp.log(v * inv_alpha / (a / (us * us) + b))
        t = -lam + k * log_lam - lax.lgamma(k + 1)
        accept1 = (us >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((us < 0.013) & (v > us))
        accept = accept1 | (~reject & (s <= t))
        return i + 1, jnp.where(accept, k, k_out), accepted | accept, d

    init = (jnp.asarray(0), jnp.full(shape, -1, lam.dtype), jnp.zeros(shape, bool), data)
    return lax.while_loop(lambda c: jnp.any(~c[2]), body, init)[1].astype(dt)


def poisson(key, lam, shape=None, dtype=None):
    """Poisson(lam) counts: Knuth's method below lam = 10, transformed rejection above."""
    data, _ = raw("poisson", key)
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    if not dtypes.is_int(dt):
        raise TypeError(f"poisson: dtype must be an integer dtype, got {dt}")
    lam = jnp.asarray(lam)
    lam = lam.astype(dtypes.default_float()) if not dtypes.is_float(lam.dtype) else lam
    shape = _shape_or_broadcast("poisson", shape, lam)
    if isinstance(lam, jnp.ndarray) and np.any(np.asarray(lam) < 0):
        raise ValueError("poisson: lam must be non-negative")
    lam = lax.stop_gradient(jnp.broadcast_to(lam, shape))
    use_knuth = jnp.isnan(lam) | (lam < 10)
    lam_knuth = jnp.where(use_knuth, lam, 0.0)
    lam_rejection = jnp.where(use_knuth, 1e5, lam)
    out = jnp.where(use_knuth, _poisson_knuth(data, lam_knuth, shape, dt),
                    _poisson_rejection(data, lam_rejection, shape, dt))
    return jnp.where(lam == 0, jnp.zeros_like(out), out)


# -- multivariate normal ---------------------------------------------------------------------
def multivariate_normal(key, mean, cov, shape=None, dtype=None, method="cholesky"):
    """Samples of N(mean, cov): ``mean + L @ z`` with ``cov = L L^T``."""
    data, _ = raw("multivariate_normal", key)
    if method not in ("cholesky", "svd", "eigh"):
        raise ValueError(f"multivariate_normal: method must be one of 'cholesky', 'svd', "
                         f"'eigh', got {method!r}")
    dt = float_dtype("multivariate_normal", dtype)
    mean, cov = jnp.asarray(mean).astype(dt), jnp.asarray(cov).astype(dt)
    if mean.ndim < 1:
        raise ValueError(f"multivariate_normal requires mean.ndim >= 1, got {mean.ndim}")
    if cov.ndim < 2:
        raise ValueError(f"multivariate_normal requires cov.ndim >= 2, got {cov.ndim}")
    n = mean.shape[-1]
    if cov.shape[-2:] != (n, n):
        raise ValueError(f"multivariate_normal requires cov.shape == (..., n, n) for n={n}, "
                         f"but got cov.shape == {cov.shape}")
    if shape is None:
        shape = tuple(np.broadcast_shapes(mean.shape[:-1], cov.shape[:-2]))
    else:
        shape = canonical_shape("multivariate_normal", shape)
        check_shape("multivariate_normal", shape, mean.shape[:-1], cov.shape[:-2])
    if method == "svd":
        u, sv, _ = jnp.linalg.svd(cov)
        factor = u * jnp.sqrt(sv[..., None, :])
    elif method == "eigh":
        w, v = jnp.linalg.eigh(cov)
        factor = v * jnp.sqrt(w[..., None, :])
    else:
        factor = jnp.linalg.cholesky(cov)
    z = _normal(data, shape + (n,), dt)
    return mean + jnp.einsum("...ij,...j->...i", factor, z)
