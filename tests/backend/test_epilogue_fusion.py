"""The bias add after a matmul is recomputed by its readers (fusion.RECOMPUTED): the
activation and the backward's mask read ``x @ w + b`` in one pass with no buffer for it, with
the same values as the materialised plan and as numpy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.backend.llvm import fusion, lowering


def _layer_loss(params, x):
    (w1, b1), (w2, b2) = params
    h = jnp.maximum(x @ w1 + b1, 0.0)
    return jnp.sum(jnp.tanh(h @ w2 + b2) ** 2)


def test_bias_and_relu_are_one_pass_after_the_product():
    x, w, b = jnp.ones((16, 8)), jnp.ones((8, 32)), jnp.ones(32)
    closed = jax.make_jaxpr(jax.grad(lambda w: jnp.sum(jnp.maximum(x @ w + b, 0.0) ** 2)))(w)
    text = fusion.groups_text(closed.jaxpr, lowering.rule_of)
    lines = text.splitlines()
    assert "add -> broadcast_in_dim -> max" in text or "add -> max" in text, text
    assert not any(line.rstrip().endswith("broadcast_in_dim -> add") for line in lines), text


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([1, 3, 16, 33]), st.sampled_from([1, 7, 40]), st.sampled_from([1, 5, 64]),
       st.booleans(), st.booleans())
def test_recomputed_equals_materialised(batch, n_in, n_hidden, f64, transposed_x):
    rng = np.random.default_rng(batch * 1000 + n_in * 10 + n_hidden)
    dtype = np.float64 if f64 else np.float32
    params = [(rng.standard_normal((n_in, n_hidden)).astype(dtype) * 0.3,
               rng.standard_normal(n_hidden).astype(dtype)),
              (rng.standard_normal((n_hidden, 3)).astype(dtype) * 0.3,
               rng.standard_normal(3).astype(dtype))]
    x = rng.standard_normal((n_in, batch) if transposed_x else (batch, n_in)).astype(dtype)

    def step(params, x):
        x = x.T if transposed_x else x
        return jax.value_and_grad(_layer_loss)(params, x)
    with jax.enable_x64(f64):
        new = jax.jit(step)(params, x)
        old_set = fusion.RECOMPUTED
        try:
            fusion.RECOMPUTED = frozenset()
            old = jax.jit(lambda p, v: step(p, v))(params, x)
        finally:
            fusion.RECOMPUTED = old_set
    tol = 1e-12 if f64 else 1e-5
    for a, b in zip(jax.tree_util.tree_leaves(new), jax.tree_util.tree_leaves(old)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)
    xv = x.T if transposed_x else x
    (w1, b1), (w2, b2) = params
    h = np.maximum(xv @ w1 + b1, 0)
    np.testing.assert_allclose(float(new[0]), np.sum(np.tanh(h @ w2 + b2) ** 2),
                               rtol=1e-4 if not f64 else 1e-10)


def test_a_bias_add_read_by_two_products_is_computed_once():
    x, w, b = jnp.ones((16, 8)), jnp.ones((8, 32)), jnp.ones(32)

    def f(x, w, b):
        y = x @ w + b
        return y @ w.T, y.T @ x
    closed = jax.make_jaxpr(f)(x, w, b)
    info = fusion.analyse(closed.jaxpr, lowering.rule_of)
    (add,) = [e for e in closed.jaxpr.eqns if e.primitive.name == "add"]
    assert id(add.outputs[0]) in info.materialize
    out = jax.jit(f)(x, w, b)
    y = np.ones((16, 8)) @ np.ones((8, 32)) + 1
    np.testing.assert_allclose(np.asarray(out[0]), y @ np.ones((32, 8)))
    np.testing.assert_allclose(np.asarray(out[1]), y.T @ np.ones((16, 8)))
