"""The Poisson distribution."""

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.scipy.special import xlogy
from funcjax.scipy.stats._common import outside, promote


def logpmf(k, mu, loc=0):
    k, mu, loc = promote("poisson.logpmf", k, mu, loc)
    x = k - loc
    valid = (x >= 0) & (x == jnp.floor(x))
    xs = jnp.where(valid, x, jnp.zeros_like(x))
    return outside(~valid, xlogy(xs, mu) - mu - lax.lgamma(xs + 1))


def pmf(k, mu, loc=0):
    return jnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """P(K <= k) = Q(floor(k) + 1, mu); 0 below the support."""
    k, mu, loc = promote("poisson.cdf", k, mu, loc)
    x = jnp.floor(k - loc)
    return jnp.where(x < 0, jnp.zeros_like(x), lax.igammac(jnp.maximum(x, 0) + 1, mu))
