"""Shared helpers for the funcjax.numpy tests: x64 switching, tolerances, value strategies."""

import contextlib

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import funcjax

DTYPES = [np.bool_, np.uint8, np.int8, np.int32, np.uint32, np.float16, np.float32]
FLOATS = [np.float16, np.float32]


@contextlib.contextmanager
def x64(enabled=True):
    previous = funcjax.config.jax_enable_x64
    funcjax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        funcjax.config.update("jax_enable_x64", previous)


def tolerance(dtype):
    return {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5,
            np.dtype(np.float64): 1e-12}.get(np.dtype(dtype), 0)


def assert_close(actual, expected, dtype=None, rtol=None, atol=None):
    """Values (and shapes) as numpy computes them, within the tolerance of ``dtype``."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = tolerance(dtype if dtype is not None else actual.dtype)
    np.testing.assert_allclose(actual.astype(np.float64) if actual.dtype.kind != "b" else actual,
                               expected, rtol=tol if rtol is None else rtol,
                               atol=tol if atol is None else atol, equal_nan=True)


def arrays(dtype, shape, elements=None):
    """numpy arrays of ``dtype``; floats stay in a range where float16 does not overflow."""
    dtype = np.dtype(dtype)
    if elements is None:
        if dtype.kind == "f":
            elements = st.floats(-20, 20, width=dtype.itemsize * 8)
        elif dtype.kind == "b":
            elements = st.booleans()
        else:
            info = np.iinfo(dtype)
            elements = st.integers(max(info.min, -50), min(info.max, 50))
    return hnp.arrays(dtype, shape, elements=elements)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
