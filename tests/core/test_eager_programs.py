"""Eager programs (``funcjax.numpy._programs``): shape, indexing and contraction functions
replay the primitives they were traced to once their key is warm. The replay must give the
general function's results exactly (values, dtype, weak type), and every call the cache does
not take (tracers, errors, warnings, deleted or committed arrays) keeps the general path."""

import warnings

import numpy as np
import pytest
from eager_helpers import bits, warm, without_programs  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.config import enable_x64
from funcjax.core import placement

F32 = np.float32


@pytest.fixture(autouse=True)
def uncommitted(monkeypatch):
    # A committed array (another test may have made one) turns placement tracking on for the
    # process, and then no program is taken: these tests run as in a fresh process.
    monkeypatch.setattr(placement.state, "active", False)


CASES = {
    "reshape": (lambda x: x.reshape(2, -1), lambda a: a.reshape(2, -1)),
    "reshape_tuple": (lambda x: jnp.reshape(x, (x.size,)), lambda a: a.reshape(a.size)),
    "T": (lambda x: x.T, lambda a: a.T),
    "int": (lambda x: x[1], lambda a: a[1]),
    "negative": (lambda x: x[-1], lambda a: a[-1]),
    "slice": (lambda x: x[1:3], lambda a: a[1:3]),
    "step": (lambda x: x[::-2], lambda a: a[::-2]),
    "none_ellipsis": (lambda x: x[None, ..., 0], lambda a: a[None, ..., 0]),
    "matmul_vec": (lambda x: x.reshape(-1) @ x.reshape(-1),
                   lambda a: a.reshape(-1) @ a.reshape(-1)),
    "matmul": (lambda x: x @ x.T, lambda a: a @ a.T),
    "where": (lambda x: jnp.where(x > 0, x, 0.5), lambda a: np.where(a > 0, a, F32(0.5))),
    "square": (lambda x: x ** 2, lambda a: a ** 2),
    "cube": (lambda x: x ** 3, lambda a: a * a * a),
    "greater": (lambda x: x > 0, lambda a: a > 0),
    "less_scalar_left": (lambda x: 1 < x, lambda a: 1 < a),
    "astype": (lambda x: x.astype(jnp.int32), lambda a: a.astype(np.int32)),
    "swapaxes": (lambda x: jnp.swapaxes(x, 0, -1), lambda a: np.swapaxes(a, 0, -1)),
    "expand": (lambda x: jnp.expand_dims(x, 0), lambda a: a[None]),
}


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(sorted(CASES)),
       shape=st.sampled_from([(4,), (2, 4), (4, 2)]),
       seed=st.integers(0, 2**16))
def test_warm_replays_equal_numpy_and_the_general_path(case, shape, seed):
    fn, ref = CASES[case]
    a = np.random.default_rng(seed).standard_normal(shape).astype(F32)
    x = jnp.asarray(a)
    for other in (a.astype(np.float16), (a * 100).astype(np.int32), np.float32(a[0])):
        y = jnp.asarray(other) if not isinstance(other, np.float32) else jnp.asarray(
            float(other))  # a weak 0-d array
        try:
            want = without_programs(fn, y)
        except Exception as e:  # noqa: BLE001 - then the warm calls raise the same
            for _ in range(3):
                with pytest.raises(type(e)):
                    fn(y)
        else:
            assert bits(warm(fn, y)) == bits(want)
    if case == "cube":  # numpy's cube of float32 may round differently from x*x*x
        np.testing.assert_allclose(np.asarray(warm(fn, x)), ref(a), rtol=1e-6)
        return
    if case.startswith("matmul"):
        np.testing.assert_allclose(np.asarray(warm(fn, x)), ref(a), rtol=1e-5, atol=1e-6)
    else:
        assert bits(warm(fn, x))[:3] == bits(ref(a))[:3]
    assert bits(warm(fn, x)) == bits(without_programs(fn, x))


def test_mean_and_matmul_equal_the_general_path():
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype=F32))
    for fn in (lambda x: x.mean(), lambda x: x @ x, lambda x: jnp.where(x > 0, x, 0.),
               lambda x: x.reshape(2, 4).mean(axis=0)):
        assert bits(warm(fn, x)) == bits(without_programs(fn, x))


def test_replays_are_taken(replays):
    x = jnp.asarray(np.ones(8, F32))
    for fn in (lambda: x.reshape(2, 4), lambda: x[0], lambda: x @ x, lambda: jnp.power(x, 2)):
        warm(fn)
        before = len(replays)
        fn()
        assert len(replays) == before + 1


def test_weak_and_strong_types_are_keyed_apart():
    weak = jnp.asarray(2.0)
    strong = jnp.asarray(np.float32(2.0))
    assert weak.weak_type and not strong.weak_type
    assert warm(lambda x: x.reshape(1), weak).weak_type
    assert not warm(lambda x: x.reshape(1), strong).weak_type
    assert warm(lambda x: x.reshape(1), weak).weak_type
    assert warm(lambda x: x ** 2, weak).weak_type
    assert warm(jnp.where, jnp.asarray(True), weak, 1.0).weak_type


