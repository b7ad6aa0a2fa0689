"""A weakly typed initial carry takes the type the loop body gives it, strong float32
included (expected weak types obtained by running each case under JAX 0.10.2)."""

import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax

XS = jnp.ones(3)

CASES = [
    ("scan", lambda: lax.scan(lambda c, x: (c + x, c * x), 0.0, XS), [False, False]),
    ("scan_reverse", lambda: lax.scan(lambda c, x: (c + x, c * x), 0.0, XS, reverse=True),
     [False, False]),
    ("scan_weak_body", lambda: lax.scan(lambda c, x: (c + 1.0, c), 0.0, None, length=3),
     [True, True]),
    ("fori", lambda: lax.fori_loop(0, 3, lambda i, c: c + jnp.float32(1), 0.0), [False]),
    ("while", lambda: lax.while_loop(lambda c: c < 3, lambda c: c + jnp.float32(1), 0.0),
     [False]),
    ("fori_jit", lambda: fj.jit(lambda: lax.fori_loop(0, 3, lambda i, c: c + jnp.float32(1),
                                                      0.0))(), [False]),
]


@pytest.mark.parametrize("name,thunk,weak", CASES, ids=[c[0] for c in CASES])
def test_weak_initial_carry_is_promoted(name, thunk, weak):
    assert [bool(x.weak_type) for x in fj.tree_util.tree_leaves(thunk())] == weak
