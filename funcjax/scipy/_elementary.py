"""scipy.special functions built from log-gamma and logarithms: factorials and binomial
coefficients, the Pochhammer symbol, the sign of Gamma, entropy terms, Box-Cox transforms
and the Bernoulli numbers."""

import fractions
import math

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.numpy._util import promote_args_inexact


def gammasgn(x):
    """The sign of Gamma(x): -1 where floor(x) is odd and negative, NaN at the negative poles
    (1 at 0, as scipy)."""
    (x,) = promote_args_inexact("gammasgn", x)
    odd = (x < 0) & (jnp.floor(x) % 2 == 1)
    sign = jnp.where(odd, -jnp.ones_like(x), jnp.ones_like(x))
    return jnp.where((x < 0) & (jnp.floor(x) == x), jnp.full_like(x, math.nan), sign)


def loggamma(x):
    """log Gamma(x) for real x > 0 (NaN for x <= 0, where Gamma's log is complex)."""
    (x,) = promote_args_inexact("loggamma", x)
    return jnp.where(x > 0, lax.lgamma(x), jnp.full_like(x, math.nan))


def factorial(n, exact=False):
    """``Gamma(n + 1)`` (0 for n < 0)."""
    if exact:
        raise NotImplementedError("factorial: exact=True needs Python integers; use "
                                  "math.factorial, or exact=False")
    (n,) = promote_args_inexact("factorial", n)
    return jnp.where(n < 0, jnp.zeros_like(n), jnp.exp(lax.lgamma(n + 1)))


def comb(N, k, *, repetition=False):  # noqa: N803 - scipy's argument name
    """The binomial coefficient N choose k (with repetition: N + k - 1 choose k); 0 outside
    0 <= k <= N."""
    N, k = promote_args_inexact("comb", N, k)
    if repetition:
        N = N + k - 1
    valid = (k >= 0) & (k <= N) & (N >= 0)
    value = jnp.exp(lax.lgamma(N + 1) - lax.lgamma(k + 1) - lax.lgamma(N - k + 1))
    return jnp.where(valid, value, jnp.zeros_like(value))


def poch(z, m):
    """The rising factorial Gamma(z + m) / Gamma(z)."""
    z, m = promote_args_inexact("poch", z, m)
    magnitude = jnp.exp(lax.lgamma(z + m) - lax.lgamma(z))
    return jnp.where(m == 0, jnp.ones_like(magnitude),
                     gammasgn(z + m) * gammasgn(z) * magnitude)


def _entropy_term(name, x, y, tail):
    x, y = promote_args_inexact(name, x, y)
    both = (x > 0) & (y > 0)
    xs, ys = jnp.where(both, x, jnp.ones_like(x)), jnp.where(both, y, jnp.ones_like(y))
    inf = jnp.full_like(x + y, math.inf)
    zero_x = jnp.where((x == 0) & (y >= 0), tail(y), inf)
    return jnp.where(both, xs * jnp.log(xs / ys) - tail(xs) + tail(ys), zero_x)


def rel_entr(x, y):
    """``x log(x / y)`` for x, y > 0; 0 for x = 0 and y >= 0; inf otherwise."""
    return _entropy_term("rel_entr", x, y, jnp.zeros_like)


def kl_div(x, y):
    """``x log(x / y) - x + y`` for x, y > 0; y for x = 0 and y >= 0; inf otherwise."""
    return _entropy_term("kl_div", x, y, lambda v: v)


def boxcox(x, lmbda):
    """``(x^lmbda - 1) / lmbda``, ``log x`` for lmbda = 0."""
    x, lmbda = promote_args_inexact("boxcox", x, lmbda)
    return _boxcox(jnp.log(x), lmbda)


def boxcox1p(x, lmbda):
    """``((1 + x)^lmbda - 1) / lmbda``, ``log1p x`` for lmbda = 0."""
    x, lmbda = promote_args_inexact("boxcox1p", x, lmbda)
    return _boxcox(jnp.log1p(x), lmbda)


def _boxcox(log_x, lmbda):
    zero = lmbda == 0
    safe = jnp.where(zero, jnp.ones_like(lmbda), lmbda)
    return jnp.where(zero, log_x + jnp.zeros_like(lmbda), jnp.expm1(safe * log_x) / safe)


def bernoulli(n):
    """The Bernoulli numbers B_0 ... B_n (B_1 = -1/2), computed exactly and rounded."""
    try:
        n = int(n)
    except TypeError:
        raise TypeError(f"bernoulli: n must be a concrete integer, got {n!r}") from None
    if n < 0:
        raise ValueError(f"bernoulli: n must be >= 0, got {n}")
    numbers = []
    for m in range(n + 1):  # sum_k C(m+1, k) B_k = 0 for m >= 1
        total = sum(math.comb(m + 1, k) * b for k, b in enumerate(numbers))
        numbers.append(fractions.Fraction(1) if m == 0 else -total / (m + 1))
    return jnp.asarray(np.array([float(b) for b in numbers]))


_ERFCX_TERMS = 10


def erfcx(x):
    """The scaled complementary error function ``exp(x^2) erfc(x)``: directly below a
    threshold (12 in float64, 5 in float32, where exp(x^2) still fits), beyond by the
    asymptotic series ``1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k``; negative x by
    ``2 exp(x^2) - erfcx(-x)``."""
    (x,) = promote_args_inexact("erfcx", x)
    cut = 12.0 if np.dtype(x.dtype) == np.float64 else 5.0
    a = jnp.abs(x)
    near = jnp.minimum(a, cut)
    direct = jnp.exp(near * near) * lax.erfc(near)
    far = jnp.maximum(a, cut)
    u = 1 / (2 * far * far)
    series = jnp.ones_like(far)
    for k in range(_ERFCX_TERMS, 0, -1):
        series = 1 - (2 * k - 1) * u * series
    tail = series / (far * math.sqrt(math.pi))
    positive = jnp.where(a < cut, direct, tail)
    return jnp.where(x < 0, 2 * jnp.exp(x * x) - positive, positive)
