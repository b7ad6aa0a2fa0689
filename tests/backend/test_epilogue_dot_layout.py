"""A product read only through a transpose swapping its free axes is computed in that layout
(backend/llvm/dot_layout.py): same values, no transpose left."""

import numpy as np
import pytest

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.backend.llvm import dot_layout


def _names(jaxpr):
    return [e.primitive.name for e in jaxpr.eqns]


@pytest.mark.parametrize("batch", [(), (3,)])
def test_folded_product_equals_numpy(batch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(batch + (40, 33)).astype(np.float32)
    b = rng.standard_normal(batch + (40, 50)).astype(np.float32)

    def f(a, b):
        prod = jnp.einsum("...ki,...kj->...ij", a, b)
        return jnp.swapaxes(prod, -1, -2) * 2.0
    closed = jax.make_jaxpr(f)(a, b)
    folded = dot_layout.fold_transposed_products(closed.jaxpr)
    assert "transpose" in _names(closed.jaxpr) and "transpose" not in _names(folded)
    out = jax.jit(f)(a, b)
    ref = np.swapaxes(np.einsum("...ki,...kj->...ij", a, b), -1, -2) * 2
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5, atol=1e-5)


def test_a_product_read_twice_or_returned_is_kept():
    a, b = jnp.ones((8, 4)), jnp.ones((8, 5))
    for f in (lambda a, b: (a.T @ b).T + (a.T @ b)[0, 0],
              lambda a, b: ((a.T @ b).T, a.T @ b)):
        jaxpr = jax.make_jaxpr(f)(a, b).jaxpr
        folded = dot_layout.fold_transposed_products(jaxpr)
        assert _names(folded).count("dot_general") == _names(jaxpr).count("dot_general")


def test_weight_gradient_of_a_layer():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 48)).astype(np.float32)
    w = rng.standard_normal((48, 40)).astype(np.float32) * 0.1

    def loss(w):
        return jnp.sum(jnp.tanh(x @ w) ** 2)
    g = jax.jit(jax.grad(loss))(w)
    h = np.tanh(x @ w)
    np.testing.assert_allclose(np.asarray(g), x.T @ (2 * h * (1 - h * h)), rtol=2e-4,
                               atol=2e-4)
