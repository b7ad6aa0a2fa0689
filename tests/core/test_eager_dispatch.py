"""Eager dispatch: the type-rule cache is keyed on everything a rule reads (input types, weak
types, parameters with their Python types, the x64 flag), its fast paths agree with the
general path and with jit, and nothing it skips was a check."""

import threading
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.config import enable_x64
from funcjax.core import type_cache
from funcjax.ops import elementwise as ew
from funcjax.ops import shape as sh


def _signature(x):
    return (np.asarray(x).tolist(), x.dtype, x.weak_type)


def test_weak_and_strong_inputs_are_cached_apart():
    strong = jnp.asarray(np.float32(1.5))
    weak = lax.add(jnp.asarray(1.5), 0.0)
    assert weak.weak_type and not strong.weak_type
    for _ in range(2):  # the second round reads the warm cache
        assert lax.add(weak, weak).weak_type
        assert not lax.add(strong, strong).weak_type
        assert not lax.add(strong, weak).weak_type


def test_x64_flag_is_part_of_the_key():
    def iota():
        return sh.iota_p.bind(dtype=np.dtype(np.int64), shape=(3,), dimension=0)
    for _ in range(2):
        assert iota().dtype == np.int32
        with enable_x64():
            assert iota().dtype == np.int64
            assert (jnp.asarray(2) + 1).dtype == np.int64
        assert (jnp.asarray(2) + 1).dtype == np.int32


def test_parameters_are_keyed_with_their_python_types():
    x = jnp.asarray(np.arange(3, dtype=np.float32))
    np.testing.assert_allclose(ew.integer_pow_p.bind(x, y=2), [0, 1, 4])
    # 2.0 == 2 and hash(2.0) == hash(2): without type tags the warm entry would skip the check.
    with pytest.raises(TypeError, match="exponent must be a Python int"):
        ew.integer_pow_p.bind(x, y=2.0)
    with pytest.raises(TypeError, match="exponent must be a Python int"):
        ew.integer_pow_p.bind(x, y=2.0)


def test_failed_type_checks_are_never_cached():
    a = jnp.ones(3, np.float32)
    b = jnp.ones(4, np.float32)
    for _ in range(2):
        with pytest.raises(TypeError, match="equal shapes"):
            lax.add(a, b)
    np.testing.assert_array_equal(lax.add(a, a), [2, 2, 2])


def test_unhashable_and_structured_params_bypass_or_key_correctly():
    x = jnp.asarray(np.float32(2.0))
    for shape in ([3], (3,), [3]):  # a list is keyed by value and type, never by identity
        out = sh.broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=())
        assert out.shape == (3,)
    before = type_cache.size()
    # A param holding an array cannot be a key: the rule still runs, nothing is stored.
    assert type_cache._params_key({"a": 1}) != type_cache._params_key({"a": 1.0})
    with pytest.raises(type_cache._UncacheableError):
        type_cache._params_key({"fill": np.zeros(2)})
    assert type_cache.size() >= before


def test_eager_results_are_immutable():
    x = jnp.asarray(np.arange(4, dtype=np.float32))
    y = x * 2 + x
    view = np.asarray(y)
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 7.0
    np.testing.assert_array_equal(np.asarray(y), [0, 3, 6, 9])


def test_ieee_results_without_warnings_and_user_error_state_untouched():
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = jnp.asarray(np.float32([1.0, -1.0, 0.0])) / 0.0
        np.testing.assert_array_equal(np.isinf(out), [True, True, False])
    assert np.geterr() == before
    with pytest.warns(RuntimeWarning):  # numpy outside funcjax still warns as configured
        np.divide(np.ones(1), np.zeros(1))


def test_eager_evaluation_in_threads():
    x = jnp.asarray(np.arange(8, dtype=np.float32))
    results, errors = [], []

    def work():
        try:
            results.append(np.asarray(jnp.sum(jnp.sin(x) * 2 + 1)))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = np.sum(np.sin(np.arange(8, dtype=np.float32)) * 2 + 1)
    for r in results:
        np.testing.assert_allclose(r, expected, rtol=1e-6)


DTYPES = [np.float32, np.float16, np.int32, np.uint8, np.int8, np.bool_]
SCALARS = [2, -3, 2.5, True, 300, 2**31 - 1, 2**40]
OPS = [lambda a, b: a * b, lambda a, b: b + a, lambda a, b: a - b, lambda a, b: b / a,
       lambda a, b: jnp.maximum(a, b)]


def _outcome(fn, *args):
    try:
        out = fn(*args)
    except (TypeError, OverflowError, ValueError) as e:
        return type(e)
    return _signature(out)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 2**31 - 1 to float16
