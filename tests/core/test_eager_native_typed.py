"""Native eager entries whose result has another dtype than their operand (comparisons,
``x.astype``) or that take a static argument (``x ** 2``, ``x.astype(dtype)``): once warm,
they must give the Python path's bits and jit's, be keyed on everything the Python path
depends on (weak type, x64, the static argument, the operand's type), and leave every
error and every call they do not take to the Python path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.config import enable_x64
from funcjax.core.array import Array
from funcjax.numpy import _util

pytest.importorskip("llvmlite")
from eager_helpers import assert_same_error, python_path  # noqa: E402

from funcjax.backend.llvm import eager_entry  # noqa: E402


def general_path(fn, *args):
    """``fn(*args)`` with native entries and eager programs off."""
    return python_path(fn, *args, programs=False)


if eager_entry._layout() is None:
    pytest.skip("no native entries on this interpreter", allow_module_level=True)

COMPARISONS = {"greater": "__gt__", "less": "__lt__", "equal": "__eq__",
               "not_equal": "__ne__", "greater_equal": "__ge__", "less_equal": "__le__"}
DTYPES = [np.float32, np.int32, np.int8, np.uint8, np.int16]
TARGETS = [np.float32, np.int32, np.int8, np.uint8, np.uint32, np.bool_]


def warm(fn, x):
    for _ in range(_util.NATIVE_AFTER + 2):
        fn(x)


def astype_table_full():
    """Whether ``astype``'s table of (dtype, target) pairs is full (other tests fill it)."""
    native = eager_entry._natives.get("astype")
    return native is not None and native.used == native.size


def calls():
    return sum(n.calls for n in eager_entry._natives.values() if n is not None)


def same(a, b):
    assert type(a) is type(b) is Array
    assert (a.dtype, a.shape, a.weak_type) == (b.dtype, b.shape, b.weak_type)
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def values(dtype):
    if np.dtype(dtype).kind == "f":
        return st.lists(st.floats(width=32), min_size=1, max_size=24)
    info = np.iinfo(dtype)
    return st.lists(st.integers(int(info.min), int(info.max)), min_size=1, max_size=24)


def array(dtype, data, shape):
    x = np.asarray(data, dtype)
    if shape == "2d" and x.size % 2 == 0:
        x = x.reshape(2, -1)
    elif shape == "0d":
        x = x[0]
    return jnp.asarray(x)


SHAPES = st.sampled_from(["1d", "2d", "0d"])


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(COMPARISONS)), st.sampled_from([np.float32, np.int32]),
       st.data(), SHAPES)
def test_comparisons_equal_python_path_and_jit(name, dtype, data, shape):
    x = array(dtype, data.draw(values(dtype)), shape)
    y = array(dtype, data.draw(values(dtype)), "1d")
    y = jnp.asarray(np.resize(np.asarray(y), x.shape))
    fn, op = getattr(jnp, name), COMPARISONS[name]
    warm(lambda v: fn(v, v), x)
    for f, args in [(fn, (x, y)), (lambda a, b: getattr(a, op)(b), (x, y)),
                    (lambda a, b: fn(a, 0), (x, y)), (lambda a, b: getattr(a, op)(1), (x, y))]:
        before = calls()
        out = f(*args)
        assert calls() == before + 1
        same(out, general_path(f, *args))
        same(out, funcjax.jit(f)(*args))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DTYPES), st.data(), SHAPES)
def test_square_equals_python_path_and_jit(dtype, data, shape):
    x = array(dtype, data.draw(values(dtype)), shape)
    warm(lambda v: v ** 2, x)
    before = calls()
    out = x ** 2
    assert calls() == before + 1
    same(out, general_path(lambda v: v ** 2, x))
    same(out, funcjax.jit(lambda v: v ** 2)(x))
    same(out, jnp.power(x, 2))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(DTYPES), st.sampled_from(TARGETS), st.data(), SHAPES)
def test_astype_equals_python_path_and_jit(dtype, target, data, shape):
    x = array(dtype, data.draw(values(dtype)), shape)
    f = lambda v: v.astype(target)  # noqa: E731
    warm(f, x)
    before = calls()
    out = f(x)
    assert calls() == before + (np.dtype(dtype) != np.dtype(target)) or astype_table_full()
    same(out, general_path(f, x))
    same(out, funcjax.jit(f)(x))


def test_astype_special_values():
    x = jnp.asarray(np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2.7, -2.7, -0.0, 1e-40, 255.5,
                              -1.0, 65535.9], np.float32))
    for target in TARGETS:
        f = lambda v, t=target: v.astype(t)  # noqa: E731
        warm(f, x)
        before = calls()
        out = f(x)
        assert calls() == before + (np.dtype(target) != np.float32) or astype_table_full()
        same(out, general_path(f, x))


