"""Keys, splitting and random bits from the threefry-2x32 hash (``ops/random_bits.py``).

The hash is a pure function of (key, counter), so every sample is reproducible and
splitting is just hashing different counters; it runs eagerly, under ``jit`` (one loop),
``vmap`` and ``grad`` (zero derivative).

The layouts of keys, ``split``, ``fold_in`` and ``random_bits`` follow JAX with its default
``jax_threefry_partitionable=True``: element ``i`` of an output of shape ``s`` hashes the
64-bit counter ``i`` (row-major over ``s``) given as (high word, low word).
"""

import math

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.core import dtypes
from funcjax.ops.random_bits import threefry2x32_p


def threefry2x32(k1, k2, x1, x2):
    """The threefry-2x32 hash of counters ``(x1, x2)`` (uint32 arrays of one shape) under
    the key words ``(k1, k2)`` (uint32 scalars or arrays of that shape)."""
    shape = np.shape(x1)
    k1, k2 = (lax.broadcast_in_dim(k, shape, ()) if np.ndim(k) == 0 and shape else k
              for k in (k1, k2))
    return tuple(threefry2x32_p.bind(k1, k2, x1, x2))


def _key_words(key_data):
    """The two uint32 words of one raw key ``uint32[2]``."""
    return lax.squeeze(lax.slice(key_data, (0,), (1,)), (0,)), \
        lax.squeeze(lax.slice(key_data, (1,), (2,)), (0,))


def _counters(shape):
    """The 64-bit row-major index of every element of ``shape``, as (high, low) uint32."""
    size = math.prod(shape)
    if size > 2 ** 64:
        raise NotImplementedError(f"random bits for {size} elements (more than 2**64)")
    if size <= 2 ** 32:
        lo = lax.reshape(lax.iota(dtypes.uint32, size), shape)
        return lax.full(shape, 0, dtypes.uint32), lo
    index = np.arange(size, dtype=np.uint64).reshape(shape)  # only reachable for huge shapes
    return (jnp.asarray((index >> np.uint64(32)).astype(np.uint32)),
            jnp.asarray((index & np.uint64(0xFFFFFFFF)).astype(np.uint32)))


def seed(value):
    """The raw key of an integer seed: its 64 bits as (high word, low word)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        value = jnp.asarray(value)
        if value.ndim or not dtypes.is_int(value.dtype):
            raise TypeError("PRNGKey: the seed must be a scalar integer, got "
                            f"{value.dtype}{list(value.shape)}; pass e.g. PRNGKey(0)")
        hi = lax.shift_right_logical(value, lax.full((), 32, value.dtype)) \
            if value.dtype.itemsize == 8 else lax.full((), 0, value.dtype)
        lo = lax.bitwise_and(value, lax.full((), 0xFFFFFFFF, value.dtype)) \
            if value.dtype.itemsize == 8 else value
        words = [lax.convert_element_type(w, dtypes.uint32) for w in (hi, lo)]
        return lax.concatenate([lax.reshape(w, (1,)) for w in words], 0)
    value = int(value)
    if not -2 ** 63 <= value < 2 ** 64:
        raise OverflowError(f"PRNGKey: seed {value} does not fit in 64 bits")
    value %= 2 ** 64
    hi = (value >> 32) if dtypes.x64_enabled() else 0
    return jnp.asarray(np.array([hi, value & 0xFFFFFFFF], np.uint32))


def split(key_data, shape):
    """``shape`` new raw keys from one: key ``i`` is the hash of counter ``i``."""
    k1, k2 = _key_words(key_data)
    hi, lo = _counters(shape)
    b1, b2 = threefry2x32(k1, k2, hi, lo)
    return jnp.stack([b1, b2], axis=len(shape))


def fold_in(key_data, data):
    """A new raw key from a key and a 32-bit integer: the hash of counter ``(0, data)``."""
    k1, k2 = _key_words(key_data)
    zero = lax.full((1,), 0, dtypes.uint32)
    b1, b2 = threefry2x32(k1, k2, zero, lax.reshape(data, (1,)))
    return lax.concatenate([b1, b2], 0)


def random_bits(key_data, bit_width, shape):
    """Uniform unsigned integers of ``bit_width`` bits: the two hash words xor-ed (or, for
    64 bits, concatenated)."""
    k1, k2 = _key_words(key_data)
    hi, lo = _counters(shape)
    b1, b2 = threefry2x32(k1, k2, hi, lo)
    if bit_width == 64:
        u64 = dtypes.uint64
        return lax.bitwise_or(lax.shift_left(lax.convert_element_type(b1, u64), 32),
                              lax.convert_element_type(b2, u64))
    bits = lax.bitwise_xor(b1, b2)
    if bit_width == 32:
        return bits
    return lax.convert_element_type(bits, np.dtype(f"uint{bit_width}"))
