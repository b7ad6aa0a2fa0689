"""Shared pieces of the distributions: promotion and the location-scale change of variable."""

import numpy as np

import funcjax.numpy as jnp
from funcjax.numpy._util import promote_args_inexact


def promote(name, *args):
    return promote_args_inexact(name, *args)


def standardize(name, x, loc, scale, *rest):
    """``(x - loc) / scale`` and the log-Jacobian ``log scale``, with the other arguments
    promoted and broadcast alongside."""
    x, loc, scale, *rest = promote(name, x, loc, scale, *rest)
    return (x - loc) / scale, jnp.log(scale), rest


def outside(mask, value):
    """``value`` with -inf where ``mask`` (outside the support)."""
    return jnp.where(mask, jnp.full_like(value, -np.inf), value)