def test_keyed_on_static_argument_weak_type_and_x64():
    x = jnp.asarray(np.linspace(-2, 2, 8, dtype=np.float32))
    warm(lambda v: v ** 2, x)
    warm(lambda v: v.astype(jnp.int32), x)
    warm(lambda v: v > 0, x)
    for f in [lambda: x ** 3, lambda: x ** 2.0, lambda: x ** True, lambda: x.astype(np.int8),
              lambda: x > 0.5 + 0j]:
        before = calls()
        out = f()
        assert calls() == before  # never warmed: the Python path
        same(out, general_path(f))
    weak = jnp.asarray(2.0) * x[0] / x[0] + 0 * jnp.asarray(1.0)
    w = Array(np.float32(1.5), weak_type=True)
    for f in [lambda: w ** 2, lambda: w.astype(jnp.int32), lambda: w > 0]:
        before = calls()
        out = f()
        assert calls() == before
        same(out, general_path(f))
    assert weak.dtype == np.float32
    with enable_x64():
        for f in [lambda: x ** 2, lambda: x.astype(jnp.int32), lambda: x.astype(int),
                  lambda: x > 0.5]:
            before = calls()
            out = f()
            assert calls() == before  # static entries and float scalars: not under x64
            same(out, general_path(f))
        assert x.astype(int).dtype == np.int64
    assert x.astype(int).dtype == np.int32


def test_result_types_remembered_per_operand_type():
    """More operand types than the table of result types holds: each result still has its
    own type (the oldest pairs are replaced and their calls take the Python path once)."""
    arrays = [jnp.asarray(np.arange(n, dtype=np.float32) - 2) for n in range(1, 14)]
    for _ in range(3):
        for a in arrays:
            warm(lambda v: v > 0, a)
            for f in [lambda v: v > 0, lambda v: v.astype(jnp.int32)]:
                same(f(a), general_path(f, a))
    assert all(n is None or len(n.aval_refs) == 3 * eager_entry._AVALS
               for n in eager_entry._natives.values())


def test_errors_unchanged_with_warm_entries():
    x = jnp.asarray(np.linspace(-2, 2, 8, dtype=np.float32))
    i = jnp.asarray(np.arange(8, dtype=np.int32))
    for f in [lambda v: v ** 2, lambda v: v.astype(jnp.int32), lambda v: v > 0]:
        warm(f, x)
        warm(f, i)
    cases = [lambda: x.astype("not a dtype"), lambda: x > "a", lambda: x < None,
             lambda: i ** -1, lambda: x.astype(jnp.int32, 5), lambda: x.__pow__(),
             lambda: x > jnp.ones(3), lambda: x.__gt__(1, 2)]
    for f in cases:
        assert_same_error(f, general_path)
    assert (x == None) is False and (x != None) is True  # noqa: E711


def test_transformations_never_take_the_native_entries():
    x = jnp.asarray(np.linspace(-2, 2, 8, dtype=np.float32))
    f = lambda v: jnp.sum((v ** 2).astype(jnp.int32) + (v > 0))  # noqa: E731
    warm(f, x)
    before = calls()
    funcjax.make_jaxpr(f)(x)
    funcjax.jit(f)(x)
    funcjax.vmap(f)(x[None])
    funcjax.grad(lambda v: jnp.sum(v ** 2 * (v > 0)))(x)
    assert calls() == before


def _drawn_array(data, dtype, shape, spread):
    """An Array of ``shape`` from drawn values; float32 values are scaled along a ramp up to
    ``spread`` so that sums of them round differently in different orders."""
    n = int(np.prod(shape))
    raw = np.resize(np.asarray(data.draw(values(dtype)), dtype), n).reshape(shape)
    scale = np.linspace(1, spread, n).reshape(shape).astype(dtype) if dtype == np.float32 else 1
    with np.errstate(over="ignore"):
        return jnp.asarray(raw * scale if n else raw)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.float32, np.int32, np.uint32]), st.data(),
       st.sampled_from([(8,), (2, 4), (), (1,), (7,), (129,), (3, 5, 7), (16384,), (16385,)]))
