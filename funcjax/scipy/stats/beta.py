"""The beta distribution (its cdf needs the incomplete beta function, not implemented)."""

import funcjax.numpy as jnp
from funcjax.scipy.special import betaln, xlog1py, xlogy
from funcjax.scipy.stats._common import outside, standardize


def logpdf(x, a, b, loc=0, scale=1):
    z, log_scale, (a, b) = standardize("beta.logpdf", x, loc, scale, a, b)
    inside = (z >= 0) & (z <= 1)
    zs = jnp.where(inside, z, jnp.full_like(z, 0.5))
    value = xlogy(a - 1, zs) + xlog1py(b - 1, -zs) - betaln(a, b) - log_scale
    return outside(~inside, value)


def pdf(x, a, b, loc=0, scale=1):
    return jnp.exp(logpdf(x, a, b, loc, scale))
