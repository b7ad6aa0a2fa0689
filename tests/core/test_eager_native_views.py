"""Native entries of moves and products (``backend/llvm/eager_views.py``): a warm ``x[i]``,
``x.reshape``, ``x.T`` or ``x @ y`` replays its checked program in native code. The result must
be exactly what the Python path gives (values, dtype, weak type, aval, writeable flag, a
view of the operand's buffer for moves and a private fresh buffer for products), and every
call the Python path treats otherwise (errors, x64, debug_nans, transformations, committed
arrays, other strides) must keep taking it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.config import config, enable_x64
from funcjax.core.array import Array

pytest.importorskip("llvmlite")
from eager_helpers import assert_same_error, python_path, without_programs  # noqa: E402

from funcjax.backend.llvm import eager_views  # noqa: E402
from funcjax.numpy import _programs  # noqa: E402

if eager_views._layout() is None:
    pytest.skip("no native entries on this interpreter", allow_module_level=True)

F32 = np.float32
WARM = _programs._NativeMoves.NATIVE_AFTER + _programs.BUILD_AFTER + 2


def calls():
    return sum(m.calls for m in eager_views._moves.values() if m is not None)


def warm_native(fn, *args):
    """``(result of the last call, how many native calls it made)`` after enough calls of
    ``fn`` that native entries exist for it (where they can)."""
    for _ in range(WARM):
        fn(*args)
    before = calls()
    out = fn(*args)
    return out, calls() - before


def described(x):
    """Everything a result must share with the Python path's."""
    v = x._value
    return (type(x), x._aval, x.weak_type, v.dtype, v.shape, v.tobytes(), v.flags.writeable,
            v.flags.c_contiguous, v.base is not None)


def general(fn, *args):
    return python_path(fn, *args, programs=False)


def check(fn, *args, native=1):
    out, ran = warm_native(fn, *args)
    assert ran == native
    assert described(out) == described(general(fn, *args))
    assert described(fn(*args)) == described(out)  # (and again, natively)
    return out


def operand(shape, dtype=F32, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape) * 5
    return jnp.asarray(values.astype(dtype))


SHAPES = [(8,), (2, 4), (3, 1, 2), (4, 1)]
DTYPES = [np.float32, np.int32, np.bool_, np.float16, np.uint8]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_indexing_equals_the_general_path(shape, dtype):
    x = operand(shape, dtype)
    for index in [0, -1, 1, slice(1, 3), slice(None, None, -1), slice(-3, None, 2),
                  slice(3, 0, -2), None, (0, None), (Ellipsis, 0), (slice(None), 0)]:
        if isinstance(index, tuple) and len(shape) < 2:
            continue
        out = check(lambda v, i=index: v[i], x)
        np.testing.assert_array_equal(out, np.asarray(x)[index])
        assert np.shares_memory(out._value, x._value)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_moves_equal_the_general_path(dtype):
    m = operand((2, 3, 4), dtype)
    for fn in [lambda v: v.reshape(6, 4), lambda v: v.reshape((4, 6)), lambda v: v.reshape(-1),
               lambda v: v.T, lambda v: v.mT, lambda v: v.transpose(1, 0, 2),
               lambda v: v.transpose((2, 0, 1)), lambda v: v.swapaxes(0, 2),
               lambda v: v[1, :, ::-1]]:
        check(fn, m)
    check(lambda v: v[1].T, m, native=2)
    check(lambda v: v.reshape(1, 24, 1).squeeze(), m, native=2)
    check(lambda v: v.reshape(2, 4), operand((8,), dtype))
    check(lambda v: v.T, operand((), dtype), native=False)  # (the input itself)
    check(lambda v: v.reshape(()), operand((1,), dtype))


def test_non_contiguous_and_zero_d_operands():
    m = operand((4, 6))
    t = m.T  # a view with other strides: keyed by strides, still a view
    check(lambda v: v[1], t)
    check(lambda v: v[::2], m[:, 1:])
    check(lambda v: v[1:3], m[::-1, 0])
    check(lambda v: v.reshape(24), t, native=False)  # a copy: the Python path
    check(lambda v: v.reshape(1, 1), operand(()))


