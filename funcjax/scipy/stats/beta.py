"""The beta distribution (its cdf is the regularized incomplete beta function)."""

import funcjax.numpy as jnp
from funcjax.scipy.special import betainc, betaln, xlog1py, xlogy
from funcjax.scipy.stats._common import outside, standardize


def logpdf(x, a, b, loc=0, scale=1):
    z, log_scale, (a, b) = standardize("beta.logpdf", x, loc, scale, a, b)
    inside = (z >= 0) & (z <= 1)
    zs = jnp.where(inside, z, jnp.full_like(z, 0.5))
    value = xlogy(a - 1, zs) + xlog1py(b - 1, -zs) - betaln(a, b) - log_scale
    return outside(~inside, value)


def pdf(x, a, b, loc=0, scale=1):
    return jnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0, scale=1):
    z, _, (a, b) = standardize("beta.cdf", x, loc, scale, a, b)
    return betainc(a, b, jnp.clip(z, 0, 1))


def logcdf(x, a, b, loc=0, scale=1):
    return jnp.log(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0, scale=1):
    """``1 - cdf`` as ``I_{1-x}(b, a)``, without the cancellation in the upper tail."""
    z, _, (a, b) = standardize("beta.sf", x, loc, scale, a, b)
    return betainc(b, a, jnp.clip(1 - z, 0, 1))


def logsf(x, a, b, loc=0, scale=1):
    return jnp.log(sf(x, a, b, loc, scale))
