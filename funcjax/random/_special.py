"""``erf_inv`` as JAX computes it, for ``normal`` to reproduce JAX's numbers.

``erf_inv`` in float32 is M. Giles' single-precision polynomial ("Approximating the erfinv
function", GPU Computing Gems, 2011), the approximation XLA also uses, so ``normal`` agrees
with JAX to the last bit or two; float64 refines it with Newton steps on ``erf``. Its
derivative is the exact one, ``sqrt(pi)/2 * exp(erf_inv(x)**2)``, not the polynomial's.
(``lax.erf_inv`` is correctly rounded instead, so it differs from JAX's in the last bit.)
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
