"""Large eager sums and products run jit's compiled reduction (``ops/reductions.py``,
``COMPILED_SIZE``) from the second call with the same types on: eager results then equal the
jitted ones exactly, stay as accurate as numpy's pairwise sums, and smaller arrays, one-off
calls and ``disable_jit`` keep numpy's reduction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.ops import reductions
from funcjax.ops.control_flow import eager

pytest.importorskip("llvmlite")
N = reductions.COMPILED_SIZE


def _compiled(prim, x, axes):
    """Whether eager mode holds a compiled ``prim`` for ``x``'s type over ``axes``."""
    types = (eager._operand_type(x),)
    return eager._programs.get((prim.name, types, (("axes", eager._param_key(axes)),))) \
        is not None


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([np.float32, np.float16, np.int32]),
       st.sampled_from([((N,), None), ((N // 8, 8), 1), ((8, N // 8), 0), ((2, N), (0, 1))]),
       st.sampled_from(["sum", "prod"]), st.integers(0, 2**31 - 1))
def test_eager_equals_jit_above_the_threshold(dtype, shape_axis, name, seed):
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    scale = 100 if dtype == np.int32 else 1.0 if name == "sum" else 1e-3
    xn = (rng.standard_normal(shape) * scale + (1 if name == "prod" else 0)).astype(dtype)
    x = jnp.asarray(xn)
    f = getattr(jnp, name)
    jitted = funcjax.jit(f, static_argnames="axis")(x, axis=axis)
    first, second = f(x, axis=axis), f(x, axis=axis)
    axes = tuple(range(len(shape))) if axis is None else (axis,) if isinstance(axis, int) \
        else axis
    assert _compiled(getattr(reductions, f"reduce_{name}_p"), xn, tuple(sorted(axes)))
    for out in (first, second):
        assert out.dtype == jitted.dtype and out.shape == jitted.shape
    np.testing.assert_array_equal(np.asarray(second), np.asarray(jitted))
    if name == "sum" and dtype == np.float32:  # as accurate as numpy's pairwise sum
        exact = np.sum(xn.astype(np.float64), axis=axis)
        err = np.max(np.abs(np.asarray(second, np.float64) - exact))
        np_err = np.max(np.abs(np.sum(xn, axis=axis).astype(np.float64) - exact))
        bound = np.max(np.sum(np.abs(xn.astype(np.float64)), axis=axis)) * 2**-24
        assert err <= max(4 * np_err, bound)


def test_below_the_threshold_one_off_calls_and_disable_jit_use_numpy():
    rng = np.random.default_rng(0)
    small = rng.standard_normal(N - 1).astype(np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(jnp.sum(jnp.asarray(small)), np.add.reduce(small))
    assert not _compiled(reductions.reduce_sum_p, small, (0,))
    once = rng.standard_normal(N + 3).astype(np.float32)
    np.testing.assert_array_equal(jnp.sum(jnp.asarray(once)), np.add.reduce(once))
    assert not _compiled(reductions.reduce_sum_p, once, (0,))  # compiled on a second call
    other = rng.standard_normal(N + 5).astype(np.float32)
    with funcjax.disable_jit():
        for _ in range(3):
            np.testing.assert_array_equal(jnp.sum(jnp.asarray(other)), np.add.reduce(other))
    assert not _compiled(reductions.reduce_sum_p, other, (0,))


def test_gradients_and_keepdims_through_the_compiled_sum():
    x = jnp.asarray(np.linspace(-1, 1, N, dtype=np.float32).reshape(8, -1))
    for _ in range(2):
        g = funcjax.grad(lambda v: jnp.sum(jnp.sin(v)))(x)
        np.testing.assert_allclose(g, np.cos(np.asarray(x)), rtol=1e-6)
        k = jnp.sum(x, axis=1, keepdims=True)
        assert k.shape == (8, 1)
        np.testing.assert_allclose(k[:, 0], np.sum(np.asarray(x), axis=1), atol=1e-3)
