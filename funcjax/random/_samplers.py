"""Samplers built on random bits: uniform floats and integers, normal, shuffles and choices.

Each follows JAX's construction step for step, so that with the same key it returns JAX's
numbers: ``uniform`` puts the top mantissa bits of ``random_bits`` into ``[1, 2)`` and
subtracts one, ``normal`` is ``sqrt(2) * erf_inv(u)``, ``randint`` reduces two words of bits
modulo the span, ``permutation`` sorts by random 32-bit keys (rounds enough to make key
collisions improbable), and categorical choices use the Gumbel-max trick.
"""

import math
from collections.abc import Sequence

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.trace import Tracer
from funcjax.random import _threefry
from funcjax.random._keys import raw, split
from funcjax.random._special import erf_inv


def canonical_shape(name, shape, allow_none=False):
    """``shape`` as a tuple of ints; an int is accepted as a 1-d shape, as in JAX."""
    if shape is None and allow_none:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
        raise TypeError(f"{name}: shape must be a tuple of non-negative ints, got {shape!r}; "
                        "pass e.g. shape=(3, 4)")
    if any(d < 0 for d in shape):
        raise ValueError(f"{name}: shape must have non-negative sizes, got {tuple(shape)}")
    return tuple(int(d) for d in shape)


def check_shape(name, shape, *param_shapes):
    """The parameters must broadcast to exactly ``shape`` (JAX's rule)."""
    if param_shapes:
        try:
            joined = np.broadcast_shapes(shape, *param_shapes)
        except ValueError:
            joined = None
        if joined != shape:
            raise ValueError(
                f"{name}: parameter shapes {list(param_shapes)} must broadcast to the shape "
                f"argument {shape} exactly, but broadcast to {joined}")


def float_dtype(name, dtype):
    dt = dtypes.canonicalize(float if dtype is None else dtype)
    if not dtypes.is_float(dt):
        raise ValueError(f"dtype argument to `{name}` must be a float dtype, got {dt}")
    return dt


def is_concrete(x):
    return not isinstance(x, Tracer) and not any(
        isinstance(v, Tracer) for v in (x if isinstance(x, (list, tuple)) else ()))


def _check_order(name, lo, hi, lo_name="minval", hi_name="maxval"):
    """Concrete bounds in the wrong order are an error (under jit they cannot be checked, and
    the result is clamped to the lower bound as in JAX)."""
    if is_concrete(lo) and is_concrete(hi) and np.any(np.asarray(lo) > np.asarray(hi)):
        raise ValueError(f"{name}: {lo_name} must not exceed {hi_name}, got {lo_name}="
                         f"{np.asarray(lo)} and {hi_name}={np.asarray(hi)}; swap them")


def random_bits(key_data, bit_width, shape):
    return _threefry.random_bits(key_data, bit_width, shape)


def bits(key, shape=(), dtype=None):
    """Uniform random unsigned integers (default uint32, uint64 with x64)."""
    data, _ = raw("bits", key)
    dt = dtypes.canonicalize(np.uint64 if dtype is None else dtype)
    if dt.kind != "u":
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dt}")
    return random_bits(data, dt.itemsize * 8, canonical_shape("bits", shape))


def _to_rank(x, rank):
    return lax.reshape(x, (1,) * (rank - x.ndim) + tuple(x.shape)) if x.ndim < rank else x


def _uniform(data, shape, dt, minval, maxval):
    minval = _to_rank(jnp.asarray(minval).astype(dt), len(shape))
    maxval = _to_rank(jnp.asarray(maxval).astype(dt), len(shape))
    nbits, nmant = dt.itemsize * 8, np.finfo(dt).nmant
    mant = lax.shift_right_logical(random_bits(data, nbits, shape), nbits - nmant)
    # m * 2**-nmant is exactly JAX's bitcast(m | bits(1.0)) - 1.0.
    floats = lax.convert_element_type(mant, dt) * np.array(2.0 ** -nmant, dt)
    return jnp.maximum(minval, floats * (maxval - minval) + minval)


def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    """Uniform floats in ``[minval, maxval)``."""
    data, _ = raw("uniform", key)
    dt = float_dtype("uniform", dtype)
    shape = canonical_shape("uniform", shape)
    check_shape("uniform", shape, np.shape(minval), np.shape(maxval))
    _check_order("uniform", minval, maxval)
    return _uniform(data, shape, dt, minval, maxval)