def test_sum_and_mean_equal_general_path(dtype, data, shape):
    x = _drawn_array(data, dtype, shape, 1e3)
    n = x.size
    warm(jnp.sum, x)
    warm(lambda v: v.sum(), x)
    for f in [jnp.sum, lambda v: v.sum(), jnp.mean, lambda v: v.mean()]:
        before = calls()
        out = f(x)
        if f is jnp.sum and 0 < len(shape) and n <= eager_entry.MAX_SIZE:  # (0-d: itself)
            assert calls() == before + 1
        same(out, general_path(f, x))
        np.testing.assert_allclose(np.asarray(out), np.asarray(funcjax.jit(f)(x)), rtol=2e-4,
                                   atol=1e-3 * float(np.abs(np.asarray(x, np.float64)).sum()))
    from funcjax.numpy import _reductions
    for axis in [None, *range(-len(shape), len(shape))]:
        same(jnp.mean(x, axis), general_path(lambda v, a=axis: _reductions._mean(v, a), x))
        same(x.mean(axis=axis), general_path(lambda v, a=axis: _reductions._mean(v, a), x))


def test_sum_keywords_axes_and_errors_with_warm_entries():
    x = jnp.asarray(np.arange(8, dtype=np.float32).reshape(2, 4))
    warm(jnp.sum, x)
    warm(lambda v: v.sum(), x)
    for f in [lambda v: jnp.sum(v, axis=0), lambda v: v.sum(axis=1), lambda v: v.sum(0),
              lambda v: jnp.sum(v, keepdims=True), lambda v: v.sum(dtype=jnp.int32),
              lambda v: jnp.sum(v, initial=1.0), lambda v: jnp.sum(v, where=v > 2, initial=0.),
              lambda v: jnp.sum(a=v), lambda v: jnp.mean(v, axis=1), lambda v: v.mean(0),
              lambda v: v.sum(True), lambda v: v.sum(axis=(0,)), lambda v: v.sum((0, 1)),
              lambda v: jnp.sum(v, np.int64(1)), lambda v: v.sum(axis=None),
              lambda v: jnp.sum(np.asarray(v)), lambda v: jnp.sum(v[0][0]),
              lambda v: jnp.sum(Array(np.ones(3, np.float32), weak_type=True)),
              lambda v: jnp.mean(v.astype(jnp.int32))]:
        same(f(x), general_path(f, x))
    for f in [lambda: jnp.sum(x, axis=2), lambda: x.sum(out=np.zeros(())), lambda: x.sum(1, 2),
              lambda: x.sum(axis=-3), lambda: jnp.sum(x, 10**30), lambda: x.sum(axis=1.0),
              lambda: jnp.sum(x, foo=1), lambda: jnp.sum(), lambda: x.mean(axis=(0, 0))]:
        assert_same_error(f, general_path)


def test_sums_keyed_on_x64():
    i = jnp.asarray(np.arange(8, dtype=np.int32))
    f = jnp.asarray(np.arange(8, dtype=np.float32))
    with enable_x64():
        warm(jnp.sum, i)  # the entry is built without x64 only
        assert jnp.sum(i).dtype == np.int64
    warm(jnp.sum, i)
    warm(jnp.sum, f)
    assert jnp.sum(i).dtype == np.int32
    with enable_x64():
        for x in (i, f):
            before = calls()
            out = jnp.sum(x)
            assert calls() == before
            same(out, general_path(jnp.sum, x))
        assert jnp.sum(i).dtype == np.int64 and jnp.mean(f).dtype == np.float32


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.float32, np.int32, np.uint8, np.int16]), st.data(), SHAPES,
       st.sampled_from(["array", "scalar", "int"]))
def test_where_equals_python_path_and_jit(dtype, data, shape, other):
    x = array(dtype, data.draw(values(dtype)), shape)
    c = jnp.asarray(np.resize(np.asarray(data.draw(st.lists(st.booleans(), min_size=1))),
                              x.shape))
    y = {"array": jnp.asarray(np.roll(np.asarray(x), 1)),
         "scalar": -0.0 if dtype == np.float32 else 3, "int": 2}[other]
    warm(lambda v: jnp.where(c, v, y), x)
    before = calls()
    out = jnp.where(c, x, y)
    native = eager_entry._natives.get(jnp.where.__wrapped__)
    adapts = _util._takes_scalar(np.dtype(dtype), type(y), y, False) if other != "array" else 1
    assert calls() == before + bool(x.shape and adapts and native is not None and
                                    native.used < native.size) or not x.shape
    same(out, general_path(jnp.where, c, x, y))
    same(out, funcjax.jit(jnp.where)(c, x, y))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_where_falls_back_with_its_checks():
    x = jnp.asarray(np.linspace(-2, 2, 8, dtype=np.float32))
    c = x > 0
    warm(lambda v: jnp.where(c, v, 0.0), x)
    for f in [lambda: jnp.where(c, x, 0.5), lambda: jnp.where(c, 0.5, x),
              lambda: jnp.where(x, x, 0.0), lambda: jnp.where(c[:1], x, 0.0),
              lambda: jnp.where(c, x, np.float32(1)), lambda: jnp.where(c, x, 1e40),
              lambda: jnp.where(c, x, x.astype(jnp.int32)), lambda: jnp.where(c),
              lambda: jnp.where(c, x, 0.0, size=None),
              lambda: jnp.where(Array(np.asarray([True] * 8), weak_type=True), x, 0.0)]:
        out, expected = f(), general_path(f)
        for a, b in zip(*[o if isinstance(o, tuple) else (o,) for o in (out, expected)]):
            same(a, b)
    for f in [lambda: jnp.where(c, x), lambda: jnp.where(c, x, jnp.ones(3)),
              lambda: jnp.where(c, x, 0.0, foo=1), lambda: jnp.where(c, x, "a")]:
        assert_same_error(f, general_path)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.float32, np.int32]), st.data(),
       st.sampled_from([(2, 4), (3, 5, 7), (1, 8), (8, 1), (4, 3, 2, 5), (100, 3), (3, 100),
                        (8,), (2, 0, 3)]))
