"""Special functions: ``erf_inv``, ``erfc``, ``lgamma`` and ``digamma`` are primitives (libm
has erfc and lgamma; erf_inv is a polynomial start refined by Newton steps on erf; digamma is
a shift up by the recurrence, then the asymptotic series, with the reflection formula for
negative arguments). ``trigamma`` (digamma's derivative) and the incomplete gamma functions
are compositions of primitives, so they differentiate, batch and fuse with no rules of their
own.

Eager values are computed in float64 and rounded, as ``erf`` is; the lowering does the same.
"""

import math

import numpy as np

from funcjax.interpreters.jvp import defjvp, defjvp2
from funcjax.ops.elementwise import elementwise
from funcjax.ops.lazy import lax
from funcjax.ops.typing import FLOAT

# Giles (2010), "Approximating the erfinv function": single-precision polynomials in
# w = -log(1 - x^2), for w < 5 (in w - 2.5) and beyond (in sqrt(w) - 3), highest power first.
ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
NEWTON_STEPS = 2  # each squares the relative error of the 1e-7 start: float64-exact after two
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)

_erf64 = np.vectorize(math.erf, otypes=[np.float64])
_erfc64 = np.vectorize(math.erfc, otypes=[np.float64])


def _lgamma64(x):
    def one(v):
        try:
            return math.lgamma(v)
        except ValueError:  # the poles 0, -1, -2, ...
            return math.inf
    return np.vectorize(one, otypes=[np.float64])(x)


def _horner(coeffs, w):
    p = np.full_like(w, coeffs[0])
    for c in coeffs[1:]:
        p = p * w + c
    return p


def _erf_inv(x):
    y = x.astype(np.float64)
    with np.errstate(all="ignore"):
        w = -np.log((1 - y) * (1 + y))
        z = np.where(w < 5, _horner(ERFINV_CENTRAL, w - 2.5),
                     _horner(ERFINV_TAIL, np.sqrt(w) - 3)) * y
        for _ in range(NEWTON_STEPS):
            z = z - (_erf64(z) - y) / (TWO_OVER_SQRT_PI * np.exp(-z * z))
        z = np.where(np.abs(y) == 1, np.copysign(np.inf, y), z)
        z = np.where(np.abs(y) > 1, np.nan, z)
    return z.astype(x.dtype)


erf_inv_p = elementwise("erf_inv", _erf_inv, FLOAT, transcendental=True)
defjvp2(erf_inv_p, lambda t, ans, x: lax.mul(t, lax.mul(math.sqrt(math.pi) / 2,
                                                          lax.exp(lax.mul(ans, ans)))))
erfc_p = elementwise("erfc", lambda x: _erfc64(x).astype(x.dtype), FLOAT, transcendental=True)
defjvp(erfc_p, lambda t, x: lax.mul(t, lax.mul(-TWO_OVER_SQRT_PI,
                                                lax.exp(lax.neg(lax.mul(x, x))))))
lgamma_p = elementwise("lgamma", lambda x: _lgamma64(x).astype(x.dtype), FLOAT,
                       transcendental=True)
defjvp(lgamma_p, lambda t, x: lax.mul(t, digamma(x)))

# -- digamma (a primitive) and trigamma (its derivative, a composition) ------------------------
_SHIFT = 6  # psi(x) = psi(x + 6) - sum 1/(x + k): the series is float64-accurate from 6 on
# Asymptotic series: psi(z) ~ log z - 1/(2z) - sum B_2k / (2k z^2k), in 1/z^2, lowest first.
_PSI_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
# psi'(z) ~ 1/z + 1/(2z^2) + sum B_2k / z^(2k+1)
_TRIGAMMA_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _const(x, value):
    return lax.full(x.shape, value, x.dtype)


