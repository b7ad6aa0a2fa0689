"""PRNG keys: legacy raw keys (``uint32[..., 2]``) and typed keys (``jax.random.key``).

Every sampler accepts either kind; internally it works on the raw ``uint32[2]`` words.
``split`` and ``fold_in`` return the kind they were given, so code that slices or stacks
legacy keys keeps working, and typed keys keep their ``key<fry>`` dtype.
"""

import numpy as np

import funcjax.numpy as jnp
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.core.pytree import register_pytree_node
from funcjax.core.trace import Tracer
from funcjax.random import _threefry

IMPL_NAME = "threefry2x32"


class KeyDtype:
    """The dtype of typed keys, printed ``key<fry>`` as in JAX."""
    name = "key<fry>"

    def __repr__(self):
        return self.name

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, KeyDtype) or other == self.name

    def __hash__(self):
        return hash(self.name)


key_dtype = KeyDtype()


class PRNGKeyArray:
    """An array of typed keys: element shape ``()``, backed by ``uint32[*shape, 2]`` data."""

    __slots__ = ("_data",)
    dtype = key_dtype

    def __init__(self, data):
        self._data = data

    shape = property(lambda self: tuple(np.shape(self._data)[:-1]))
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar key array")
        return self.shape[0]

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        # The trailing key-word axis is never indexed.
        tail = (slice(None),) if any(i is Ellipsis for i in index) else (Ellipsis, slice(None))
        return PRNGKeyArray(self._data[index + tail])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return PRNGKeyArray(jnp.reshape(self._data, tuple(shape) + (2,)))

    def __repr__(self):
        return f"Array({self.shape}, dtype={self.dtype}) overlaying:\n{self._data}"


register_pytree_node(PRNGKeyArray, lambda k: ((k._data,), None),
                     lambda _, children: PRNGKeyArray(children[0]))


def _is_arraylike(x):
    return isinstance(x, (Array, Tracer, np.ndarray, list, tuple))


def raw(name, key, batched=False):
    """``(raw uint32[..., 2] data, was_typed)`` of a key passed to ``name``, checked."""
    if isinstance(key, PRNGKeyArray):
        data, typed = key._data, True
    elif _is_arraylike(key):
        data, typed = jnp.asarray(key), False
        if data.dtype != dtypes.uint32:
            raise TypeError(
                f"{name}: the key must be a PRNG key (uint32[2] from PRNGKey, or from "
                f"random.key), got an array of dtype {data.dtype}; create it with "
                "funcjax.random.PRNGKey(seed)")
        if not data.ndim or data.shape[-1] != 2:
            raise TypeError(
                f"{name}: a raw PRNG key has shape (..., 2) (threefry keys are two uint32 "
                f"words), got shape {tuple(data.shape)}; create it with "
                "funcjax.random.PRNGKey(seed)")
    else:
        raise TypeError(f"{name}: unexpected PRNG key type {type(key).__name__}; pass a key "
                        "from funcjax.random.PRNGKey(seed) or funcjax.random.key(seed)")
    if not batched and np.ndim(data) != 1:
        raise ValueError(f"{name} accepts a single key, but was given a key array of shape "
                         f"{tuple(np.shape(data)[:-1])} != (). Use funcjax.vmap for batching.")
    return data, typed


def wrap(data, typed):
    return PRNGKeyArray(data) if typed else data


def _check_seed(name, seed):
    if isinstance(seed, PRNGKeyArray):
        raise TypeError(f"{name} accepts a scalar seed, but was given a PRNG key.")
    if np.ndim(seed):
        raise TypeError(f"{name} accepts a scalar seed, but was given an array of shape "
                        f"{np.shape(seed)} != (). Use funcjax.vmap for batching")
    if isinstance(seed, float) or (hasattr(seed, "dtype") and
                                   not dtypes.is_int(np.dtype(seed.dtype))):
        raise TypeError(f"{name}: the seed must be an integer, got {seed!r}; pass e.g. "
                        f"{name}(0)")


def PRNGKey(seed, *, impl=None):  # noqa: N802 - JAX's name
    """A legacy key: ``uint32[2]`` holding the 64 bits of an integer seed (the high word is
    0 unless x64 is enabled)."""
    _check_impl(impl)
    _check_seed("PRNGKey", seed)
    return _threefry.seed(seed)


def key(seed, *, impl=None, dtype=None):
    """A typed key: a scalar of dtype ``key<fry>`` (see ``key_data``)."""
    _check_impl(impl if dtype is None else dtype)
    _check_seed("key", seed)
    return PRNGKeyArray(_threefry.seed(seed))


def _check_impl(impl):
    if impl not in (None, IMPL_NAME, key_dtype):
        raise ValueError(f"funcjax.random only implements the {IMPL_NAME!r} PRNG, got {impl!r}")


def key_data(keys):
    """The ``uint32[..., 2]`` data of typed keys (legacy keys are returned as they are)."""
    data, _ = raw("key_data", keys, batched=True)
    return data


def wrap_key_data(key_bits_array, *, impl=None):
    """Typed keys from ``uint32[..., 2]`` data."""
    _check_impl(impl)
    data, typed = raw("wrap_key_data", key_bits_array, batched=True)
    if typed:
        raise TypeError("wrap_key_data: the argument is already a typed key array")
    return PRNGKeyArray(data)


def key_impl(keys):
    raw("key_impl", keys, batched=True)
    return IMPL_NAME


def split(key, num=2):
    """``num`` new keys (or an array of keys of shape ``num`` when it is a tuple)."""
    data, typed = raw("split", key)
    shape = tuple(int(n) for n in num) if isinstance(num, (tuple, list)) else (int(num),)
    if any(n < 0 for n in shape):
        raise ValueError(f"split: num must be non-negative, got {num}")
    return wrap(_threefry.split(data, shape), typed)


def fold_in(key, data):
    """A new key that depends on ``key`` and the 32-bit integer ``data``."""
    raw_key, typed = raw("fold_in", key)
    if np.ndim(data):
        raise TypeError(f"fold_in accepts a scalar, but was given an array of shape "
                        f"{np.shape(data)} != (). Use funcjax.vmap for batching.")
    if isinstance(data, int) and not isinstance(data, bool):
        if not 0 <= data < 2 ** 32:
            raise OverflowError(f"fold_in: data {data} does not fit in uint32")
        word = jnp.asarray(np.uint32(data))
    else:
        word = jnp.asarray(data)
        if not dtypes.is_int(word.dtype):
            raise TypeError(f"fold_in: data must be an integer, got dtype {word.dtype}")
        word = word.astype(dtypes.uint32)
    return wrap(_threefry.fold_in(raw_key, word), typed)


def clone(key):
    return key
