"""``funcjax.scipy.special``: special functions written for stable values and derivatives.

Branches use ``where`` with both sides finite (``_safe``), so autodiff through the branch
not taken never meets an infinity or a NaN.
"""

import math

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.nn import log_softmax, logsumexp, softmax  # noqa: F401  (JAX exports them here)
from funcjax.numpy import _bessel
from funcjax.numpy._util import promote_args_inexact
from funcjax.scipy._elementary import (  # noqa: F401
    bernoulli,
    boxcox,
    boxcox1p,
    comb,
    erfcx,
    factorial,
    gammasgn,
    kl_div,
    loggamma,
    poch,
    rel_entr,
)
from funcjax.scipy._series import betainc, polygamma, zeta  # noqa: F401

__all__ = ["erf", "erfc", "erfinv", "gammaln", "digamma", "betaln", "logsumexp", "xlogy",
           "xlog1py", "expit", "logit", "ndtr", "ndtri", "log_ndtr", "i0e", "i1e", "i0", "i1",
           "gamma", "beta", "entr", "polygamma", "multigammaln", "gammainc", "gammaincc",
           "betainc", "zeta", "gammasgn", "loggamma", "factorial", "comb", "poch", "rel_entr",
           "kl_div", "boxcox", "boxcox1p", "bernoulli", "softmax", "log_softmax", "erfcx"]


def _float(name, *xs):
    return promote_args_inexact(name, *xs)


def erf(x):
    (x,) = _float("erf", x)
    return lax.erf(x)


def erfc(x):
    (x,) = _float("erfc", x)
    return lax.erfc(x)


def erfinv(x):
    (x,) = _float("erfinv", x)
    return lax.erf_inv(x)


def gammaln(x):
    (x,) = _float("gammaln", x)
    return lax.lgamma(x)


def gamma(x):
    """Gamma(x) with its sign (lgamma is log|Gamma|)."""
    (x,) = _float("gamma", x)
    negative_odd = (x < 0) & (jnp.floor(x) % 2 == 1)
    value = jnp.exp(lax.lgamma(x))
    return jnp.where(negative_odd, -value, value)


def digamma(x):
    (x,) = _float("digamma", x)
    return lax.digamma(x)


def gammainc(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    a, x = _float("gammainc", a, x)
    return lax.igamma(a, x)


def gammaincc(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)."""
    a, x = _float("gammaincc", a, x)
    return lax.igammac(a, x)


def betaln(a, b):
    a, b = _float("betaln", a, b)
    return lax.lgamma(a) + lax.lgamma(b) - lax.lgamma(a + b)


def beta(a, b):
    return jnp.exp(betaln(a, b))


def multigammaln(a, d):
    (a,) = _float("multigammaln", a)
    d = int(d)
    terms = sum(lax.lgamma(a - 0.5 * j) for j in range(d))
    return terms + 0.25 * d * (d - 1) * math.log(math.pi)


def _safe(cond, x, fallback):
    """``x`` where ``cond`` holds, else the harmless constant ``fallback``."""
    return jnp.where(cond, x, jnp.full_like(x, fallback))


def xlogy(x, y):
    """``x * log(y)``, 0 where x == 0 (even if y == 0)."""
    x, y = _float("xlogy", x, y)
    zero = x == 0
    return jnp.where(zero, jnp.zeros_like(x * y), x * jnp.log(_safe(~zero, y, 1.0)))


def xlog1py(x, y):
    """``x * log1p(y)``, 0 where x == 0."""
    x, y = _float("xlog1py", x, y)
    zero = x == 0
    return jnp.where(zero, jnp.zeros_like(x * y), x * jnp.log1p(_safe(~zero, y, 0.0)))


def entr(x):
    (x,) = _float("entr", x)
    positive = x > 0
    value = -x * jnp.log(_safe(positive, x, 1.0))
    return jnp.where(positive, value, jnp.where(x == 0, jnp.zeros_like(x),
                                                jnp.full_like(x, -np.inf)))


def expit(x):
    (x,) = _float("expit", x)
    return lax.logistic(x)


def logit(x):
    (x,) = _float("logit", x)
    return jnp.log(x / (1 - x))


def ndtr(x):
    """The standard normal CDF, ``erfc(-x / sqrt 2) / 2`` (accurate in the lower tail)."""
    (x,) = _float("ndtr", x)
    return 0.5 * lax.erfc(x * -(1 / math.sqrt(2)))


def ndtri(p):
    """The inverse of ndtr: ``sqrt 2 * erfinv(2p - 1)``."""
    (p,) = _float("ndtri", p)
    return math.sqrt(2) * lax.erf_inv(2 * p - 1)


_TAIL_TERMS = 12
_TAIL = -10.0  # below, log(ndtr) by its asymptotic series (ndtr underflows in float32 by -14)


def log_ndtr(x):
    """``log(ndtr(x))`` without underflow in the lower tail or rounding in the upper one."""
    (x,) = _float("log_ndtr", x)
    lower = x < _TAIL
    upper = x > 5.0
    middle = jnp.log(ndtr(_safe(~lower, x, 0.0)))
    high = jnp.log1p(-ndtr(-_safe(upper, x, 6.0)))
    z = _safe(lower, x, _TAIL - 1)
    inv2 = 1 / (z * z)
    # 1 - 1/z^2 + 3/z^4 - 15/z^6 + ...: the k-th coefficient is (-1)^k (2k - 1)!!
    series, coeff = jnp.ones_like(z), 1.0
    for k in range(_TAIL_TERMS, 0, -1):
        coeff = -(2 * k - 1)
        series = 1 + coeff * inv2 * series
    tail = -0.5 * z * z - jnp.log(-z) - 0.5 * math.log(2 * math.pi) + jnp.log(series)
    return jnp.where(lower, tail, jnp.where(upper, high, middle))


def i0e(x):
    """``exp(-|x|) * I0(x)``."""
    return _bessel.scaled_bessel("i0e", x, 0)


def i1e(x):
    """``exp(-|x|) * I1(x)``."""
    return _bessel.scaled_bessel("i1e", x, 1)


def i0(x):
    return _bessel.i0(x)


def i1(x):
    (x,) = _float("i1", x)
    return jnp.exp(jnp.abs(x)) * i1e(x)
