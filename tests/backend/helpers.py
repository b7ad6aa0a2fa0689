"""Shared pieces of the backend tests: value strategies with edge values, x64 scoping and
the comparison of compiled results against eager ones."""

import contextlib

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from funcjax import config

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint32, np.bool_, np.float16]
TOLERANCE = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5,
             np.dtype(np.float64): 1e-12}


@contextlib.contextmanager
def x64(enabled=True):
    old = config.jax_enable_x64
    config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        config.update("jax_enable_x64", old)


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