def test_static_values_are_keyed_exactly():
    x = jnp.asarray(np.ones(4, F32))
    zero = warm(jnp.where, x > 2, x, 0.0)
    negzero = warm(jnp.where, x > 2, x, -0.0)
    assert np.signbit(np.asarray(negzero)).all() and not np.signbit(np.asarray(zero)).any()
    assert warm(lambda: x ** 2).tolist() == [1.0] * 4
    assert warm(lambda: (x * 3) ** 3).tolist() == [27.0] * 4
    assert warm(lambda: x[True]).shape == (1, 4)  # bool is not int 1
    assert warm(lambda: x[1]).shape == ()


def test_x64_is_in_the_key():
    x = jnp.asarray(np.ones(4, F32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert warm(jnp.astype, x, float).dtype == np.float32
    with enable_x64():
        assert warm(jnp.astype, x, float).dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert warm(jnp.astype, x, float).dtype == np.float32


def test_warnings_are_not_cached():
    x = jnp.asarray(np.ones(4, F32))
    for _ in range(4):
        with pytest.warns(UserWarning):
            jnp.astype(x, np.float64)


@pytest.mark.parametrize("bad", [
    lambda x: x.reshape(3, 3),
    lambda x: x[10],
    lambda x: x[0, 0, 0],
    lambda x: x @ x.reshape(2, 4),
    lambda x: jnp.transpose(x, (1, 0)),
    lambda x: jnp.astype(x, "not a dtype"),
    lambda x: jnp.where(x),
])
def test_errors_with_warm_caches(bad):
    x = jnp.asarray(np.ones(8, F32))
    warm(lambda: (x.reshape(2, 4), x[1], x @ x, x.T, x.astype(jnp.int32)))

    def outcome(fn):
        try:
            out = fn(x)
        except Exception as e:  # noqa: BLE001 - compared below
            return type(e), str(e)
        return "no error", bits(out)
    expected = without_programs(outcome, bad)
    assert [outcome(bad) for _ in range(4)] == [expected] * 4


def test_deleted_arrays_raise_with_warm_caches():
    x = jnp.asarray(np.ones(8, F32))
    warm(lambda: x.reshape(2, 4))
    y = jnp.asarray(np.ones(8, F32))
    y.delete()
    with pytest.raises(RuntimeError, match="deleted"):
        y.reshape(2, 4)
    with pytest.raises(RuntimeError, match="deleted"):
        y[0]


def test_transformations_never_replay(replays):
    x = jnp.asarray(np.arange(8, dtype=F32))

    def f(x):
        y = x.reshape(2, 4)
        return jnp.mean(y[0] @ y.T + x[1:3] ** 2)
    warm(f, x)
    before = len(replays)
    g = funcjax.grad(f)(x)
    j = funcjax.jit(f)(x)
    v = funcjax.vmap(f)(jnp.stack([x, x]))
    funcjax.make_jaxpr(f)(x)
    assert len(replays) == before
    with funcjax.disable_jit():
        g_ref = funcjax.grad(f)(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(v), [float(j)] * 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(f(x)), np.asarray(j), rtol=1e-6)


def test_committed_arrays_keep_their_device(monkeypatch):
    devices = funcjax.devices()
    if len(devices) < 2:
        pytest.skip("one device")
    x = jnp.asarray(np.ones(8, F32))
    warm(lambda: x.reshape(2, 4))
    y = funcjax.device_put(jnp.ones(8, F32), devices[-1])
    assert y.reshape(2, 4).devices() == {devices[-1]}
    assert y[0].devices() == {devices[-1]}


def test_unkeyed_arguments_take_the_general_path(replays):
    x = jnp.asarray(np.arange(8, dtype=F32))
    assert warm(lambda: x[[0, 1]]).tolist() == [0.0, 1.0]
    assert warm(lambda: x[np.array([2])]).tolist() == [2.0]
    assert warm(lambda: jnp.reshape(np.ones(4), (2, 2))).shape == (2, 2)
    assert not replays


def test_identity_results_match_the_general_path():
    # A function that returns its argument unchanged returns the same Array object on both
    # paths (deleting the result then deletes the argument on both alike).
    x = jnp.asarray(np.arange(8, dtype=F32))
    for fn in (lambda: jnp.where(True, x, x), lambda: jnp.squeeze(x), lambda: x ** 1,
               lambda: x.astype(jnp.float32), lambda: x[...], lambda: x[None][0],
               lambda: x.mean(axis=()), lambda: jnp.reshape(x, (-1,))):
        assert (warm(fn) is x) == (without_programs(fn) is x)
