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
    # The body sees the weak carry (ys = c stays weak); only the carry out is strong.
    ("scan_ys_weak", lambda: lax.scan(lambda c, x: (c + x, c), 0.0, XS), [False, True]),
    # A weak int carry promoted to float becomes a strong float.
    ("while_int_to_float", lambda: lax.while_loop(lambda c: c < 3, lambda c: c + 1.5, 0),
     [False]),
    # The index of a loop over Python int bounds is a weak int.
    ("fori_index", lambda: lax.fori_loop(0, 3, lambda i, c: c + i, 0), [True]),
    ("fori_index_traced", lambda: fj.vmap(lambda n: lax.fori_loop(0, n, lambda i, c: c + i, 0))(
        jnp.array([1, 4, 7])), [True]),
    ("fori_tuple", lambda: lax.fori_loop(0, 5, lambda i, c: (c[0] + i, c[1] * 2.0, c[2]),
                                         (0, 1.0, XS)), [True, True, False]),
    # The gradient with respect to a weak initial carry that comes out strong is strong.
    ("grad_scan_weak_init", lambda: fj.grad(lambda x: lax.scan(lambda c, xi: (c * xi, None), x,
                                                               XS)[0])(1.0), [False]),
    ("grad_scan_stop_gradient", lambda: fj.grad(lambda x: lax.scan(
        lambda c, xi: (lax.stop_gradient(c) * xi + c, None), x, XS)[0])(1.0), [False]),
]


@pytest.mark.parametrize("name,thunk,weak", CASES, ids=[c[0] for c in CASES])
def test_weak_initial_carry_is_promoted(name, thunk, weak):
    assert [bool(x.weak_type) for x in fj.tree_util.tree_leaves(thunk())] == weak
