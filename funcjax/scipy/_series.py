"""Special functions defined by series and continued fractions, as compositions of lax ops
(so they batch, fuse and compile with no rules of their own): the regularized incomplete beta
function, the Hurwitz zeta function and polygamma of any order.

``betainc`` evaluates one continued fraction (modified Lentz) on the side of the symmetry
``I_x(a, b) = 1 - I_{1-x}(b, a)`` where it converges fast. Its derivative in ``x`` is the
exact density ``x^(a-1) (1-x)^(b-1) / B(a, b)`` (a custom jvp); in ``a`` and ``b`` it is
the derivative of the continued fraction itself, which converges along with it.
``zeta(s, q)`` is the Euler-Maclaurin sum: ``N`` terms directly, then the integral and
Bernoulli-number corrections.
"""

import math

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.interpreters.jvp import Zero, jvp_flat
from funcjax.numpy._util import promote_args_inexact
from funcjax.ops.custom import custom_jvp

_BETAINC_STEPS = 200  # continued-fraction steps (each two terms): enough for a, b up to ~1e4
_TINY = 1e-30


def _betainc_fraction(a, b, x):
    """``x^a (1-x)^b / (a B(a, b))`` times the continued fraction of ``I_x(a, b)``."""
    one = jnp.ones_like(x)
    tiny = jnp.full_like(x, _TINY)

    def guard(v):
        return jnp.where(jnp.abs(v) < tiny, tiny, v)
    qab, qap, qam = a + b, a + 1, a - 1
    c = one
    d = 1 / guard(1 - qab * x / qap)

    def step(m, carry):
        c, d, h = carry
        m = jnp.asarray(m, x.dtype)
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 / guard(1 + aa * d)
        c = guard(1 + aa / c)
        h = h * d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 / guard(1 + aa * d)
        c = guard(1 + aa / c)
        return c, d, h * d * c
    _, _, h = lax.fori_loop(1, _BETAINC_STEPS + 1, step, (c, d, d))
    log_front = (a * jnp.log(x) + b * jnp.log1p(-x) - lax.lgamma(a) - lax.lgamma(b)
                 + lax.lgamma(a + b) - jnp.log(a))
    return jnp.exp(log_front) * h


def _betainc_value(a, b, x):
    swap = x > (a + 1) / (a + b + 2)
    inside = (x > 0) & (x < 1)
    xs = jnp.where(inside, jnp.where(swap, 1 - x, x), jnp.full_like(x, 0.5))
    value = _betainc_fraction(jnp.where(swap, b, a), jnp.where(swap, a, b), xs)
    value = jnp.where(swap, 1 - value, value)
    value = jnp.where(x <= 0, jnp.zeros_like(x), jnp.where(x >= 1, jnp.ones_like(x), value))
    invalid = (a <= 0) | (b <= 0) | (x < 0) | (x > 1) | jnp.isnan(x)
    return jnp.where(invalid, jnp.full_like(x, math.nan), value)


@custom_jvp
def _betainc(a, b, x):
    return _betainc_value(a, b, x)


@_betainc.defjvp
def _betainc_jvp(primals, tangents):
    a, b, x = primals
    ta, tb, tx = (jnp.zeros_like(x) if type(t) is Zero else t for t in tangents)
    # in a and b: the derivative of the continued fraction itself
    (out,), (t_ab,) = jvp_flat(lambda a, b: [_betainc_value(a, b, x)], (a, b), (ta, tb),
                               "jvp of betainc")
    inside = (x > 0) & (x < 1)
    xs = jnp.where(inside, x, jnp.full_like(x, 0.5))
    density = jnp.exp((a - 1) * jnp.log(xs) + (b - 1) * jnp.log1p(-xs) - lax.lgamma(a)
                      - lax.lgamma(b) + lax.lgamma(a + b))
    return out, t_ab + jnp.where(inside, density, jnp.zeros_like(x)) * tx


def betainc(a, b, x):
    """The regularized incomplete beta function ``I_x(a, b)`` (a, b > 0, 0 <= x <= 1; NaN
    elsewhere), differentiable in all three arguments."""
    a, b, x = promote_args_inexact("betainc", a, b, x)
    a, b, x = jnp.broadcast_arrays(a, b, x)
    return _betainc(a, b, x)


# -- Hurwitz zeta and polygamma ----------------------------------------------------------------
_ZETA_TERMS = 9
# B_2j / (2j)! for j = 1..8: the Euler-Maclaurin correction coefficients.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510)
_EM = tuple(bj / math.factorial(2 * j) for j, bj in enumerate(_BERNOULLI, start=1))


def zeta(x, q=None):
    """The Hurwitz zeta function ``sum_k (q + k)^-x`` (x > 1, q > 0); ``q=None`` gives
    Riemann's zeta."""
    if q is None:
        (x,) = promote_args_inexact("zeta", x)
        q = jnp.ones_like(x)
    else:
        x, q = promote_args_inexact("zeta", x, q)
        x, q = jnp.broadcast_arrays(x, q)
    total = jnp.zeros_like(x)
    for k in range(_ZETA_TERMS):
        total = total + (q + k) ** -x
    w = q + _ZETA_TERMS
    total = total + w ** (1 - x) / (x - 1) + 0.5 * w ** -x
    rising, power = x, w ** (-x - 1)  # x (x+1) ... (x+2j-2) and w^(-x-2j+1)
    for j, coeff in enumerate(_EM, start=1):
        total = total + coeff * rising * power
        rising = rising * (x + 2 * j - 1) * (x + 2 * j)
        power = power / (w * w)
    nan = jnp.full_like(x, math.nan)
    total = jnp.where(x == 1, jnp.full_like(x, math.inf), total)
    return jnp.where((x < 1) | (q <= 0), nan, total)


def polygamma(n, x):
    """The n-th derivative of digamma: ``(-1)^(n+1) n! zeta(n + 1, x)`` for n >= 1."""
    (x,) = promote_args_inexact("polygamma", x)
    try:
        n = int(n)
    except TypeError:
        raise TypeError("polygamma: the order n must be a concrete integer (a Python int), "
                        f"got {n!r}") from None
    if n < 0:
        raise ValueError(f"polygamma: the order n must be >= 0, got {n}")
    if n == 0:
        return lax.digamma(x)
    return (-1) ** (n + 1) * math.factorial(n) * zeta(jnp.full_like(x, n + 1.0), x)