@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalar_fast_path_matches_jit(dtype):
    """``x op scalar`` eagerly (fast path) against the same under jit, which always takes
    the general promotion path; errors must match too."""
    x = jnp.asarray(np.array([0, 1, 3], dtype=dtype))
    for op in OPS:
        for s in SCALARS:
            eager = _outcome(op, x, s)
            staged = _outcome(funcjax.jit(lambda a, op=op, s=s: op(a, s)), x)
            if isinstance(eager, tuple) and isinstance(staged, tuple):
                np.testing.assert_allclose(np.asarray(eager[0], float),
                                           np.asarray(staged[0], float), rtol=1e-3)
                assert eager[1:] == staged[1:], (dtype, s)
            else:
                assert eager == staged, (dtype, s, eager, staged)


def _programs():
    return [
        lambda x: x + x,
        lambda x: x * 2 + 1,
        lambda x: jnp.sum(jnp.sin(x) * 2.0 + 1),
        lambda x: jnp.tanh(x) @ jnp.ones((x.shape[-1],), x.dtype),
        lambda x: jnp.maximum(x, 0.5) - jnp.exp(-x),
        lambda x: jnp.mean(x ** 2, axis=0),
    ]


@given(st.integers(0, 5), st.sampled_from([np.float32, np.float16]),
       st.lists(st.floats(-3, 3, width=16), min_size=6, max_size=6))
def test_eager_equals_jit_after_warm_caches(k, dtype, values):
    f = _programs()[k]
    x = jnp.asarray(np.array(values, dtype=dtype).reshape(2, 3))
    first = f(x)
    again = f(x)  # warm caches
    jitted = funcjax.jit(f)(x)
    for out in (first, again):
        assert out.dtype == jitted.dtype and out.weak_type == jitted.weak_type
        np.testing.assert_allclose(np.asarray(out, np.float64),
                                   np.asarray(jitted, np.float64), rtol=2e-3, atol=2e-3)


def test_grad_with_scalar_constants_matches_jit():
    f = _programs()[2]
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype=np.float32))
    g = funcjax.grad(f)
    np.testing.assert_allclose(g(x), 2 * np.cos(np.asarray(x)), rtol=1e-6)
    np.testing.assert_allclose(g(x), funcjax.jit(g)(x), rtol=1e-6)
    # The staged program still shows the scalar as a literal broadcast, not a baked array.
    text = str(funcjax.make_jaxpr(f)(x))
    assert "broadcast_in_dim" in text


def test_checked_calls_are_keyed_on_types_scalar_kind_and_x64():
    x = jnp.asarray(np.float32([1.5, -2.0]))
    i = jnp.asarray(np.int32([3, -4]))
    for _ in range(2):  # the second round reads the warm cache
        assert _signature(x * 2) == ([3.0, -4.0], np.float32, False)
        assert _signature(i * 2) == ([6, -8], np.int32, False)
        assert _signature(i * 2.5) == _signature(funcjax.jit(lambda v: v * 2.5)(i))  # promotes
        assert _signature(2 - i) == ([-1, 6], np.int32, False)
        with pytest.raises(OverflowError):
            i * 2**40
        with enable_x64():
            assert (i * 2).dtype == np.int32
            assert _signature(jnp.asarray(np.float64([1.0])) * 2) == ([2.0], np.float64, False)
        assert _signature(jnp.sin(x)) == (np.sin(np.float32([1.5, -2.0])).tolist(),
                                          np.float32, False)
        weak = lax.add(jnp.asarray(1.5), 0.0)
        assert (weak + weak).weak_type and not (x + x).weak_type


def test_checked_calls_still_raise():
    a, b = jnp.ones(3, np.float32), jnp.ones(4, np.float32)
    for _ in range(2):
        with pytest.raises(TypeError, match="incompatible shapes"):
            jnp.add(a, b)
        with pytest.raises(ValueError, match="out of bounds"):
            jnp.sum(a, axis=1)
    np.testing.assert_array_equal(jnp.sum(a, axis=0), 3.0)


@given(st.sampled_from([np.float32, np.float16, np.int32, np.int8, np.uint8, np.bool_]),
       st.sampled_from([None, 0, 1, -1, (0, 1), (1,), ()]),
       st.booleans())
def test_eager_sum_equals_jit_after_warm_caches(dtype, axis, weak):
    x = jnp.asarray(np.arange(6).reshape(2, 3).astype(dtype))
    if weak and dtype != np.bool_:
        x = lax.convert_element_type(x, x.dtype, weak_type=True)

    def f(v):
        return jnp.sum(v, axis=axis)
    staged = _signature(funcjax.jit(f)(x))
    general = jnp.sum(x, axis=axis, keepdims=True)  # keepdims: never the fast path
    assert staged[1:] == (general.dtype, general.weak_type)
    for _ in range(2):
        out = _signature(f(x))
        np.testing.assert_allclose(np.asarray(out[0], float), np.asarray(staged[0], float))
        assert out[1:] == staged[1:]
