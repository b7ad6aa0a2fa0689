"""The activations added to funcjax.nn against numpy formulas evaluated in float64,
dot_product_attention against a per-head loop, and nn.initializers' statistics and JAX's
values for the same key."""

import math

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import nn, random
from funcjax.nn import initializers

X = np.array([-30.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 30.0])
POS = np.array([1e-6, 1e-3, 0.1, 0.69, 0.7, 1.0, 5.0, 30.0])


def _softplus(x):
    return np.logaddexp(x, 0)


@pytest.mark.parametrize("fn, ref, xs", [
    (nn.identity, lambda x: x, X),
    (nn.tanh, np.tanh, X),
    (nn.mish, lambda x: x * np.tanh(_softplus(x)), X),
    (nn.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2, X),
    (nn.log1mexp, lambda x: np.log(-np.expm1(-x)), POS),
    (nn.sparse_plus, lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)), X),
    (nn.sparse_sigmoid, lambda x: np.clip((x + 1) / 2, 0, 1), X),
])
def test_activation_values(fn, ref, xs):
    got = np.asarray(fn(jnp.asarray(xs, jnp.float32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(xs), rtol=2e-6, atol=3e-7)  # x + sqrt(x*x + 4) cancels


@pytest.mark.parametrize("fn, xs", [(nn.mish, X), (nn.squareplus, X), (nn.log1mexp, POS[2:]),
                                    (nn.sparse_plus, X[1:-1])])
def test_activation_gradients_match_finite_differences(fn, xs):
    g = np.asarray(funcjax.vmap(funcjax.grad(lambda v: fn(v)))(jnp.asarray(xs, jnp.float32)))
    with funcjax.enable_x64():
        x64 = jnp.asarray(xs, jnp.float64)
        eps = 1e-6
        fd = (np.asarray(fn(x64 + eps)) - np.asarray(fn(x64 - eps))) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)


def test_sparse_sigmoid_is_the_derivative_of_sparse_plus():
    xs = jnp.asarray(X[1:-1], jnp.float32)
    np.testing.assert_allclose(funcjax.vmap(funcjax.grad(nn.sparse_plus))(xs),
                               nn.sparse_sigmoid(xs), rtol=1e-6)


def test_logmeanexp():
    x = np.array([[1.0, 2.0, 300.0], [-1.0, 0.0, 1.0]], np.float32)
    got = np.asarray(nn.logmeanexp(jnp.asarray(x), axis=1))
    want = [300 + math.log((math.exp(-299) + math.exp(-298) + 1) / 3),
            math.log((math.exp(-1) + 1 + math.exp(1)) / 3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    where = np.array([[True, True, False], [True, False, True]])
    got = np.asarray(nn.logmeanexp(jnp.asarray(x), axis=1, where=jnp.asarray(where)))
    np.testing.assert_allclose(got, [math.log((math.e + math.e ** 2) / 2),
                                     math.log((math.exp(-1) + math.e) / 2)], rtol=1e-6)


def _attention_loop(q, k, v, bias=None, mask=None, causal=False):
    b, t, n, h = q.shape
    s, kh = k.shape[1], k.shape[2]
    out = np.zeros((b, t, n, h))
    for bi in range(b):
        for head in range(n):
            kv = head // (n // kh)
            logits = q[bi, :, head] @ k[bi, :, kv].T / math.sqrt(h)
            if bias is not None:
                logits = logits + np.broadcast_to(bias, (b, n, t, s))[bi, head]
            keep = np.ones((t, s), bool)
            if mask is not None:
                keep &= np.broadcast_to(mask, (b, n, t, s))[bi, head]
            if causal:
                keep &= np.tril(np.ones((t, s), bool))
            logits = np.where(keep, logits, -np.inf)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            out[bi, :, head] = (p / p.sum(-1, keepdims=True)) @ v[bi, :, kv]
    return out


@pytest.mark.parametrize("heads, kv_heads, causal, use_bias, use_mask", [
    (2, 2, False, False, False), (4, 2, True, False, False), (2, 1, False, True, True),
    (2, 2, True, True, False)])
def test_dot_product_attention_matches_a_loop(heads, kv_heads, causal, use_bias, use_mask):
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 5, heads, 8)).astype(np.float32)
    k = rng.normal(size=(2, 6, kv_heads, 8)).astype(np.float32)
    v = rng.normal(size=(2, 6, kv_heads, 8)).astype(np.float32)
    bias = rng.normal(size=(1, heads, 5, 6)).astype(np.float32) if use_bias else None
    mask = (rng.random((2, 1, 5, 6)) > 0.3) | np.eye(5, 6, dtype=bool) if use_mask else None
    got = nn.dot_product_attention(q, k, v, bias=bias, mask=mask, is_causal=causal)
    np.testing.assert_allclose(got, _attention_loop(q, k, v, bias, mask, causal), rtol=1e-4,
                               atol=1e-5)
    unbatched = nn.dot_product_attention(q[0], k[0], v[0], is_causal=causal)
    np.testing.assert_allclose(unbatched, _attention_loop(q[:1], k[:1], v[:1],
                                                          causal=causal)[0], rtol=1e-4,
                               atol=1e-5)


def test_dot_product_attention_jit_and_grad():
    rng = np.random.default_rng(1)
    q, k, v = (jnp.asarray(rng.normal(size=(1, 3, 2, 4)), jnp.float32) for _ in range(3))

    def f(q):
        return jnp.sum(nn.dot_product_attention(q, k, v, is_causal=True) ** 2)
    np.testing.assert_allclose(funcjax.jit(f)(q), f(q), rtol=1e-5)
    g = funcjax.grad(f)(q)
    eps, d = 1e-2, np.zeros((1, 3, 2, 4), np.float32)
    d[0, 1, 0, 2] = eps
    fd = (f(q + d) - f(q - d)) / (2 * eps)
    np.testing.assert_allclose(g[0, 1, 0, 2], fd, rtol=2e-2, atol=1e-3)


def test_dot_product_attention_bad_heads():
    with pytest.raises(ValueError, match="multiple of the number of key/value heads"):
        nn.dot_product_attention(jnp.ones((1, 2, 3, 4)), jnp.ones((1, 2, 2, 4)),
                                 jnp.ones((1, 2, 2, 4)))


# -- initializers ----------------------------------------------------------------------------
KEY = random.PRNGKey(0)


@pytest.mark.parametrize("make, variance", [
    (initializers.glorot_normal, 2 / (200 + 300)), (initializers.glorot_uniform, 2 / 500),
    (initializers.xavier_normal, 2 / 500), (initializers.he_normal, 2 / 200),
    (initializers.he_uniform, 2 / 200), (initializers.kaiming_uniform, 2 / 200),
    (initializers.lecun_normal, 1 / 200), (initializers.lecun_uniform, 1 / 200),
])
def test_variance_scaling_variances(make, variance):
    w = np.asarray(make()(KEY, (200, 300)))
    assert w.shape == (200, 300) and w.dtype == np.float32
    assert abs(w.mean()) < 4 * math.sqrt(variance / w.size)
    assert abs(w.var() / variance - 1) < 0.05


def test_variance_scaling_counts_the_receptive_field():
    w = np.asarray(initializers.variance_scaling(1.0, "fan_in", "normal")(KEY, (3, 3, 16, 32)))
    assert abs(w.var() * 3 * 3 * 16 - 1) < 0.1


def test_simple_initializers():
    assert np.all(np.asarray(initializers.zeros(KEY, (2, 3))) == 0)
    assert np.all(np.asarray(initializers.ones(KEY, (2,), jnp.float16)) == 1)
    assert initializers.ones(KEY, (2,), jnp.float16).dtype == np.float16
    assert np.all(np.asarray(initializers.constant(-2.5)(KEY, (4,))) == -2.5)
    n = np.asarray(initializers.normal(0.5)(KEY, (4000,)))
    assert abs(n.std() - 0.5) < 0.03
    u = np.asarray(initializers.uniform(2.0)(KEY, (4000,)))
    assert u.min() >= 0 and u.max() < 2 and abs(u.mean() - 1) < 0.05
    t = np.asarray(initializers.truncated_normal(1.0)(KEY, (4000,)))
    assert np.abs(t).max() <= 2 and abs(t.std() - 0.87962566) < 0.03


@pytest.mark.parametrize("shape, axis", [((5, 3), -1), ((3, 5), -1), ((4, 2, 3), -1),
                                         ((6, 4), 0)])
def test_orthogonal(shape, axis):
    w = np.asarray(initializers.orthogonal(scale=2.0, column_axis=axis)(KEY, shape))
    cols = np.moveaxis(w, axis, -1).reshape(-1, shape[axis])
    gram = cols.T @ cols if cols.shape[0] >= cols.shape[1] else cols @ cols.T
    np.testing.assert_allclose(gram, 4 * np.eye(len(gram)), atol=1e-5)


def test_initializers_match_jax_for_the_same_key():
    # jax.nn.initializers.glorot_normal()(jax.random.PRNGKey(0), (3, 4)) etc., JAX 0.10.2.
    np.testing.assert_allclose(np.asarray(initializers.glorot_normal()(KEY, (3, 4))).ravel()[:4],
                               [0.8847433, 1.042002, -0.25077057, -0.04559559], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(initializers.he_uniform()(KEY, (3, 4))).ravel()[:4],
                                  np.float32([1.2661935, 1.3536283, -0.47435132, -0.08861897]))
    np.testing.assert_allclose(np.asarray(initializers.orthogonal()(KEY, (5, 3))).ravel()[:6],
                               [0.81999195, 0.5384282, -0.03698035, -0.03972878, 0.06588093,
                                -0.43861467], rtol=1e-5, atol=3e-7)


def test_fan_of_a_vector_is_an_error():
    with pytest.raises(ValueError, match="at least 2-d"):
        initializers.glorot_normal()(KEY, (5,))