def normal(key, shape=(), dtype=None):
    """Standard normal floats: ``sqrt(2) * erf_inv(u)`` with ``u`` uniform in (-1, 1)."""
    data, _ = raw("normal", key)
    dt = dtypes.canonicalize(float if dtype is None else dtype)
    if not dtypes.is_float(dt):
        raise ValueError(f"dtype argument to `normal` must be a float dtype, got {dt}")
    return _normal(data, canonical_shape("normal", shape), dt)


def _normal(data, shape, dt):
    lo = np.nextafter(np.array(-1.0, dt), np.array(0.0, dt))
    u = _uniform(data, shape, dt, lo, 1.0)
    return np.array(np.sqrt(2), dt) * erf_inv(u)


def _clip_int(val, dt):
    """``val`` converted to the integer dtype ``dt``, clipped to its range instead of
    wrapped."""
    src = val.dtype
    lo = max(np.iinfo(dt).min, np.iinfo(src).min)
    hi = min(np.iinfo(dt).max, np.iinfo(src).max)
    return jnp.clip(val, np.array(lo, src), np.array(hi, src)).astype(dt)


def randint(key, shape, minval, maxval, dtype=None):
    """Uniform integers in ``[minval, maxval)`` (two words of bits reduced modulo the span)."""
    data, _ = raw("randint", key)
    dt = dtypes.canonicalize(int if dtype is None else dtype)
    if not dtypes.is_int(dt):
        raise TypeError(f"randint only accepts integer dtypes, got {dt}")
    shape = canonical_shape("randint", shape)
    _check_order("randint", minval, maxval)
    if dt.itemsize < 4:  # sampled in 32 bits to avoid bias, as JAX does
        info = np.iinfo(dt)
        minval = jnp.clip(jnp.asarray(minval).astype(np.int32), int(info.min), int(info.max))
        maxval = jnp.clip(jnp.asarray(maxval).astype(np.int32), int(info.min),
                          int(info.max) + 1)
        return _randint(data, shape, minval, maxval, np.dtype(np.int32)).astype(dt)
    return _randint(data, shape, minval, maxval, dt)