def test_errors_and_clamped_indices_are_as_before():
    x = operand((8,))
    warm_native(lambda: x[3])
    for bad in (lambda: x[0, 0], lambda: x.reshape(3, 3), lambda: x.reshape(3, -1),
                lambda: x.swapaxes(0, 1), lambda: x[1.5], lambda: x.reshape(2.0, 4)):
        for _ in range(WARM):
            assert_same_error(bad, general)
    for clamped in (8, -9, 2**70, -2**70):  # (out-of-range ints clamp, as in JAX)
        check(lambda i=clamped: x[i], native=abs(clamped) < 2**63)


def test_keys_separate_weak_types_static_values_and_bools():
    strong = operand((6,))
    weak = Array(np.asarray(strong), weak_type=True)
    for v in (strong, weak):
        assert check(lambda v=v: v[1:3]).weak_type == v.weak_type
        assert check(lambda v=v: v.reshape(2, 3)).weak_type == v.weak_type
    assert check(lambda: strong[1:4]).shape == (3,)
    assert check(lambda: strong.reshape(3, 2)).shape == (3, 2)
    # bools are not ints for keys (``x[True]`` adds an axis), nor for the entry
    assert check(lambda: strong[True], native=False).shape == (1, 6)
    assert check(lambda: strong[True:3], native=False).tolist() == strong[1:3].tolist()


def test_x64_debug_nans_and_disabled_programs_take_the_python_path():
    x = operand((2, 4))
    y = operand((4, 3), seed=1)
    warm_native(lambda: x[1])
    warm_native(lambda: x @ y)
    for fn in (lambda: x[1], lambda: x @ y):
        assert warm_native(fn)[1] == 1
        before = calls()
        with enable_x64():
            out = fn()
        assert calls() == before
        assert described(out) == described(fn())
        before = calls()
        config.update("jax_debug_nans", True)
        try:
            out = fn()
        finally:
            config.update("jax_debug_nans", False)
        assert calls() == before
        out2 = without_programs(fn)
        assert calls() == before
        assert described(out) == described(out2) == described(fn())
        assert calls() == before + 1
    with enable_x64():  # a key of its own
        z = jnp.asarray(np.arange(6.0))
        assert check(lambda: z[2:]).dtype == np.float64
        assert check(lambda: z @ z).dtype == np.float64


PRODUCTS = [((8,), (8,)), ((2, 4), (4, 2)), ((2, 4), (4,)), ((4,), (4, 3)), ((3, 3), (3, 3)),
            ((1, 5), (5, 1)), ((5, 1), (1, 5))]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float16, np.int8])
@pytest.mark.parametrize("shapes", PRODUCTS)
def test_products_equal_the_general_path(shapes, dtype):
    x, y = operand(shapes[0], dtype), operand(shapes[1], dtype, seed=1)
    out = check(lambda: x @ y)
    assert not np.shares_memory(out._value, x._value)
    assert out._value is not check(lambda: x @ y)._value


def test_products_of_views_and_weak_operands():
    m = operand((2, 4))
    check(lambda: m @ m.T, native=2)  # ``m.T`` is native too, and of other strides
    check(lambda: m.T @ m, native=2)
    check(lambda: m[:, ::2] @ m[:, 1::2].T, native=4)
    weak = Array(np.asarray(m), weak_type=True)
    check(lambda: weak @ weak.T, native=2)
    i = operand((4, 2), np.int32)
    check(lambda: m @ i, native=False)  # promotes
    check(lambda: m @ np.ones((4, 2), F32), native=False)  # not an Array


def test_transformations_and_committed_arrays_take_the_python_path():
    m = operand((3, 4))
    warm_native(lambda: m[1])
    warm_native(lambda: m.T)
    warm_native(lambda: m @ m.T)
    warm_native(lambda: m.reshape(4, 3))

    def f(v):
        return jnp.sum((v[0:2] @ v.T[:, 1:3]) ** 2) + jnp.sum(v.reshape(4, 3)[2])

    before = calls()
    jitted = funcjax.jit(f)(m)
    g = funcjax.grad(f)(m)
    mapped = funcjax.vmap(lambda v: v.reshape(2, 2).T[0])(m)
    assert calls() == before
    np.testing.assert_allclose(jitted, f(m), rtol=1e-5)
    np.testing.assert_allclose(g, general(funcjax.grad(f), m), rtol=1e-5)
    a = np.asarray(m)
    np.testing.assert_array_equal(mapped, a.reshape(3, 2, 2).transpose(0, 2, 1)[:, 0])
    committed = funcjax.device_put(m, funcjax.devices()[-1])
    before = calls()
    out = committed.T
    assert calls() == before and out.devices() == {funcjax.devices()[-1]}
    dead = m * 1
    dead.delete()
    assert_same_error(lambda: dead[1], general)
    assert_same_error(lambda: dead @ m.T, general)


