"""The gamma distribution."""

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.scipy.special import xlogy
from funcjax.scipy.stats._common import outside, standardize


def logpdf(x, a, loc=0, scale=1):
    z, log_scale, (a,) = standardize("gamma.logpdf", x, loc, scale, a)
    inside = z >= 0
    zs = jnp.where(inside, z, jnp.ones_like(z))
    value = xlogy(a - 1, zs) - zs - lax.lgamma(a) - log_scale
    return outside(~inside, value)


def pdf(x, a, loc=0, scale=1):
    return jnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0, scale=1):
    z, _, (a,) = standardize("gamma.cdf", x, loc, scale, a)
    return lax.igamma(a, jnp.maximum(z, 0))


def logcdf(x, a, loc=0, scale=1):
    return jnp.log(cdf(x, a, loc, scale))


def sf(x, a, loc=0, scale=1):
    z, _, (a,) = standardize("gamma.sf", x, loc, scale, a)
    return lax.igammac(a, jnp.maximum(z, 0))


def logsf(x, a, loc=0, scale=1):
    return jnp.log(sf(x, a, loc, scale))
