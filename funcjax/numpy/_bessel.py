"""Modified Bessel functions of the first kind (exponentially scaled), for ``jnp.i0``, the Kaiser
window and ``funcjax.scipy.special.i0e/i1e``."""

import math

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.numpy._util import promote_args_inexact

__all__ = ["i0"]


def _safe(cond, x, fallback):
    return jnp.where(cond, x, jnp.full_like(x, fallback))


_SERIES_TERMS = 60
_ASYMPTOTIC_FROM = 20.0
_ASYMPTOTIC_TERMS = 12


def _bessel_series(x, nu):
    """e^-|x| I_nu(x) = e^-|x| sum (x/2)^(2k+nu) / (k! (k+nu)!) for |x| below the cut (a
    loop, so jit compiles one small body instead of every term)."""
    half = x / 2
    q = half * half
    first = jnp.ones_like(x) if nu == 0 else half

    def step(k, carry):
        term, total = carry
        kf = lax.convert_element_type(k, x.dtype)
        term = term * q / (kf * (kf + nu))
        return term, total + term
    _, total = lax.fori_loop(1, _SERIES_TERMS, step, (first, first))
    return total * jnp.exp(-jnp.abs(x))


def _bessel_asymptotic(x, nu):
    """e^-x I_nu(x) ~ 1/sqrt(2 pi x) sum_k (-1)^k a_k(nu) / x^k for large x > 0."""
    mu = 4 * nu * nu
    coeff, total, power = 1.0, jnp.ones_like(x), jnp.ones_like(x)
    for k in range(1, _ASYMPTOTIC_TERMS):
        coeff *= -(mu - (2 * k - 1) ** 2) / (k * 8)
        power = power / x
        total = total + coeff * power
    return total / jnp.sqrt(2 * math.pi * x)


def scaled_bessel(name, x, nu):
    """``exp(-|x|) I_nu(x)`` for nu = 0 or 1: the power series below the cut, the asymptotic
    series above."""
    (x,) = promote_args_inexact(name, x)
    big = jnp.abs(x) > _ASYMPTOTIC_FROM
    small_x = _safe(~big, x, 1.0)
    big_x = jnp.abs(_safe(big, x, 2 * _ASYMPTOTIC_FROM))
    far = _bessel_asymptotic(big_x, nu)
    if nu == 1:
        far = jnp.sign(x) * far
    return jnp.where(big, far, _bessel_series(small_x, nu))




def i0(x):
    """The modified Bessel function I0 (``exp(|x|) * i0e(x)``)."""
    (x,) = promote_args_inexact("i0", x)
    return jnp.exp(jnp.abs(x)) * scaled_bessel("i0", x, 0)