def _poly(coeffs, u):
    acc = _const(u, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = lax.add(lax.mul(acc, u), c)
    return acc


def _shifted(x):
    """x + 6 where x < 6 (else x), and the list of the x + k skipped."""
    small = lax.lt(x, _const(x, float(_SHIFT)))
    steps = [lax.add(x, float(k)) for k in range(_SHIFT)]
    return lax.select(small, lax.add(x, float(_SHIFT)), x), small, steps


def _digamma(x):
    """psi(x) = d/dx log Gamma(x) in float64; negative x by reflection psi(1-x) - pi / tan(pi x),
    NaN at the poles 0, -1, -2, ... (as JAX)."""
    y = x.astype(np.float64)
    with np.errstate(all="ignore"):
        r = np.where(y < 0, 1 - y, y)
        small = r < _SHIFT
        skipped = sum(1 / (r + k) for k in range(_SHIFT))
        z = np.where(small, r + _SHIFT, r)
        inv2 = 1 / (z * z)
        series = np.log(z) - 0.5 / z - inv2 * _horner(_PSI_SERIES[::-1], inv2)
        psi = series - np.where(small, skipped, 0.0)
        psi = np.where(y < 0, psi - math.pi / np.tan(math.pi * y), psi)
        psi = np.where((y <= 0) & (np.floor(y) == y), np.nan, psi)
    return psi.astype(x.dtype)


digamma_p = elementwise("digamma", _digamma, FLOAT, transcendental=True)
defjvp(digamma_p, lambda t, x: lax.mul(t, trigamma(x)))
digamma = digamma_p.bind


def trigamma(x):
    """psi'(x); negative x by reflection pi^2 / sin^2(pi x) - psi'(1-x)."""
    negative = lax.lt(x, _const(x, 0.0))
    r = lax.select(negative, lax.sub(1.0, x), x)
    z, small, steps = _shifted(r)
    inv = lax.integer_pow(z, -1)
    inv2 = lax.mul(inv, inv)
    series = lax.add(lax.add(inv, lax.mul(0.5, inv2)),
                     lax.mul(lax.mul(inv2, inv), _poly(_TRIGAMMA_SERIES, inv2)))
    skipped = _const(x, 0.0)
    for s in steps:
        skipped = lax.add(skipped, lax.integer_pow(s, -2))
    pos = lax.add(series, lax.select(small, skipped, _const(x, 0.0)))
    sin = lax.sin(lax.mul(math.pi, x))
    return lax.select(negative, lax.sub(lax.div(math.pi ** 2, lax.mul(sin, sin)), pos), pos)


# -- regularized incomplete gamma functions (compositions with fixed-length loops) -------------
_IGAMMA_TERMS = 200


def _igamma_series(a, x):
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n)), for x < a + 1."""
    def step(n, carry):
        term, total = carry
        nf = lax.broadcast_in_dim(lax.convert_element_type(n, a.dtype), a.shape, ())
        term = lax.mul(term, lax.div(x, lax.add(a, nf)))
        return term, lax.add(total, term)
    one = _const(a, 1.0)
    _, total = lax.fori_loop(1, _IGAMMA_TERMS, step, (one, one))
    log_prefix = lax.sub(lax.sub(lax.mul(a, lax.log(x)), x), lax.lgamma(lax.add(a, 1.0)))
    return lax.mul(lax.exp(log_prefix), total)


def _igammac_fraction(a, x):
    """Q(a, x) by the continued fraction of x^a e^-x / Gamma(a) (modified Lentz), x >= a + 1."""
    tiny = _const(x, 1e-30)
    b = lax.sub(lax.add(x, 1.0), a)
    c = lax.div(_const(x, 1.0), tiny)
    d = lax.div(_const(x, 1.0), b)

    def step(i, carry):
        b, c, d, h = carry
        fi = lax.broadcast_in_dim(lax.convert_element_type(i, x.dtype), x.shape, ())
        an = lax.mul(lax.neg(fi), lax.sub(fi, a))
        b = lax.add(b, 2.0)
        d = lax.add(lax.mul(an, d), b)
        d = lax.div(_const(x, 1.0), lax.select(lax.lt(lax.abs(d), tiny), tiny, d))
        c = lax.add(b, lax.div(an, c))
        c = lax.select(lax.lt(lax.abs(c), tiny), tiny, c)
        return b, c, d, lax.mul(h, lax.mul(d, c))
    _, _, _, h = lax.fori_loop(1, _IGAMMA_TERMS, step, (b, c, d, d))
    log_prefix = lax.sub(lax.sub(lax.mul(a, lax.log(x)), x), lax.lgamma(a))
    return lax.mul(lax.exp(log_prefix), h)


def igamma(a, x):
    """The regularized lower incomplete gamma function P(a, x) (a > 0, x >= 0)."""
    use_series = lax.lt(x, lax.add(a, 1.0))
    safe_x = lax.select(lax.gt(x, _const(x, 0.0)), x, _const(x, 1.0))
    series = _igamma_series(a, lax.select(use_series, safe_x, _const(x, 0.5)))
    fraction = _igammac_fraction(a, lax.select(use_series, lax.add(a, 1.0), safe_x))
    p = lax.select(use_series, series, lax.sub(1.0, fraction))
    p = lax.select(lax.eq(x, _const(x, 0.0)), _const(x, 0.0), p)
    invalid = lax.bitwise_or(lax.le(a, _const(a, 0.0)), lax.lt(x, _const(x, 0.0)))
    return lax.select(invalid, _const(x, math.nan), p)


def igammac(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), computed
    without the cancellation for large x."""
    use_series = lax.lt(x, lax.add(a, 1.0))
    safe_x = lax.select(lax.gt(x, _const(x, 0.0)), x, _const(x, 1.0))
    series = _igamma_series(a, lax.select(use_series, safe_x, _const(x, 0.5)))
    fraction = _igammac_fraction(a, lax.select(use_series, lax.add(a, 1.0), safe_x))
    q = lax.select(use_series, lax.sub(1.0, series), fraction)
    q = lax.select(lax.eq(x, _const(x, 0.0)), _const(x, 1.0), q)
    invalid = lax.bitwise_or(lax.le(a, _const(a, 0.0)), lax.lt(x, _const(x, 0.0)))
    return lax.select(invalid, _const(x, math.nan), q)
