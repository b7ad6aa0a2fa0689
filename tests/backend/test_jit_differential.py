"""Regressions found by differential testing of jit against eager, numpy and JAX 0.10.2.

Each test compiles once and checks several corner cases of one kind together."""

import numpy as np

import funcjax
import funcjax.numpy as jnp

from .helpers import assert_matches


def test_zero_size_operands():
    """Concatenating only empty parts, then consuming the empty result lazily (its loads are
    emitted although they never run)."""
    def f(a):
        both = jnp.concatenate([a, a])
        return both + 1, jnp.concatenate([a, a], 1).sum(0), jnp.concatenate([a[:, :0]] * 2, 1)

    a = np.zeros((0, 3), np.float32)
    for got, want in zip(funcjax.jit(f)(a), f(a)):
        assert_matches(got, want)
