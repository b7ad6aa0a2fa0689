"""Elementwise functions against numpy over random shapes (with broadcasting) and values."""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from jnp_helpers import FLOATS, arrays, assert_close

import funcjax.numpy as jnp

UNARY_FLOAT = ["exp", "exp2", "expm1", "sin", "cos", "tanh", "arctan", "sinh", "arcsinh",
               "cbrt", "deg2rad", "rad2deg", "sinc", "trunc", "rint", "floor", "ceil", "abs",
               "negative", "sign", "square", "isnan", "isfinite", "isinf", "signbit",
               "logical_not"]
POSITIVE = ["log", "log2", "log10", "log1p", "sqrt", "reciprocal", "arccosh"]
UNIT = ["arcsin", "arccos", "arctanh"]
BINARY_FLOAT = ["add", "subtract", "multiply", "true_divide", "maximum", "minimum", "arctan2",
                "hypot", "logaddexp", "logaddexp2", "fmax", "fmin", "copysign", "heaviside",
                "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                "logical_and", "logical_or", "logical_xor", "float_power"]
BINARY_INT = ["add", "subtract", "multiply", "floor_divide", "remainder", "fmod",
              "bitwise_and", "bitwise_or", "bitwise_xor", "maximum", "minimum", "equal", "less"]


def _np(name):
    return {"arccosh": np.arccosh}.get(name, getattr(np, name))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(UNARY_FLOAT + POSITIVE + UNIT), st.sampled_from(FLOATS),
       hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), st.data())
def test_unary_float(name, dtype, shape, data):
    if name in POSITIVE:
        elements = st.floats(1.0 if name == "arccosh" else 0.125, 50, width=16)
    elif name in UNIT:
        elements = st.floats(-0.875, 0.875, width=16)
    else:
        elements = st.floats(-10, 10, width=16)
    x = data.draw(arrays(dtype, shape, elements))
    out = getattr(jnp, name)(x)
    expected = _np(name)(x)
    if name == "rint":
        expected = np.rint(x)
    assert out.dtype == (np.bool_ if expected.dtype == np.bool_ else dtype)
    assert_close(out, expected, dtype)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(BINARY_FLOAT), st.sampled_from(FLOATS), st.data())
def test_binary_float_broadcasting(name, dtype, data):
    s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                         max_side=3)).input_shapes
    x = data.draw(arrays(dtype, s1, st.floats(-8, 8, width=16)))
    y = data.draw(arrays(dtype, s2, st.floats(-8, 8, width=16)))
    if name == "float_power":
        x = np.abs(x) + dtype(0.5)
    out = getattr(jnp, name)(x, y)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x, y)
    assert_close(out, expected.astype(out.dtype), dtype)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(BINARY_INT), st.sampled_from([np.int8, np.int32, np.uint8, np.uint32]),
       st.data())
def test_binary_int(name, dtype, data):
    s1, s2 = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2,
                                                         max_side=3)).input_shapes
    x = data.draw(arrays(dtype, s1))
    y = data.draw(arrays(dtype, s2))
    if name in ("floor_divide", "remainder", "fmod"):
        y = np.where(y == 0, 1, y).astype(dtype)
    out = getattr(jnp, name)(x, y)
    expected = getattr(np, name)(x, y)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([np.int32, np.float32]), st.data())
def test_power_and_shifts(dtype, data):
    x = data.draw(arrays(dtype, (4,), st.integers(-5, 5).map(dtype)))
    e = data.draw(arrays(np.int32, (4,), st.integers(0, 4)))
    assert_close(jnp.power(x, e.astype(dtype)), np.power(x, e.astype(dtype)), dtype)
    assert_close(jnp.power(x, 3), np.power(x, 3), dtype)
    if dtype == np.int32:
        np.testing.assert_array_equal(jnp.left_shift(x, e), np.left_shift(x, e))
        np.testing.assert_array_equal(jnp.right_shift(x, e), np.right_shift(x, e))


def test_weak_python_scalars_do_not_widen():
    x = jnp.ones(3, jnp.float16)
    assert (x * 2.0).dtype == np.float16
    assert jnp.add(1, 2).weak_type and jnp.add(1, 2).dtype == np.int32
    assert jnp.true_divide(1, 2).dtype == np.float32
    assert (jnp.arange(3) * 2.0).weak_type


def test_special_values():
    x = np.array([-np.inf, -1.0, -0.0, 0.0, 1.0, np.inf, np.nan], np.float32)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"):
        got = getattr(jnp, name)(x)
        np.testing.assert_array_equal(got[:-1], getattr(np, name)(x)[:-1])
    np.testing.assert_array_equal(jnp.nan_to_num(x), np.nan_to_num(x))
    with np.errstate(invalid="ignore"):  # numpy warns on logaddexp(-inf, -inf)
        expected = np.logaddexp(x, x)
    assert_close(jnp.logaddexp(x, x), expected)
    assert_close(jnp.hypot(x, 1e30), np.hypot(x, np.float32(1e30)))