def _randint(data, shape, minval, maxval, dt):
    check_shape("randint", shape, np.shape(minval), np.shape(maxval))
    minval, maxval = jnp.asarray(minval), jnp.asarray(maxval)
    minval = minval if dtypes.is_int(minval.dtype) else minval.astype(int)
    maxval = maxval if dtypes.is_int(maxval.dtype) else maxval.astype(int)
    top = min(np.iinfo(dt).max, np.iinfo(maxval.dtype).max)
    maxval_out_of_range = maxval > np.array(top, maxval.dtype)
    minval = _to_rank(_clip_int(minval, dt), len(shape))
    maxval = _to_rank(_clip_int(maxval, dt), len(shape))
    nbits = dt.itemsize * 8
    udt = np.dtype(f"uint{nbits}")
    k1, k2 = split(data)
    higher, lower = random_bits(k1, nbits, shape), random_bits(k2, nbits, shape)
    span = (maxval - minval).astype(udt)
    span = jnp.where(maxval <= minval, np.array(1, udt), span)
    span = jnp.where(maxval_out_of_range & (maxval > minval), span + np.array(1, udt), span)
    span = jnp.broadcast_to(span, shape)
    multiplier = lax.rem(lax.full(shape, 2 ** (nbits // 2), udt), span)
    multiplier = lax.rem(lax.mul(multiplier, multiplier), span)
    offset = lax.add(lax.mul(lax.rem(higher, span), multiplier), lax.rem(lower, span))
    offset = lax.rem(offset, span)
    return minval + offset.astype(dt)


def _shuffle(data, x, axis):
    rounds = int(np.ceil(3 * np.log(max(1, x.size)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(rounds):
        data, sub = split(data)
        sort_keys = random_bits(sub, 32, tuple(x.shape))
        _, x = lax.sort((sort_keys, x), axis, num_keys=1)
    return x


def permutation(key, x, axis=0, independent=False):
    """A random permutation of ``arange(x)`` (int ``x``) or of ``x`` along ``axis``."""
    data, _ = raw("permutation", key)
    if not np.ndim(x):
        if isinstance(x, Tracer) or not dtypes.is_int(np.asarray(x).dtype):
            raise TypeError("permutation: x must be a concrete integer or an array of at "
                            f"least 1 dimension, got {x!r}")
        return _shuffle(data, jnp.arange(int(x)), 0)
    x = jnp.asarray(x)
    axis = axis % x.ndim
    if independent or x.ndim == 1:
        return _shuffle(data, x, axis)
    order = _shuffle(data, jnp.arange(x.shape[axis]), 0)
    return jnp.take(x, order, axis=axis)


def gumbel(key, shape=(), dtype=None, mode=None):
    """Standard Gumbel samples ``-log(-log(u))``."""
    data, _ = raw("gumbel", key)
    dt = float_dtype("gumbel", dtype)
    return _gumbel(data, canonical_shape("gumbel", shape), dt)


def _gumbel(data, shape, dt):
    u = _uniform(data, shape, dt, np.finfo(dt).tiny, 1.0)
    return -jnp.log(-jnp.log(u))


def categorical(key, logits, axis=-1, shape=None, replace=True, mode=None):
    """Samples category indices with probabilities ``softmax(logits)`` (Gumbel-max)."""
    data, _ = raw("categorical", key)
    logits = jnp.asarray(logits)
    if not dtypes.is_float(logits.dtype):
        logits = logits.astype(dtypes.default_float())
    if logits.ndim == 0:
        raise ValueError("categorical: logits must have at least one dimension")
    axis = axis % logits.ndim
    batch_shape = tuple(np.delete(logits.shape, axis))
    shape = batch_shape if shape is None else canonical_shape("categorical", shape)
    check_shape("categorical", shape, batch_shape)
    prefix = shape[:len(shape) - len(batch_shape)]
    if replace:
        logits_shape = list(shape[len(shape) - len(batch_shape):])
        logits_shape.insert(axis, logits.shape[axis])
        g = _gumbel(data, (*prefix, *logits_shape), logits.dtype)
        return jnp.argmax(g + jnp.reshape(logits, (1,) * len(prefix) + logits.shape),
                          axis=axis + len(prefix))
    k = math.prod(prefix)
    if k > logits.shape[axis]:
        raise ValueError(f"categorical: number of samples without replacement ({k}) cannot "
                         f"exceed the number of categories ({logits.shape[axis]})")
    noisy = logits + _gumbel(data, logits.shape, logits.dtype)
    _, idx = lax.top_k(jnp.moveaxis(noisy, axis, -1), k)
    return jnp.reshape(jnp.moveaxis(idx, -1, 0), shape)


def choice(key, a, shape=(), replace=True, p=None, axis=0, mode=None):
    """Samples from ``a`` (an array, or ``arange(a)`` for an int), optionally weighted by
    ``p`` and with or without replacement."""
    data, _ = raw("choice", key)
    if not isinstance(shape, Sequence):
        raise TypeError(f"choice: shape must be a sequence, got {shape!r}; pass e.g. (3,)")
    shape = canonical_shape("choice", shape)
    arr = jnp.asarray(a)
    if arr.ndim == 0:
        if isinstance(a, Tracer):
            raise TypeError("choice: an int `a` must be concrete (not traced); pass an array")
        n_inputs = int(a)
    else:
        axis = axis % arr.ndim
        n_inputs = arr.shape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return jnp.zeros(shape, arr.dtype)
    if n_inputs <= 0:
        raise ValueError("choice: a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"choice: cannot take a larger sample (size {n_draws}) than the "
                         f"population (size {n_inputs}) when replace=False")
    if p is None:
        if replace:
            ind = randint(data, shape, 0, n_inputs)
            result = ind if arr.ndim == 0 else jnp.take(arr, ind, axis=axis)
        else:
            perm = permutation(data, n_inputs if arr.ndim == 0 else arr, axis)
            result = lax.slice_in_dim(perm, 0, n_draws, axis=0 if arr.ndim == 0 else axis)
    else:
        p = jnp.asarray(p)
        if not dtypes.is_float(p.dtype):
            p = p.astype(dtypes.default_float())
        if p.shape != (n_inputs,):
            raise ValueError("choice: p must be None or a 1-d vector with the same size as "
                             f"a.shape[axis]; p has shape {p.shape} and a.shape[axis] is "
                             f"{n_inputs}")
        if replace:
            cum = jnp.cumsum(p)
            r = cum[-1] * (1 - _uniform(data, shape, p.dtype, 0.0, 1.0))
            # searchsorted(cum, r, side='left'): how many cumulative sums lie below r.
            ind = jnp.sum(cum < r[..., None], axis=-1).astype(dtypes.default_int())
        else:
            g = _gumbel(data, (n_inputs,), p.dtype) + jnp.log(p)
            ind = lax.top_k(g, n_draws)[1].astype(dtypes.default_int())
        result = ind if arr.ndim == 0 else jnp.take(arr, ind, axis=axis)
    if arr.ndim == 0:
        return jnp.reshape(result, shape)
    return jnp.reshape(result, arr.shape[:axis] + shape + arr.shape[axis + 1:])
