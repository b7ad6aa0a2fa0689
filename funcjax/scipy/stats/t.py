"""Student's t distribution."""


import funcjax.numpy as jnp
from funcjax.scipy.special import betaln
from funcjax.scipy.stats._common import standardize


def logpdf(x, df, loc=0, scale=1):
    z, log_scale, (df,) = standardize("t.logpdf", x, loc, scale, df)
    return (-0.5 * (df + 1) * jnp.log1p(z * z / df) - 0.5 * jnp.log(df) - betaln(0.5 * df, 0.5)
            - log_scale)


def pdf(x, df, loc=0, scale=1):
    return jnp.exp(logpdf(x, df, loc, scale))


