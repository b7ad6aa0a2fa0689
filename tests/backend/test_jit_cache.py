"""The jit cache is shared by every ``jit(f)`` wrapper of the same function and options, as in
JAX: re-creating the wrapper (``jit(f)(x)`` in a loop) neither retraces nor recompiles, while
distinct function objects (closures over new values) never share entries."""

import functools
import gc
import weakref

import numpy as np

import funcjax
import funcjax.numpy as jnp
from funcjax import api_jit
from funcjax.backend.llvm import compiler
from tests.backend.test_jit_api import counting

X = np.arange(4, dtype=np.float32)


def test_recreated_wrappers_share_traces_and_programs():
    fun, traces = counting(lambda x: x * 2 + 1)
    before = compiler.stats["compiled"]
    for _ in range(5):
        np.testing.assert_array_equal(funcjax.jit(fun)(X), X * 2 + 1)
    assert len(traces) == 1 and compiler.stats["compiled"] - before == 1
    info = funcjax.jit(fun).cache_info()
    assert (info.hits, info.misses, info.traces, info.compiles, info.size) == (4, 1, 1, 1, 1)
    wrapper = funcjax.jit(fun)
    wrapper(X[:3])                                  # a new shape is a miss, explained
    assert len(traces) == 2 and "'x' changed from f32[4] to f32[3]" in wrapper.last_miss_reason


def test_options_are_part_of_the_key():
    fun, traces = counting(lambda x, n: x * n)
    funcjax.jit(fun)(X, 2)
    funcjax.jit(fun, static_argnums=1)(X, 2)        # other options: traced again
    funcjax.jit(fun, static_argnums=(1,))(X, 2)     # the same options, spelled differently
    funcjax.jit(fun, static_argnums=1)(X, 3)        # a new static value
    assert len(traces) == 3
    assert funcjax.jit(fun, static_argnums=1).cache_info().size == 2
    assert funcjax.jit(fun).cache_info().size == 1


def test_closures_over_new_values_retrace():
    def make(c):
        return lambda x: x + c
    results = [funcjax.jit(make(jnp.asarray(c, jnp.float32)))(X) for c in (1.0, 2.0, 3.0)]
    for c, out in zip((1.0, 2.0, 3.0), results):
        np.testing.assert_array_equal(out, X + c)   # no stale constants


def test_uncacheable_callables_fall_back_to_a_private_cache():
    class Unhashable:
        __hash__ = None

        def __call__(self, x):
            calls.append(1)
            return x - 1
    calls = []
    fun = Unhashable()
    f = funcjax.jit(fun)
    f(X)
    f(X)
    funcjax.jit(fun)(X)                             # a new wrapper: a new private cache
    assert len(calls) == 2 and f.cache_info().hits == 1

    partial = functools.partial(lambda x, k: x * k, k=3.0)
    np.testing.assert_array_equal(funcjax.jit(partial)(X), X * 3)
    np.testing.assert_array_equal(funcjax.jit(partial)(X), X * 3)
    assert funcjax.jit(partial).cache_info().traces == 1


def test_functions_and_their_entries_are_collected():
    big = jnp.ones(1000)

    def f(x):
        return x + big[:4]
    funcjax.jit(f)(X)
    alive, size = weakref.ref(f), len(api_jit._caches)
    del f
    gc.collect()
    # Other tests' dead functions may be collected by the same gc: at least f's entry goes.
    assert alive() is None and len(api_jit._caches) <= size - 1
