"""The Bernoulli distribution."""

import numpy as np

import funcjax.numpy as jnp
from funcjax.scipy.special import xlog1py, xlogy
from funcjax.scipy.stats._common import outside, promote


def logpmf(k, p, loc=0):
    k, p, loc = promote("bernoulli.logpmf", k, p, loc)
    x = k - loc
    valid = (x == 0) | (x == 1)
    return outside(~valid, xlogy(x, p) + xlog1py(1 - x, -p))


def pmf(k, p, loc=0):
    return jnp.exp(logpmf(k, p, loc))


def cdf(k, p):
    k, p = promote("bernoulli.cdf", k, p)
    return jnp.where(k < 0, jnp.zeros_like(p), jnp.where(k >= 1, jnp.ones_like(p), 1 - p))


def ppf(q, p):
    q, p = promote("bernoulli.ppf", q, p)
    inside = (q >= 0) & (q <= 1)
    return jnp.where(inside, jnp.where(q > 1 - p, jnp.ones_like(q), jnp.zeros_like(q)),
                     jnp.full_like(q, np.nan))