def test_reductions_over_one_axis_equal_general_path(dtype, data, shape):
    x = _drawn_array(data, dtype, shape, 1e4)
    n = x.size
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
    name = data.draw(st.sampled_from(["sum", "prod"] + ["max", "min"] * bool(n)))
    fn = getattr(jnp, name)
    forms = [lambda v: fn(v, axis=axis), lambda v: fn(v, axis),
             lambda v: getattr(v, name)(axis), lambda v: getattr(v, name)(axis=axis)]
    for f in forms:
        warm(f, x)
    for f in forms:
        before = calls()
        out = f(x)
        assert calls() == before + 1 or not n
        same(out, general_path(f, x))


def test_reducing_an_axis_of_a_0d_array_is_a_clear_error():
    e = jnp.asarray(np.float32(3))
    for f in [lambda: e.sum(0), lambda: jnp.sum(e, axis=-1), lambda: jnp.max(e, 0),
              lambda: jnp.mean(e, axis=0)]:
        with pytest.raises(ValueError, match="out of bounds for a"):
            f()
    assert float(e.sum()) == float(jnp.sum(e, axis=None)) == float(jnp.sum(e, ())) == 3.0


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.float32, np.int32, np.uint8]), st.data(),
       st.sampled_from([(8,), (2, 4), (3, 5, 7), ()]), st.sampled_from(["max", "min", "prod"]))
def test_cached_max_min_prod_equal_numpy_and_jit(dtype, data, shape, name):
    n = int(np.prod(shape))
    raw = np.resize(np.asarray(data.draw(values(dtype)), dtype), n).reshape(shape)
    x = jnp.asarray(raw)
    axis = data.draw(st.sampled_from([None, *range(-len(shape), len(shape))]))
    f = lambda v: getattr(jnp, name)(v, axis)  # noqa: E731
    warm(f, x)
    out = f(x)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(raw, axis=axis)
        if name == "prod" and np.dtype(dtype).itemsize < 4:
            want = want.astype(np.int32)
    same(out, general_path(f, x))
    assert np.asarray(out).dtype == np.asarray(want).dtype or name == "prod"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(want).astype(out.dtype))
    if name != "prod":  # (jit may pick the other of equal -0. and 0.; eager is numpy's)
        jitted = funcjax.jit(f)(x)
        assert (jitted.dtype, jitted.shape) == (out.dtype, out.shape)
        np.testing.assert_array_equal(np.asarray(jitted), np.asarray(out))


def test_max_of_empty_still_raises_with_warm_caches():
    x = jnp.asarray(np.ones((2, 3), np.float32))
    warm(lambda v: jnp.max(v, 0), x)
    e = jnp.asarray(np.ones((0, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        jnp.max(e, 0)
    with pytest.raises(ValueError, match="empty"):
        e.min(axis=0)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([np.float32, np.int32, np.uint8, np.int8]), st.data(), SHAPES)
def test_abs_and_square_equal_general_path(dtype, data, shape):
    x = array(dtype, data.draw(values(dtype)), shape)
    for f in [jnp.abs, abs, jnp.absolute, jnp.square]:
        warm(f, x)
        out = f(x)
        same(out, general_path(f, x))
        same(out, funcjax.jit(f)(x))
    if np.dtype(dtype).kind == "u":  # as on the Python path: the array itself
        assert jnp.abs(x) is x and abs(x) is x
    for v in [jnp.asarray([True, False]), jnp.asarray(-2.5), [1, -2], 3]:
        for f in [jnp.abs, jnp.square]:
            same(jnp.asarray(f(v)), general_path(lambda w, f=f: jnp.asarray(f(w)), v))
