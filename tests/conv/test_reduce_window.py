"""reduce_window (pooling) against explicit windows, max-pool's gradient going to the first
maximum of each window, transformations, and the error for windows larger than the input."""

import numpy as np
import pytest
from conv_reference import pool
from hypothesis import given
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

REDUCTIONS = {"max": (lax.max, -np.inf, np.max), "min": (lax.min, np.inf, np.min),
              "add": (lax.add, 0.0, np.sum)}


@st.composite
def pooling(draw):
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(ndim)]
    window = [draw(st.integers(1, n)) for n in shape]
    strides = [draw(st.integers(1, 3)) for _ in range(ndim)]
    padding = [(draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(ndim)]
    x = np.random.default_rng(draw(st.integers(0, 999))).standard_normal(shape)
    return x.astype(np.float32), window, strides, padding


@pytest.mark.parametrize("kind", sorted(REDUCTIONS))
@given(problem=pooling())
def test_matches_explicit_windows_eager_and_jit(kind, problem):
    x, window, strides, padding = problem
    op, init, ref = REDUCTIONS[kind]

    def f(x):
        return lax.reduce_window(x, init, op, window, strides, padding)
    expected = pool(x, window, strides, padding, ref, init)
    np.testing.assert_allclose(np.asarray(f(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(funcjax.jit(f)(x)), expected, rtol=1e-5, atol=1e-5)
    batched = funcjax.vmap(f)(np.stack([x, -x]))
    np.testing.assert_allclose(np.asarray(batched[1]),
                               pool(-x, window, strides, padding, ref, init), rtol=1e-5,
                               atol=1e-5)


def test_generic_computation_and_dilations():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4) / 7
    out = lax.reduce_window(x, 1.0, lax.mul, (2, 2), (1, 1), "VALID")
    expected = np.array([[x[i:i + 2, j:j + 2].prod() for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
    dil = lax.reduce_window(x, 0.0, lax.add, (2, 2), (1, 1), "VALID", window_dilation=(2, 1))
    np.testing.assert_allclose(np.asarray(dil), [[x[0, j] + x[2, j] + x[0, j + 1] + x[2, j + 1]
                                                  for j in range(3)]], rtol=1e-6)
    base = lax.reduce_window(np.array([1.0, 2.0, 3.0]), 0.0, lax.add, (2,), (1,), "VALID",
                             base_dilation=(2,))
    np.testing.assert_allclose(np.asarray(base), [1, 2, 2, 3])  # [1, 0, 2, 0, 3] pairwise


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 5.0, 5.0]], np.float32)

    def f(x):
        return lax.reduce_window(x, -np.inf, lax.max, (2, 2), (2, 2), "VALID").sum()
    expected = np.array([[0, 1, 0, 0], [0, 0, 1, 0]], np.float32)
    np.testing.assert_array_equal(np.asarray(funcjax.grad(f)(x)), expected)
    np.testing.assert_array_equal(np.asarray(funcjax.jit(funcjax.grad(f))(x)), expected)


@given(problem=pooling())
def test_sum_pool_gradient_against_finite_differences(x64, problem):
    x, window, strides, padding = problem
    x = x.astype(np.float64)
    t = np.random.default_rng(1).standard_normal(x.shape)

    def f(x):
        return lax.reduce_window(x, 0.0, lax.add, window, strides, padding)
    _, tangent = funcjax.jvp(f, (x,), (t,))
    expected = pool(t, window, strides, padding, np.sum, 0.0)  # linear: J t = f(t)
    np.testing.assert_allclose(np.asarray(tangent), expected, rtol=1e-10, atol=1e-12)
    ct = np.random.default_rng(2).standard_normal(np.shape(tangent))
    (back,) = funcjax.vjp(f, x)[1](ct)
    np.testing.assert_allclose(np.vdot(np.asarray(tangent), ct), np.vdot(t, np.asarray(back)),
                               rtol=1e-10)


def test_window_larger_than_the_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"window \(5, 5\).*shape \(3, 3\)"):
        lax.reduce_window(jnp.ones((3, 3)), -np.inf, lax.max, (5, 5), (1, 1), "VALID")
    with pytest.raises(ValueError, match="window_dimensions"):
        lax.reduce_window(jnp.ones((3, 3)), 0.0, lax.add, (2,), (1, 1), "VALID")
