"""The fast dispatch path of a cached jit call (positional array arguments only) decides the
entry from the arguments' avals and still runs the program's complete argument checks."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.api_jit import clear_caches


def test_cached_calls_with_arrays_and_numpy_arrays_agree_and_count_hits():
    f = funcjax.jit(lambda v, w: v * 2 + w)
    x = np.arange(8, dtype=np.float32)
    a = jnp.asarray(x)
    first = f(a, a)
    for _ in range(3):
        np.testing.assert_array_equal(f(a, a), first)
        np.testing.assert_array_equal(f(x, x), x * 2 + x)
    info = f.cache_info()
    assert info.traces == 1 and info.hits == 6  # an Array and an ndarray share the entry
    np.testing.assert_array_equal(f(x[:3], x[:3]), x[:3] * 3)  # a new shape retraces
    assert f.cache_info().traces == 2


def test_cleared_caches_are_not_served_by_the_fast_path():
    f = funcjax.jit(lambda v: v + 1)
    a = jnp.ones(4)
    f(a), f(a)
    clear_caches()
    np.testing.assert_array_equal(f(a), np.full(4, 2, np.float32))
    assert f.cache_info().traces == 2


def test_a_donated_array_is_rejected_on_the_fast_path_too():
    f = funcjax.jit(lambda v: v * 2, donate_argnums=0)
    a = jnp.ones(16)
    f(jnp.ones(16))
    f(a)
    with pytest.raises(RuntimeError, match="deleted|donated"):
        f(a)