@pytest.mark.parametrize("rtol,atol", [(1e-5, 1e-8), (0.1, 0.0)])
def test_isclose_allclose(rtol, atol):
    a = np.array([1.0, np.inf, np.nan, 1.0, -np.inf], np.float32)
    b = np.array([1.05, np.inf, np.nan, 2.0, np.inf], np.float32)
    for equal_nan in (False, True):
        np.testing.assert_array_equal(jnp.isclose(a, b, rtol, atol, equal_nan),
                                      np.isclose(a, b, rtol, atol, equal_nan))
    assert bool(jnp.allclose(a[:2], a[:2])) and not bool(jnp.allclose(a, b))
    assert bool(jnp.array_equal(a, a, equal_nan=True)) and not bool(jnp.array_equal(a, a[:2]))


def test_where_clip_select():
    x = np.arange(-3, 3, dtype=np.float32)
    np.testing.assert_array_equal(jnp.where(x > 0, x, 0), np.where(x > 0, x, 0))
    np.testing.assert_array_equal(jnp.clip(x, -1, 1), np.clip(x, -1, 1))
    np.testing.assert_array_equal(jnp.clip(x, max=0), np.clip(x, None, 0))
    np.testing.assert_array_equal(jnp.select([x < -1, x > 1], [x, -x], 7),
                                  np.select([x < -1, x > 1], [x, -x], 7))
    (idx,) = jnp.where(x > 0)
    np.testing.assert_array_equal(idx, np.where(x > 0)[0])


def test_64_bit_types_with_x64(enable_x64):
    a = np.linspace(-2, 2, 7)
    for name in ("exp", "tanh", "sinc", "log1p"):
        got = getattr(jnp, name)(np.abs(a) if name == "log1p" else a)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, getattr(np, name)(np.abs(a) if name == "log1p" else a),
                                   rtol=1e-12)
    i = np.arange(5, dtype=np.int64) * 2 ** 40
    assert jnp.sum(i).dtype == np.int64 and int(jnp.sum(i)) == int(i.sum())
    assert jnp.arange(3).dtype == np.int64 and jnp.add(1.0, 1).dtype == np.float64
    assert jnp.add(jnp.ones(2, jnp.float32), 1.0).dtype == np.float32


def test_64_bit_inputs_narrow_without_x64():
    assert jnp.asarray(np.ones(2)).dtype == np.float32
    assert jnp.asarray(np.arange(2, dtype=np.int64)).dtype == np.int32


def test_integer_division_by_zero_matches_jax():
    """Values printed by JAX 0.10.2 on CPU for the same inputs (numpy warns and gives 0)."""
    a, b = jnp.array([7, -7, 3, -3, 0]), jnp.array([2, 2, 0, 0, 0])
    np.testing.assert_array_equal(a // b, [3, -4, -2, -2, -1])
    np.testing.assert_array_equal(a % b, [1, 1, 0, 0, 0])
    ua, ub = jnp.array([7, 3], dtype=jnp.uint32), jnp.array([2, 0], dtype=jnp.uint32)
    np.testing.assert_array_equal(ua // ub, [3, 2**32 - 1])
    np.testing.assert_array_equal(ua % ub, [1, 0])
    np.testing.assert_array_equal(jnp.fmod(a, b), [1, -1, 0, 0, 0])


def test_float_edge_cases_match_numpy():
    """numpy's (and JAX's) answers where a naive formula differs: the floored quotient from
    the exact remainder, IEEE hypot with an infinite side, heaviside of NaN."""
    x = np.array([7.0, 1.5, -1.5, 1.0, 5.0, -0.0], np.float32)
    y = np.array([0.1, -np.inf, np.inf, 0.0, -0.3, 3.0], np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.floor_divide(x, y)
    np.testing.assert_array_equal(jnp.floor_divide(x, y), want)  # 69, -1, -1, inf, -17, 0
    np.testing.assert_array_equal(jnp.floor_divide(x, y), jnp.divmod(x, y)[0])
    a = np.array([np.inf, np.nan, -np.inf, np.nan, 3.0], np.float32)
    b = np.array([np.nan, -np.inf, 1.0, 2.0, 4.0], np.float32)
    np.testing.assert_array_equal(jnp.hypot(a, b), np.hypot(a, b))
    np.testing.assert_array_equal(jnp.heaviside(a, b), np.heaviside(a, b))
