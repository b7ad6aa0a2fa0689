"""stax layers and combinators: output shapes from init_fun agree with apply_fun, and the
values agree with numpy transcriptions of each layer."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax, random
from funcjax.example_libraries import stax

KEY = random.PRNGKey(0)
X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)


def _apply(layer, x, input_shape=None, **kwargs):
    init_fn, apply_fn = layer
    out_shape, params = init_fn(KEY, input_shape or x.shape)
    out = apply_fn(params, jnp.asarray(x), **kwargs)
    return out_shape, params, out


def test_dense():
    shape, (w, b), out = _apply(stax.Dense(3), X, (-1, 5))
    assert shape == (-1, 3) and w.shape == (5, 3) and b.shape == (3,)
    np.testing.assert_allclose(out, X @ np.asarray(w) + np.asarray(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer, ref", [
    (stax.Relu, lambda x: np.maximum(x, 0)), (stax.Tanh, np.tanh),
    (stax.Sigmoid, lambda x: 1 / (1 + np.exp(-x))), (stax.Softplus, lambda x: np.log1p(np.exp(x))),
    (stax.Exp, np.exp), (stax.Softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    (stax.LogSoftmax, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
    (stax.Gelu, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    (stax.Elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    (stax.LeakyRelu, lambda x: np.where(x >= 0, x, 0.01 * x)), (stax.Identity, lambda x: x),
])
def test_elementwise_layers(layer, ref):
    shape, params, out = _apply(layer, X)
    assert shape == X.shape and params == ()
    np.testing.assert_allclose(out, ref(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_flatten():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    shape, _, out = _apply(stax.Flatten, x)
    assert shape == (2, 12)
    np.testing.assert_array_equal(out, x.reshape(2, 12))


def test_batchnorm_normalises_over_the_batch():
    shape, (beta, gamma), out = _apply(stax.BatchNorm(axis=(0,)), X)
    assert shape == X.shape and beta.shape == gamma.shape == (5,)
    want = (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-5)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


def test_dropout():
    x = np.ones((200, 50), np.float32)
    _, _, out = _apply(stax.Dropout(0.8), x, rng=random.PRNGKey(3))
    out = np.asarray(out)
    assert set(np.unique(out)) <= {0.0, 1.25}
    assert abs(np.mean(out != 0) - 0.8) < 0.02
    _, _, same = _apply(stax.Dropout(0.8, mode="test"), x)
    np.testing.assert_array_equal(same, x)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        _apply(stax.Dropout(0.8), x)


def test_serial_parallel_and_fans():
    net = stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(4), stax.Identity),
                      stax.FanInConcat())
    shape, params, out = _apply(net, X, (-1, 5))
    assert shape == (-1, 9) and out.shape == (4, 9)
    w, b = params[1][0]
    np.testing.assert_allclose(out[:, :4], X @ np.asarray(w) + np.asarray(b), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(out[:, 4:], X)
    residual = stax.serial(stax.FanOut(2), stax.parallel(stax.Tanh, stax.Identity),
                           stax.FanInSum)
    shape, _, out = _apply(residual, X)
    assert shape == X.shape
    np.testing.assert_allclose(out, np.tanh(X) + X, rtol=1e-6)


def test_serial_passes_independent_keys_to_each_dropout():
    net = stax.serial(stax.Dropout(0.5), stax.Dropout(0.5))
    x = np.ones((50, 40), np.float32)
    _, _, out = _apply(net, x, rng=random.PRNGKey(9))
    assert abs(np.mean(np.asarray(out) != 0) - 0.25) < 0.03


def test_conv_is_available_exactly_when_lax_has_convolutions():
    if not hasattr(lax, "conv_general_dilated"):
        with pytest.raises(NotImplementedError, match="conv_general_dilated"):
            stax.Conv(8, (3, 3))
        return
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 3)).astype(np.float32)
    shape, (w, b), out = _apply(stax.Conv(4, (3, 3)), x)
    assert shape == (2, 4, 4, 4) == out.shape and w.shape == (3, 3, 3, 4)
    want = np.zeros((2, 4, 4, 4))
    for i in range(4):
        for j in range(4):
            want[:, i, j] = np.einsum("nhwc,hwco->no", x[:, i:i + 3, j:j + 3], np.asarray(w))
    np.testing.assert_allclose(out, want + np.asarray(b).reshape(1, 1, 1, 4), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("layer,reduce", [(stax.MaxPool, np.max), (stax.SumPool, np.sum),
                                          (stax.AvgPool, np.mean)])
def test_pooling_matches_numpy_windows(layer, reduce):
    init_fun, apply_fun = layer((2, 2), strides=(2, 2))
    out_shape, params = init_fun(random.PRNGKey(0), (-1, 6, 4, 3))
    assert out_shape == (-1, 3, 2, 3) and params == ()
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype(np.float32)
    want = reduce(x.reshape(2, 3, 2, 2, 2, 3), axis=(2, 4))
    np.testing.assert_allclose(apply_fun((), jnp.asarray(x)), want, rtol=1e-6, atol=1e-6)
    jitted = funcjax.jit(lambda v: apply_fun((), v))
    np.testing.assert_allclose(jitted(jnp.asarray(x)), want, rtol=1e-6, atol=1e-6)


def test_average_pooling_with_same_padding_counts_only_the_covered_inputs():
    init_fun, apply_fun = stax.AvgPool((3, 3), padding="SAME")
    assert init_fun(None, (-1, 4, 5, 1))[0] == (-1, 4, 5, 1)
    x = np.random.default_rng(1).random((1, 4, 5, 1)).astype(np.float32)
    want = np.array([[x[0, max(0, i - 1):i + 2, max(0, j - 1):j + 2, 0].mean()
                      for j in range(5)] for i in range(4)])
    np.testing.assert_allclose(apply_fun((), jnp.asarray(x))[0, :, :, 0], want, rtol=1e-6)


def test_max_pool_gradient_goes_to_the_maximum():
    _, apply_fun = stax.MaxPool((2, 2), strides=(2, 2))
    x = np.random.default_rng(2).normal(size=(1, 4, 4, 1)).astype(np.float32)
    g = np.asarray(funcjax.grad(lambda v: jnp.sum(apply_fun((), v)))(jnp.asarray(x)))
    blocks = x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
    want = (blocks == blocks.max(axis=1, keepdims=True)).astype(np.float32)
    np.testing.assert_array_equal(g.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4),
                                  want)
