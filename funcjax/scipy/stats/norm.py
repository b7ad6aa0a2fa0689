"""The normal distribution."""

import math

import funcjax.numpy as jnp
from funcjax.scipy import special
from funcjax.scipy.stats._common import promote, standardize

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def logpdf(x, loc=0, scale=1):
    z, log_scale, _ = standardize("norm.logpdf", x, loc, scale)
    return -0.5 * z * z - _LOG_SQRT_2PI - log_scale


def pdf(x, loc=0, scale=1):
    return jnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    z, _, _ = standardize("norm.cdf", x, loc, scale)
    return special.ndtr(z)


def logcdf(x, loc=0, scale=1):
    z, _, _ = standardize("norm.logcdf", x, loc, scale)
    return special.log_ndtr(z)


def sf(x, loc=0, scale=1):
    z, _, _ = standardize("norm.sf", x, loc, scale)
    return special.ndtr(-z)


def logsf(x, loc=0, scale=1):
    z, _, _ = standardize("norm.logsf", x, loc, scale)
    return special.log_ndtr(-z)


def ppf(q, loc=0, scale=1):
    q, loc, scale = promote("norm.ppf", q, loc, scale)
    return loc + scale * special.ndtri(q)


def isf(q, loc=0, scale=1):
    q, loc, scale = promote("norm.isf", q, loc, scale)
    return loc - scale * special.ndtri(q)
