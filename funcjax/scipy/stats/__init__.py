"""``funcjax.scipy.stats``: log-densities and distribution functions, one module each."""

from funcjax.scipy.stats import (  # noqa: F401
    bernoulli,
    beta,
    gamma,
    multivariate_normal,
    norm,
    poisson,
    t,
)
