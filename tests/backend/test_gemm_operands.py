"""A gemm operand that is a transpose of a buffer (``x @ w.T``, ``x.T @ g`` in every
gradient) is passed to BLAS in place with its transposed flag, not copied first
(backend/llvm/lower_dot.py): the values equal numpy's, and the compiled module calls gemm
with ``CblasTrans`` and holds no transposing copy."""

import functools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.backend.llvm import blas

pytestmark = pytest.mark.skipif(not blas.available(), reason="no BLAS")

_GEMM_CALL = re.compile(r"call void @\"?scipy_cblas_[sd]gemm64_\"?\(i32 101, i32 (\d+), i32 (\d+)")
_TRANS = "112"


def _gemm_flags(fn, *args):
    """The (transa, transb) flags of every gemm call in ``jit(fn)``'s module."""
    text = jax.jit(fn).lower(*args).as_text("llvm")
    return _GEMM_CALL.findall(text)


# name -> (product written for a numpy-like module, operand shapes, gemm flags expected)
PRODUCTS = {
    "x @ y.T": (lambda xp, x, y: x @ y.T, lambda m, n, k: ((m, k), (n, k)), ("111", _TRANS)),
    "x.T @ y": (lambda xp, x, y: x.T @ y, lambda m, n, k: ((k, m), (k, n)), (_TRANS, "111")),
    "x.T @ y.T": (lambda xp, x, y: x.T @ y.T, lambda m, n, k: ((k, m), (n, k)),
                  (_TRANS, _TRANS)),
    "swapaxes batched": (lambda xp, x, y: x @ xp.swapaxes(y, -1, -2),
                         lambda m, n, k: ((3, m, k), (3, n, k)), ("111", _TRANS)),
}


@pytest.mark.parametrize("name", PRODUCTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_operand_is_passed_in_place(name, dtype):
    product, shapes, flags = PRODUCTS[name]
    fn = functools.partial(product, jnp)
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal(s).astype(dtype) for s in shapes(48, 40, 36))
    with jax.enable_x64(dtype == np.float64):
        calls = _gemm_flags(fn, x, y)
        out = np.asarray(jax.jit(fn)(x, y))
    assert calls and all(tuple(c) == flags for c in calls), calls
    assert out.dtype == dtype
    ref = product(np, x.astype(np.float64), y.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


def test_a_permutation_that_is_no_matrix_transpose_is_still_copied():
    # (k, b, m) -> (b, m, k): the batch axis moves, no gemm flag can express it
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 3, 36)).astype(np.float32)
    y = rng.standard_normal((3, 40, 32)).astype(np.float32)

    def fn(x, y):
        return jnp.transpose(x, (1, 2, 0)) @ y
    calls = _gemm_flags(fn, x, y)
    assert calls and all(tuple(c) == ("111", "111") for c in calls), calls
    out = np.asarray(jax.jit(fn)(x, y))
    np.testing.assert_allclose(out, np.transpose(x, (1, 2, 0)) @ y, rtol=1e-4, atol=1e-4)


def test_layer_gradients_use_no_copies_and_match_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 48)).astype(np.float32)
    w = (rng.standard_normal((48, 40)) * 0.1).astype(np.float32)

    def loss(w, x):
        return jnp.sum(jnp.tanh(x @ w) ** 2)
    grad = jax.grad(loss, argnums=(0, 1))
    calls = _gemm_flags(grad, w, x)
    assert any(_TRANS in c for c in calls), calls
    gw, gx = (np.asarray(g) for g in jax.jit(grad)(w, x))
    h = np.tanh(x.astype(np.float64) @ w)
    d = 2 * h * (1 - h * h)
    np.testing.assert_allclose(gw, x.T @ d, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(gx, d @ w.T, rtol=2e-4, atol=2e-4)
    eps, i, j = 1e-3, 5, 7
    bump = np.zeros_like(w, dtype=np.float64)
    bump[i, j] = eps
    w64 = w.astype(np.float64)
    fd = (np.sum(np.tanh(x @ (w64 + bump)) ** 2)
          - np.sum(np.tanh(x @ (w64 - bump)) ** 2)) / (2 * eps)
    np.testing.assert_allclose(gw[i, j], fd, rtol=2e-3, atol=2e-3)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(24, 70), n=st.integers(24, 70), k=st.integers(24, 70),
       which=st.sampled_from(sorted(PRODUCTS)), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_transposed_products_equal_numpy(m, n, k, which, scale):
    product, shapes, _ = PRODUCTS[which]
    fn = functools.partial(product, jnp)
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    x, y = ((rng.standard_normal(s) * scale).astype(np.float32) for s in shapes(m, n, k))
    out = np.asarray(jax.jit(fn)(x, y))
    ref = product(np, x.astype(np.float64), y.astype(np.float64))
    bound = 1e-5 * k * np.max(np.abs(x)) * np.max(np.abs(y))
    assert np.max(np.abs(out - ref)) <= bound
