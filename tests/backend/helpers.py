"""Shared pieces of the backend tests: value strategies with edge values, random programs and
the comparison of compiled results against eager ones."""

import threading

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcjax.numpy as jnp
from funcjax import lax

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint32, np.bool_, np.float16]
TOLERANCE = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5,
             np.dtype(np.float64): 1e-12}


def needs_x64(dtype):
    return np.dtype(dtype).itemsize == 8


def elements(dtype):
    """Values of ``dtype`` biased towards the edges: zeros, infinities, NaN, extremes."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        edges = [0, 1, -1, 2, 7, info.min, info.max, info.min + 1, 31, 32, 33, 63, 64]
        edges = [e for e in edges if info.min <= e <= info.max]
        return st.one_of(st.sampled_from(edges), st.integers(info.min, info.max),
                         st.integers(max(-40, int(info.min)), min(40, int(info.max))))
    info = np.finfo(dtype)
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 2.5, np.inf, -np.inf, np.nan, float(info.max),
             -float(info.max), float(info.tiny), float(info.smallest_subnormal), 1e4, -3e3]
    return st.one_of(st.sampled_from(edges),
                     st.floats(width=8 * dtype.itemsize, allow_nan=True),
                     st.floats(-10, 10, width=8 * dtype.itemsize))


def arrays(dtype, shape):
    return hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype))


def assert_matches(got, want, exact=True, what=""):
    """Compiled ``got`` against eager ``want``: same dtype and shape, equal values (NaN where
    NaN, infinities where infinities), within a few ulp when ``exact`` is False."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if exact or got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    rtol = TOLERANCE[got.dtype]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what + " (NaNs)")
    finite = np.isfinite(want) & np.isfinite(got)
    np.testing.assert_array_equal(np.where(finite, 0, got), np.where(finite, 0, want),
                                  err_msg=what + " (infinities)")
    tiny = float(np.finfo(got.dtype).tiny) * 16
    np.testing.assert_allclose(got[finite].astype(np.float64), want[finite].astype(np.float64),
                               rtol=rtol, atol=tiny, err_msg=what)


# Random straight-line programs over two f32[3, 3] inputs, for jit-against-eager tests.
_UNARY = [jnp.sin, jnp.tanh, jnp.abs, jnp.negative, lambda v: v * 2.5, jnp.exp,
          lambda v: jnp.sum(v, axis=-1, keepdims=True) + v,
          lambda v: lax.rev(jnp.transpose(v), (0,)),
          lambda v: jnp.maximum(v, 0.5), lambda v: jnp.where(v > 0, v, -v * 3)]
_BINARY = [jnp.add, jnp.multiply, jnp.subtract, jnp.minimum,
           lambda u, v: lax.dot(u, jnp.transpose(v))]
RECIPES = st.lists(st.tuples(st.booleans(), st.integers(0, len(_UNARY) - 1),
                             st.integers(0, len(_BINARY) - 1), st.integers(0, 3),
                             st.integers(0, 3)), min_size=1, max_size=8)


def run_recipe(recipe, x, y):
    """Every value of the program a recipe describes, starting with its inputs x and y."""
    pool = [x, y]
    for binary, u, b, i, j in recipe:
        if binary:
            pool.append(_BINARY[b](pool[i % len(pool)], pool[j % len(pool)]))
        else:
            pool.append(_UNARY[u](pool[i % len(pool)]))
    return pool


def call_from_threads(fn, threads=3, calls=20):
    """``fn()``'s results from ``calls`` calls in each of ``threads`` Python threads at once,
    failing if any thread is still waiting after two minutes (a pool that never answers)."""
    results = []

    def run():
        for _ in range(calls):
            results.append(fn())
    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers), "a thread waited forever for the pool"
    return results