def test_views_keep_their_base_alive_and_donation_copies():
    warmer = operand((8,)) * 1
    warm_native(lambda: warmer[2:6])
    x = operand((8,), seed=3) * 1
    before = calls()
    view = x[2:6]
    assert calls() == before + 1
    expected = np.asarray(view).copy()
    del x
    np.testing.assert_array_equal(view, expected)
    y = operand((8,)) * 1
    v = y[2:6]  # native: shares y's buffer, so donating y must copy it first
    kept = np.asarray(v).copy()
    out = funcjax.jit(lambda a: a + 1, donate_argnums=0)(y)
    np.testing.assert_array_equal(v, kept)
    np.testing.assert_array_equal(out[2:6], kept + 1)


index_entry = st.one_of(st.integers(-4, 4), st.none(),
                        st.builds(slice, st.one_of(st.none(), st.integers(-5, 5)),
                                  st.one_of(st.none(), st.integers(-5, 5)),
                                  st.one_of(st.none(), st.sampled_from([1, 2, -1, -3]))))


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from([(5,), (3, 4), (2, 1, 3)]), index=st.lists(index_entry, max_size=3),
       dtype=st.sampled_from([np.float32, np.int32, np.bool_]), seed=st.integers(0, 9))
def test_indexing_differs_from_numpy_nowhere(shape, index, dtype, seed):
    x = operand(shape, dtype, seed)
    index = tuple(index) if len(index) != 1 else index[0]
    try:
        want = np.asarray(x)[index]
    except IndexError:
        return
    if type(index) is tuple and sum(i is not None for i in index) > len(shape):
        return
    for _ in range(_programs._NativeMoves.NATIVE_AFTER + 4):
        out = x[index]
    assert out.dtype == want.dtype and out.shape == want.shape
    np.testing.assert_array_equal(out, want)


def test_default_device_blocks_take_the_python_path():
    devices = funcjax.devices()
    if len(devices) < 2:
        pytest.skip("one device")
    m = operand((2, 4))
    fns = (lambda: m[1], lambda: m.T, lambda: m @ m.T)
    for fn in fns:
        warm_native(fn)
    before = calls()
    with funcjax.default_device(devices[-1]):
        for fn in fns:
            assert fn().devices() == {devices[-1]}
    assert calls() == before
    assert all(fn().devices() == {devices[0]} for fn in fns) and calls() == before + 4


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 5), n=st.integers(1, 5), p=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.int32]), transposed=st.booleans(),
       seed=st.integers(0, 9))
def test_products_and_reshapes_differ_from_numpy_nowhere(m, n, p, dtype, transposed, seed):
    x = operand((m, n), dtype, seed)
    y = operand((p, n), dtype, seed + 1).T if transposed else operand((n, p), dtype, seed + 1)
    a, b = np.asarray(x), np.asarray(y)
    for _ in range(_programs._NativeMoves.NATIVE_AFTER + 4):
        out = x @ y
        flat = x.reshape(-1)
    np.testing.assert_array_equal(out, a @ b)
    assert out.dtype == (a @ b).dtype
    np.testing.assert_array_equal(flat, a.reshape(-1))


def test_replaced_table_entries_keep_results_right():
    x = operand((50,))
    a = np.asarray(x)
    keys = range(-eager_views.SLOTS - 8, 0)  # more keys than slots: entries get replaced
    for _ in range(2):
        for i in keys:
            for _ in range(_programs._NativeMoves.NATIVE_AFTER + 1):
                out = x[i]
            assert out.tolist() == a[i].tolist()
    before = calls()
    assert [x[i].tolist() for i in keys] == [a[i].tolist() for i in keys]
    assert calls() - before >= eager_views.SLOTS - 1  # the newest ones are native
