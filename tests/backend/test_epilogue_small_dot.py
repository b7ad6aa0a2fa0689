"""Small and batched products run as generated loops (backend/llvm/lower_dot.py): the row
order (stack row, inner loop along rhs rows) and the dot-product order equal numpy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import dot_layout


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 3), st.sampled_from([1, 2, 7, 16, 17]), st.sampled_from([1, 3, 8, 33]),
       st.sampled_from([1, 5, 16, 64]), st.booleans(), st.booleans())
def test_batched_small_products(batch, m, k, n, rhs_transposed, f64):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    dtype = np.float64 if f64 else np.float32
    shape_b = (batch,) if batch else ()
    a = rng.standard_normal(shape_b + (m, k)).astype(dtype)
    b = rng.standard_normal(shape_b + ((n, k) if rhs_transposed else (k, n))).astype(dtype)

    def f(a, b):
        return a @ (jnp.swapaxes(b, -1, -2) if rhs_transposed else b)
    with jax.enable_x64(f64):
        out = jax.jit(f)(a, b)
    ref = a @ (np.swapaxes(b, -1, -2) if rhs_transposed else b)
    tol = 1e-12 if f64 else 2e-5
    np.testing.assert_allclose(np.asarray(out), ref, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("blas_min", [1, 10 ** 9])
def test_loops_equal_blas_on_a_batch_of_outer_products(monkeypatch, blas_min):
    monkeypatch.setattr(dot_layout, "BLAS_MIN_CALL_FLOPS", blas_min)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 1, 24)).astype(np.float32)
    b = rng.standard_normal((40, 1, 20)).astype(np.float32)
    out = jax.jit(lambda a, b: lax.dot_general(a, b, (((1,), (1,)), ((0,), (0,)))))(a, b)
    np.testing.assert_allclose(np.asarray(out), np.einsum("bki,bkj->bij", a, b), rtol=1e-6)


def test_lazy_and_strided_operands():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 20, 9)).astype(np.float32)
    b = rng.standard_normal((9, 2 * 13)).astype(np.float32)
    out = jax.jit(lambda a, b: jnp.tanh(a[:, ::2]) @ (b[:, ::2] * 2.0))(a, b)
    np.testing.assert_allclose(np.asarray(out), np.tanh(a[:, ::2]) @ (b[:, ::2] * 2),
                               rtol=1e-5, atol=1e-5)


def test_grads_of_per_example_products_match_finite_differences():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((8, 8)) * 0.3
    xs = rng.standard_normal((5, 8))

    def loss(w, x):
        return jnp.sum(jnp.tanh(x[None] @ w) ** 2)
    with jax.enable_x64(True):
        g = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0)))(w, xs)
        eps = 1e-6
        for i, (r, c) in enumerate([(0, 0), (3, 5), (7, 2)]):
            d = np.zeros_like(w)
            d[r, c] = eps
            fd = (loss(w + d, xs[i]) - loss(w - d, xs[i])) / (2 * eps)
            np.testing.assert_allclose(np.asarray(g)[i, r, c], fd, rtol=1e-6, atol=1e-8)
