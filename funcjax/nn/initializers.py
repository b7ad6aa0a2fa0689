"""``funcjax.nn.initializers``: parameter initialisers with JAX's names and signatures.

Each factory returns ``init(key, shape, dtype=float32)``. The variance-scaling family keeps
the variance of activations steady through a layer: ``scale / fan`` where the fan counts the
inputs (``fan_in``), outputs (``fan_out``) or their mean, times the receptive field of
convolution kernels. With the same key they draw JAX's numbers.
"""

import math

import numpy as np

import funcjax.numpy as jnp
from funcjax import random
from funcjax.core import dtypes

__all__ = ["constant", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
           "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform", "normal",
           "ones", "orthogonal", "truncated_normal", "uniform", "variance_scaling",
           "xavier_normal", "xavier_uniform", "zeros"]


def _dtype(dtype):
    return dtypes.canonicalize(jnp.float32 if dtype is None else dtype)


def zeros(key, shape, dtype=jnp.float32):
    return jnp.zeros(shape, _dtype(dtype))


def ones(key, shape, dtype=jnp.float32):
    return jnp.ones(shape, _dtype(dtype))


def constant(value, dtype=jnp.float32):
    def init(key, shape, dtype=dtype):
        return jnp.full(shape, value, _dtype(dtype))
    return init


def normal(stddev=1e-2, dtype=jnp.float32):
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return random.normal(key, shape, dt) * np.array(stddev, dt)
    return init


def uniform(scale=1e-2, dtype=jnp.float32):
    """Uniform on ``[0, scale)``."""
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return random.uniform(key, shape, dt) * np.array(scale, dt)
    return init


def truncated_normal(stddev=1e-2, dtype=jnp.float32, lower=-2.0, upper=2.0):
    """``stddev`` times a standard normal truncated to ``[lower, upper]``."""
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return random.truncated_normal(key, lower, upper, shape, dt) * np.array(stddev, dt)
    return init


def _fans(shape, in_axis, out_axis, batch_axis):
    if len(shape) < 2:
        raise ValueError(f"variance_scaling: cannot compute fan-in and fan-out of a "
                         f"{len(shape)}-dimensional weight of shape {tuple(shape)}; it must be "
                         "at least 2-d (use zeros/normal initialisers for biases)")
    batch = (batch_axis,) if isinstance(batch_axis, int) else tuple(batch_axis)
    ndim = len(shape)
    axes = {a % ndim for a in (in_axis, out_axis, *batch)}
    receptive = math.prod(d for i, d in enumerate(shape) if i not in axes)
    return shape[in_axis % ndim] * receptive, shape[out_axis % ndim] * receptive


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=jnp.float32):
    """Samples with variance ``scale / fan`` from a (truncated) normal or uniform law."""
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', "
                         f"got {mode!r}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError("variance_scaling: distribution must be 'truncated_normal', "
                         f"'normal' or 'uniform', got {distribution!r}")

    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        shape = tuple(shape)
        fan_in, fan_out = _fans(shape, in_axis, out_axis, batch_axis)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = np.array(scale / fan, dt)
        if distribution == "truncated_normal":
            # The standard deviation of a standard normal truncated to [-2, 2].
            stddev = np.array(np.sqrt(variance) / .87962566103423978, dt)
            return random.truncated_normal(key, -2, 2, shape, dt) * stddev
        if distribution == "normal":
            return random.normal(key, shape, dt) * np.array(np.sqrt(variance), dt)
        return random.uniform(key, shape, dt, -1, 1) * np.array(np.sqrt(3 * variance), dt)
    return init


def glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis, batch_axis, dtype)


def glorot_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def lecun_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


def he_uniform(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis, batch_axis, dtype)


def he_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=jnp.float32):
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis, batch_axis,
                            dtype)


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def orthogonal(scale=1.0, column_axis=-1, dtype=jnp.float32):
    """A (semi-)orthogonal matrix: orthonormal rows or columns, whichever are fewer."""
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"orthogonal initializer requires at least a 2-d shape, got "
                             f"{shape}")
        n_cols = shape[column_axis]
        n_rows = math.prod(shape) // n_cols
        tall = (max(n_rows, n_cols), min(n_rows, n_cols))
        q, r = jnp.linalg.qr(random.normal(key, tall, dt))
        q = q * jnp.sign(jnp.diagonal(r))  # unique: the factor whose R has a positive diagonal
        if n_rows < n_cols:
            q = q.T
        q = jnp.reshape(q, tuple(np.delete(shape, column_axis % len(shape))) + (n_cols,))
        return np.array(scale, dt) * jnp.moveaxis(q, -1, column_axis)
    return init
