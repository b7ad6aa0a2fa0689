"""Training an MLP across virtual devices with ``pmap``: data parallelism and model parallelism.

Data parallel (``train_data_parallel``): every device holds the parameters, takes its slice of
the batch, computes gradients, and ``pmean`` averages them so all devices apply the same
update: the parameters stay equal to single-device training on the whole batch.

Model parallel (``train_model_parallel``): the first layer's weight matrix is split by columns,
device k holding block k. Each device computes its block of the hidden activations,
``all_gather`` reassembles them and every device computes the rest of the model. Every device
then holds the same loss, so each device differentiates ``loss / N``: the transpose of
``all_gather`` (a ``psum_scatter``) sums the N copies of the cotangent into the gradient of
its own block, and ``psum`` adds up the N parts of the replicated layer's gradient.
"""

import functools

import numpy as np

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.api import grad
from funcjax.api_jit import jit
from funcjax.api_pmap import pmap
from funcjax.core.pytree import tree_map
from funcjax.devices import device_put_replicated, devices


def init_mlp(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((m, n)).astype(np.float32) / np.sqrt(m),
             np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]


def predict(params, x):
    for w, b in params[:-1]:
        x = jnp.maximum(x @ w + b, 0.0)
    w, b = params[-1]
    return x @ w + b


def loss(params, x, y):
    """Mean softmax cross-entropy of integer labels ``y``."""
    logits = predict(params, x)
    logp = logits - jnp.log(jnp.sum(jnp.exp(logits - jnp.max(logits, axis=1, keepdims=True)),
                                    axis=1, keepdims=True)) - jnp.max(logits, axis=1,
                                                                       keepdims=True)
    onehot = (y[:, None] == jnp.arange(logits.shape[1])[None, :]).astype(logits.dtype)
    return -jnp.mean(jnp.sum(onehot * logp, axis=1))


def sgd(params, grads, lr):
    return tree_map(lambda p, g: p - lr * g, params, grads)


@functools.partial(jit, static_argnums=3)
def train_step(params, x, y, lr):
    """One step of single-device training."""
    return sgd(params, grad(loss)(params, x, y), lr)


@functools.partial(pmap, axis_name="batch", static_broadcasted_argnums=3, donate_argnums=0)
def data_parallel_step(params, x, y, lr):
    """One step on each device's slice of the batch, gradients averaged across devices."""
    return sgd(params, lax.pmean(grad(loss)(params, x, y), "batch"), lr)


def make_data(n, sizes, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], n).astype(np.int32))


def train_data_parallel(num_devices, sizes=(16, 32, 32, 4), batch=64, steps=5, lr=0.1):
    """Trains on ``num_devices`` devices (1: plain jit); returns the parameters as numpy."""
    params = init_mlp(sizes)
    x, y = make_data(batch, sizes)
    if num_devices == 1:
        for _ in range(steps):
            params = train_step(params, x, y, lr)
        return tree_map(np.asarray, params)
    params = device_put_replicated(params, devices()[:num_devices])
    xs, ys = x.reshape(num_devices, -1, sizes[0]), y.reshape(num_devices, -1)
    for _ in range(steps):
        params = data_parallel_step(params, xs, ys, lr)
    return tree_map(lambda p: np.asarray(p)[0], params)


# -- model parallelism ---------------------------------------------------------------------
def _split_loss(block, rest, x, y, n):
    """Per-device loss of the model whose first layer's columns are split across devices."""
    w1, b1 = block
    hidden = lax.all_gather(jnp.maximum(x @ w1 + b1, 0.0), "model", axis=1, tiled=True)
    return loss(rest, hidden, y) / n


@functools.partial(pmap, axis_name="model", in_axes=(0, None, None, None, None),
                   out_axes=(0, None), static_broadcasted_argnums=(4,))
def model_parallel_step(block, rest, x, y, lr):
    n = lax.axis_size("model")
    g_block, g_rest = grad(_split_loss, argnums=(0, 1))(block, rest, x, y, n)
    return sgd(block, g_block, lr), sgd(rest, lax.psum(g_rest, "model"), lr)


def train_model_parallel(num_devices, sizes=(16, 32, 4), batch=32, steps=5, lr=0.1):
    """Trains a two-layer MLP whose first layer is split by columns over ``num_devices``;
    returns the parameters reassembled as numpy (comparable to ``train_step``'s)."""
    (w1, b1), rest = init_mlp(sizes)[0], init_mlp(sizes)[1:]
    x, y = make_data(batch, sizes)
    k = sizes[1] // num_devices
    block = (np.stack([w1[:, d * k:(d + 1) * k] for d in range(num_devices)]),
             b1.reshape(num_devices, k))
    for _ in range(steps):
        block, rest = model_parallel_step(block, rest, x, y, lr)
    w1 = np.concatenate(list(np.asarray(block[0])), axis=1)
    return [(w1, np.asarray(block[1]).reshape(-1))] + tree_map(np.asarray, rest)
