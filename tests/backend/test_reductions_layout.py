"""Reductions over any axis (rows accumulated along contiguous memory, blocked float sums,
vectorised max/min) against numpy, including NaN propagation and float32 accuracy."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp

SHAPE = (5, 6, 7)
AXES = [0, 1, 2, (0, 1), (0, 2), (1, 2), (0, 1, 2)]
REDUCTIONS = {"sum": (jnp.sum, np.sum), "max": (jnp.max, np.max), "min": (jnp.min, np.min),
              "prod": (jnp.prod, np.prod)}


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_float_reductions_over_any_axes_match_numpy(name, axis):
    ours, theirs = REDUCTIONS[name]
    x = np.random.default_rng(3).uniform(0.5, 1.5, SHAPE).astype(np.float32)
    x[1, 2, 3] = np.nan if name in ("max", "min") else x[1, 2, 3]
    got = funcjax.jit(lambda v: ours(v, axis=axis))(x)
    np.testing.assert_allclose(got, theirs(x, axis=axis), rtol=2e-6)


@pytest.mark.parametrize("axis", [0, 1, (0, 2)])
def test_integer_and_boolean_reductions_over_leading_axes_match_numpy(axis):
    x = np.random.default_rng(4).integers(-50, 50, SHAPE).astype(np.int32)
    f = funcjax.jit(lambda v: (jnp.sum(v, axis=axis), jnp.max(v, axis=axis),
                               jnp.any(v > 40, axis=axis), jnp.all(v > -45, axis=axis)))
    for got, want in zip(f(x), (np.sum(x, axis=axis), np.max(x, axis=axis),
                                np.any(x > 40, axis=axis), np.all(x > -45, axis=axis))):
        np.testing.assert_array_equal(got, want)


def test_float16_leading_axis_sum_rounds_once_from_float32():
    x = np.random.default_rng(5).uniform(-1, 1, (64, 3)).astype(np.float16)
    want = x.astype(np.float32).sum(axis=0).astype(np.float16)
    np.testing.assert_allclose(funcjax.jit(lambda v: jnp.sum(v, axis=0))(x), want,
                               rtol=1e-3, atol=1e-3)


def test_a_long_float32_sum_is_as_accurate_as_numpys():
    x = np.random.default_rng(6).random(2 ** 20 + 3).astype(np.float32)
    exact = np.sum(x.astype(np.float64))
    ours = float(funcjax.jit(jnp.sum)(x))
    numpy_error = abs(float(np.sum(x)) - exact)
    assert abs(ours - exact) <= max(2 * numpy_error, 4 * np.spacing(np.float32(exact)))


def test_logsumexp_over_rows_matches_numpy():
    x = np.random.default_rng(8).standard_normal((33, 70)).astype(np.float32) * 10
    m = x.max(axis=1, keepdims=True)
    want = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    np.testing.assert_allclose(funcjax.jit(lambda v: funcjax.nn.logsumexp(v, axis=1))(x),
                               want, rtol=1e-5)
