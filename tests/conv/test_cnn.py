"""A LeNet-style CNN (conv, relu, max-pool, conv, relu, max-pool, dense) trained with
jit(grad) on synthetic images: vertical bars against horizontal bars in noise."""

import numpy as np

import funcjax
import funcjax.numpy as jnp
from funcjax import lax


def _images(rng, n):
    labels = rng.integers(0, 2, n)
    x = 0.3 * rng.standard_normal((n, 1, 12, 12))
    for k, label in enumerate(labels):
        pos = rng.integers(2, 10)
        if label:
            x[k, 0, :, pos] += 1.5
        else:
            x[k, 0, pos, :] += 1.5
    return x.astype(np.float32), labels.astype(np.int32)


def _init(rng):
    def scaled(*shape):
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)
    return {"c1": scaled(4, 1, 3, 3), "c2": scaled(8, 4, 3, 3), "w": scaled(8 * 3 * 3, 2),
            "b": np.zeros(2, np.float32)}


def _max_pool(x):
    return lax.reduce_window(x, -np.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def _logits(params, x):
    x = _max_pool(jnp.maximum(lax.conv(x, params["c1"], (1, 1), "SAME"), 0.0))
    x = _max_pool(jnp.maximum(lax.conv(x, params["c2"], (1, 1), "SAME"), 0.0))
    return x.reshape(x.shape[0], -1) @ params["w"] + params["b"]


def _loss(params, x, y):
    logits = _logits(params, x)
    log_probs = logits - jnp.log(jnp.sum(jnp.exp(logits), axis=1, keepdims=True))
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


def test_lenet_trains_under_jit_grad():
    rng = np.random.default_rng(0)
    params = _init(rng)
    x, y = _images(rng, 128)

    @funcjax.jit
    def step(params, x, y):
        loss, grads = funcjax.value_and_grad(_loss)(params, x, y)
        return loss, funcjax.tree_map(lambda p, g: p - 0.3 * g, params, grads)
    first = float(_loss(params, x, y))
    for _ in range(100):
        loss, params = step(params, x, y)
    assert first > 0.6
    assert float(loss) < 0.1, float(loss)
    x_test, y_test = _images(rng, 64)
    accuracy = np.mean(np.argmax(np.asarray(_logits(params, x_test)), axis=1) == y_test)
    assert accuracy > 0.9
