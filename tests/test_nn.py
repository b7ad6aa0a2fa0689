"""funcjax.nn against numpy formulas (computed in float64), including extreme inputs."""

import math

import numpy as np
import pytest

import funcjax
import funcjax.nn as nn
import funcjax.numpy as jnp

X = np.array([[-1000.0, -3.0, -0.0, 0.5, 4.0, 1000.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]],
             np.float32)
x64 = X.astype(np.float64)
sigmoid = 1 / (1 + np.exp(-np.clip(x64, -500, 500)))
erf = np.vectorize(math.erf)
REFERENCE = {
    "relu": np.maximum(x64, 0), "relu6": np.clip(x64, 0, 6), "sigmoid": sigmoid,
    "silu": x64 * sigmoid, "softplus": np.logaddexp(x64, 0), "log_sigmoid": -np.logaddexp(-x64, 0),
    "elu": np.where(x64 > 0, x64, np.expm1(np.minimum(x64, 0))),
    "leaky_relu": np.where(x64 >= 0, x64, 0.01 * x64),
    "gelu": 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64 ** 3))),
    "soft_sign": x64 / (1 + np.abs(x64)), "hard_tanh": np.clip(x64, -1, 1),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activations(name):
    with np.errstate(over="ignore", invalid="ignore"):
        expected = REFERENCE[name]
    got = getattr(nn, name)(X)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_gelu_exact_and_relu_nan():
    np.testing.assert_allclose(nn.gelu(X[1], approximate=False),
                               0.5 * x64[1] * (1 + erf(x64[1] / np.sqrt(2))), rtol=1e-5)
    assert np.isnan(nn.relu(jnp.array([np.nan]))[0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_is_stable(axis):
    shifted = x64 - x64.max(axis, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis, keepdims=True)) + x64.max(axis, keepdims=True)
    np.testing.assert_allclose(nn.softmax(X, axis), np.exp(x64 - lse), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(nn.log_softmax(X, axis), x64 - lse, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(nn.logsumexp(X, axis), np.squeeze(lse, axis), rtol=1e-6)
    np.testing.assert_allclose(nn.logsumexp(X, axis, keepdims=True), lse, rtol=1e-6)


def test_logsumexp_edge_cases():
    assert float(nn.logsumexp(jnp.array([-np.inf, -np.inf]))) == -np.inf
    out, sign = nn.logsumexp(jnp.array([1.0, 2.0]), b=jnp.array([1.0, -1.0]), return_sign=True)
    np.testing.assert_allclose([float(out), float(sign)], [np.log(np.e ** 2 - np.e), -1],
                               rtol=1e-6)
    masked = nn.softmax(jnp.array([1.0, 2.0, 3.0]), where=jnp.array([True, False, True]))
    np.testing.assert_allclose(masked, [1 / (1 + np.e ** 2), 0, np.e ** 2 / (1 + np.e ** 2)],
                               rtol=1e-6)


def test_softmax_stages_stop_gradient():
    closed = funcjax.make_jaxpr(nn.softmax)(X)
    assert "stop_gradient" in [e.primitive.name for e in closed.jaxpr.eqns]


def test_one_hot_and_standardize():
    labels = np.array([0, 2, 1, 5])
    np.testing.assert_array_equal(nn.one_hot(labels, 3), np.eye(3)[np.minimum(labels, 2)]
                                  * (labels < 3)[:, None])
    np.testing.assert_array_equal(nn.one_hot(labels, 3, axis=0), nn.one_hot(labels, 3).T)
    assert nn.one_hot(labels, 3, dtype=jnp.int32).dtype == np.int32
    s = nn.standardize(X[1])
    np.testing.assert_allclose(s, (x64[1] - x64[1].mean()) / np.sqrt(x64[1].var() + 1e-5),
                               rtol=1e-5)


def test_softplus_and_logaddexp_derivatives_at_ties():
    """At x1 == x2 the derivative of logaddexp is 1/2 per input (JAX gives the same); a
    derivative taken through max/abs would split or pick a side and get 0 or 1."""
    g = funcjax.grad(lambda x: funcjax.nn.softplus(x).sum())(jnp.array([-30.0, 0.0, 30.0]))
    np.testing.assert_allclose(g, 1 / (1 + np.exp(-np.array([-30.0, 0.0, 30.0]))), rtol=1e-6,
                               atol=1e-30)
    g1, g2 = funcjax.grad(lambda a, b: jnp.logaddexp2(a, b), argnums=(0, 1))(1.0, 1.0)
    np.testing.assert_allclose([g1, g2], [0.5, 0.5], rtol=1e-6)
