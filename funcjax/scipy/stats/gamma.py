"""The gamma distribution (its cdf needs the incomplete gamma function, not implemented)."""

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
