"""Special functions the samplers need, composed from primitives: ``erf_inv`` and ``lgamma``.

``erf_inv`` in float32 is M. Giles' single-precision polynomial ("Approximating the erfinv
function", GPU Computing Gems, 2011), the approximation XLA also uses, so ``normal`` agrees
with JAX to the last bit or two; float64 refines it with Newton steps on ``erf``. Its
derivative is the exact one, ``sqrt(pi)/2 * exp(erf_inv(x)**2)``, not the polynomial's.
"""

import math

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.ops.custom import custom_jvp

_SMALL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
          -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_LARGE = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
          -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(coeffs, w):
    p = jnp.full_like(w, coeffs[0])
    for c in coeffs[1:]:
        p = c + p * w
    return p


def _erf_inv_f32(x):
    w = -jnp.log1p(-x * x)
    small = w < 5.0
    p = jnp.where(small, _horner(_SMALL, w - 2.5),
                  _horner(_LARGE, jnp.sqrt(jnp.maximum(w, 5.0)) - 3.0))
    return jnp.where(jnp.abs(x) == 1.0, x * np.inf, p * x)


@custom_jvp
def erf_inv(x):
    """The inverse of ``erf`` on (-1, 1); +-inf at +-1, NaN outside."""
    x = jnp.asarray(x)
    if x.dtype == np.float64:
        y = _erf_inv_f32(x.astype(np.float32)).astype(np.float64)
        for _ in range(2):  # Newton: y -= (erf(y) - x) / erf'(y)
            step = (lax.erf(y) - x) * (math.sqrt(math.pi) / 2) * jnp.exp(y * y)
            y = jnp.where(jnp.isfinite(y), y - step, y)
        return y
    if x.dtype == np.float16:
        return _erf_inv_f32(x.astype(np.float32)).astype(np.float16)
    return _erf_inv_f32(x)


@erf_inv.defjvp
def _erf_inv_jvp(primals, tangents):
    y = erf_inv(primals[0])
    return y, tangents[0] * (math.sqrt(math.pi) / 2) * jnp.exp(y * y)


# Lanczos approximation, g = 7, n = 9 (Numerical Recipes / Boost "lanczos9" style constants).
_LANCZOS_G = 7.0
_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012,
            9.9843695780195716e-6, 1.5056327351493116e-7)


def lgamma(x):
    """``log|Gamma(x)|`` for ``x > 0`` (the samplers only need positive arguments)."""
    x = jnp.asarray(x)
    z = x - 1.0
    acc = jnp.full_like(z, _LANCZOS[0])
    for k, c in enumerate(_LANCZOS[1:], start=1):
        acc = acc + c / (z + float(k))
    t = z + _LANCZOS_G + 0.5
    return (0.5 * math.log(2 * math.pi) + (z + 0.5) * jnp.log(t) - t + jnp.log(acc))
