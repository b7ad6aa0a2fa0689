"""Generated eager programs (``funcjax.numpy._programs.compile_program``) and the Array methods
that dispatch to them (``x[i]``, ``x.reshape``, ``x.T``, ``x @ y``): warm results equal the
general path and jit bit for bit over shapes and indices; keys separate dtypes, weak types,
x64 and static arguments; results of moves are numpy views of their input, and donating or
deleting either side never changes what the other one reads."""

import numpy as np
import pytest
from eager_helpers import bits, warm, without_programs  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.config import enable_x64
from funcjax.core.array import Array, ArrayMethods

F32 = np.float32


def outcome(fn, *args):
    try:
        out = fn(*args)
    except Exception as e:  # noqa: BLE001 - compared
        return type(e), str(e)
    return bits(out)


def private(values, dtype=F32):
    return jnp.asarray(np.array(values, dtype)) * 1  # a buffer nobody else sees


# -- eager == general path == jit, over shapes and basic indices -----------------------------
SHAPES = [(6,), (2, 3), (3, 1, 2), (1,), (4, 1)]
index_entry = st.one_of(st.integers(-4, 4), st.none(), st.just(Ellipsis),
                        st.builds(slice, st.one_of(st.none(), st.integers(-5, 5)),
                                  st.one_of(st.none(), st.integers(-5, 5)),
                                  st.one_of(st.none(), st.sampled_from([1, 2, -1, -2]))))


@settings(max_examples=60, deadline=None)
@given(shape=st.sampled_from(SHAPES), index=st.lists(index_entry, max_size=3),
       dtype=st.sampled_from([np.float32, np.int32, np.float16]), seed=st.integers(0, 99))
def test_basic_indexing_equals_general_and_jit(shape, index, dtype, seed):
    a = (np.random.default_rng(seed).standard_normal(shape) * 10).astype(dtype)
    x = jnp.asarray(a)
    index = tuple(index) if len(index) != 1 else index[0]
    want = outcome(without_programs, lambda v: v[index], x)
    for _ in range(3):  # cold, counting, warm: every call the same outcome
        assert outcome(lambda v: v[index], x) == want
    if isinstance(want[0], np.dtype):
        try:
            ref = a[index]
        except IndexError:  # (funcjax clamps some indices numpy refuses)
            pass
        else:
            assert want[:3] == bits(ref)[:3]  # numpy's own basic indexing agrees
        assert bits(funcjax.jit(lambda v: v[index])(x)) == want


@settings(max_examples=40, deadline=None)
@given(shape=st.sampled_from(SHAPES), seed=st.integers(0, 99),
       op=st.sampled_from(["reshape", "T", "mT", "transpose", "swapaxes", "squeeze",
                           "matmul", "rmatmul", "ravel"]))
def test_methods_equal_general_and_jit(shape, seed, op):
    a = np.random.default_rng(seed).standard_normal(shape).astype(F32)
    x = jnp.asarray(a)
    fn = {"reshape": lambda v: v.reshape(-1, 1), "T": lambda v: v.T, "mT": lambda v: v.mT,
          "transpose": lambda v: v.transpose(), "swapaxes": lambda v: v.swapaxes(0, -1),
          "squeeze": lambda v: v.squeeze(), "matmul": lambda v: v @ v.T,
          "rmatmul": lambda v: np.ones(v.shape[-1], F32) @ v.T, "ravel": jnp.ravel}[op]
    want = outcome(without_programs, fn, x)
    for _ in range(3):
        assert outcome(fn, x) == want
    if isinstance(want[0], np.dtype):
        jitted = funcjax.jit(fn)(x)
        if "matmul" in op:  # (jit's loops may sum in another order than numpy's BLAS)
            np.testing.assert_allclose(np.asarray(jitted), np.asarray(fn(x)), rtol=1e-5,
                                       atol=1e-5)
        else:
            assert bits(jitted) == want


def test_products_equal_general_and_jit_bitwise():
    rng = np.random.default_rng(1)
    for sa, sb in [((8,), (8,)), ((2, 4), (4, 3)), ((4,), (4, 3)), ((2, 4), (4,)),
                   ((2, 3, 4), (4, 5)), ((3, 3), (3, 3))]:
        for dtype in (np.float32, np.int32, np.float16):
            x = jnp.asarray((rng.standard_normal(sa) * 4).astype(dtype))
            y = jnp.asarray((rng.standard_normal(sb) * 4).astype(dtype))
            want = bits(without_programs(ArrayMethods.__matmul__, x, y))
            assert bits(warm(Array.__matmul__, x, y)) == want
            assert bits(warm(jnp.matmul, x, y)) == want
            jitted = funcjax.jit(jnp.matmul)(x, y)
            assert bits(jitted)[:2] == want[:2]
            np.testing.assert_allclose(np.asarray(jitted, F32), np.asarray(x @ y, F32),
                                       rtol=2e-3, atol=1e-2)


# -- keys ------------------------------------------------------------------------------------
def test_keys_separate_dtype_weak_type_x64_and_static_values():
    f32 = jnp.asarray(np.arange(6, dtype=F32))
    i32 = jnp.asarray(np.arange(6, dtype=np.int32))
    weak = jnp.asarray(np.arange(6, dtype=F32)) * 1.0
    weak = Array(np.asarray(weak), weak_type=True)
    for v in (f32, i32, weak, f32, weak):
        out = warm(Array.reshape, v, 2, 3)
        assert out.dtype == v.dtype and out.weak_type == v.weak_type
        assert warm(Array.__getitem__, v, slice(1, 3)).weak_type == v.weak_type
    assert warm(lambda: f32.reshape(2, 3)).shape == (2, 3)
    assert warm(lambda: f32.reshape(3, 2)).shape == (3, 2)
    assert warm(lambda: f32[1]).shape == () and warm(lambda: f32[True]).shape == (1, 6)
    assert warm(lambda: f32[1:3]).tolist() == [1, 2]
    assert warm(lambda: f32[1:4]).tolist() == [1, 2, 3]
    assert warm(lambda: f32[True:3]).tolist() == [1, 2]  # (bool bounds are ints to numpy)
    assert warm(lambda: f32[slice(1, None)]).tolist() == [1, 2, 3, 4, 5]
    assert warm(lambda: f32[::-1]).tolist() == [5, 4, 3, 2, 1, 0]
    with enable_x64():
        x64 = jnp.asarray(np.arange(6, dtype=np.float64))
        assert warm(lambda: x64 @ x64).dtype == np.float64
        assert warm(lambda: f32 @ x64).dtype == np.float64
    assert warm(lambda: f32 @ f32).dtype == np.float32


def test_slices_with_array_bounds_take_the_general_path():
    x = jnp.asarray(np.arange(6, dtype=F32))
    i = jnp.asarray(2)
    assert warm(lambda: x[i]).tolist() == 2.0
    assert warm(lambda: x[1:3]).tolist() == [1.0, 2.0]


def test_methods_are_taken_by_programs(replays):
    x = jnp.asarray(np.ones(8, F32))
    m = jnp.asarray(np.ones((2, 4), F32))
    for fn in (lambda: x.reshape(2, 4), lambda: x[0], lambda: x[1:3], lambda: m.T,
               lambda: m.mT, lambda: x @ x, lambda: m @ m.T, lambda: m.transpose(1, 0)):
        warm(fn)
        before = len(replays)
        fn()
        assert len(replays) > before


def test_subclasses_and_tracers_keep_the_plain_methods():
    for name in ("__getitem__", "reshape", "transpose", "__matmul__", "__rmatmul__"):
        assert getattr(funcjax.core.trace.Tracer, name) is getattr(ArrayMethods, name)
        assert getattr(Array, name) is not getattr(ArrayMethods, name)
    f = funcjax.jit(lambda v: (v.T @ v)[0].reshape(1, -1))
    x = jnp.asarray(np.arange(6, dtype=F32).reshape(2, 3))
    assert bits(warm(f, x)) == bits(without_programs(lambda: (x.T @ x)[0].reshape(1, -1)))
    g = funcjax.grad(lambda v: (v.T @ v)[1:, 0].sum())(x)
    with funcjax.disable_jit():
        assert bits(g) == bits(funcjax.grad(lambda v: (v.T @ v)[1:, 0].sum())(x))


@pytest.mark.parametrize("bad", [
    lambda x: x.reshape(3, 3), lambda x: x[10], lambda x: x[0, 0, 0], lambda x: x[1.5],
    lambda x: x @ x.reshape(2, 4), lambda x: x.transpose(1, 0), lambda x: x @ "a",
    lambda x: x @ None, lambda x: x.swapaxes(0, 2), lambda x: x.squeeze(0),
    lambda x: x.reshape(2, 4).mT[5],
])
def test_errors_are_unchanged_with_warm_caches(bad):
    # (x[10] is clamped, as in JAX: no error, on both paths)
    x = jnp.asarray(np.ones(8, F32))
    warm(lambda: (x.reshape(2, 4), x[1], x @ x, x.reshape(2, 4).T, x[1:3], x.squeeze()))
    expected = without_programs(outcome, bad, x)
    assert [outcome(bad, x) for _ in range(4)] == [expected] * 4


# -- views: donation and delete --------------------------------------------------------------
VIEWS = {"reshape": lambda v: v.reshape(2, 3), "T": lambda v: v.reshape(2, 3).T,
         "slice": lambda v: v[1:5], "int": lambda v: v[2], "flip": lambda v: v[::-1],
         "expand": lambda v: v[None]}


def _warm_view(name):
    """``(view, values, x, y)``: the move ``name`` replayed from its program, a fresh Array
    ``x`` of ``values`` and ``y = view(x)``."""
    view = VIEWS[name]
    values = np.arange(6, dtype=F32)
    warm(view, private(values))
    x = private(values)
    return view, values, x, view(x)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_moves_return_views_and_donation_never_mutates_the_other(name):
    view, values, x, y = _warm_view(name)
    assert np.shares_memory(np.asarray(y), np.asarray(x))  # a numpy view: no copy

    y_before = np.array(y)
    double = funcjax.jit(lambda v: v * 2, donate_argnums=0)
    out = double(x)  # donating x must not write into y's memory
    assert x.is_deleted()
    np.testing.assert_array_equal(np.asarray(y), y_before)
    np.testing.assert_array_equal(np.asarray(out), values * 2)

    x = private(values)
    y = view(x)
    out = funcjax.jit(lambda v: v + 1, donate_argnums=0)(y)  # donating y must not change x
    assert y.is_deleted()
    np.testing.assert_array_equal(np.asarray(x), values)
    np.testing.assert_array_equal(np.asarray(out), view(values) + 1)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_deleting_either_side_leaves_the_other_readable(name):
    view, values, x, y = _warm_view(name)
    x.delete()
    np.testing.assert_array_equal(np.asarray(y), view(values))
    np.testing.assert_array_equal(np.asarray(y + 0), view(values))
    with pytest.raises(RuntimeError, match="deleted"):
        view(x)
    # y now alone sees the memory: donating it may reuse it, and nobody else observes that
    out = funcjax.jit(lambda v: v * 3, donate_argnums=0)(y)
    np.testing.assert_array_equal(np.asarray(out), view(values) * 3)

    x = private(values)
    y = view(x)
    y.delete()
    np.testing.assert_array_equal(np.asarray(x), values)
    np.testing.assert_array_equal(np.asarray(view(x)), view(values))


def test_results_of_computations_are_private_buffers():
    # A product's (or a product's reshaped) result is memory only it sees: donating it reuses
    # its buffer in place, as for any fresh eager result.
    x = jnp.asarray(np.arange(6, dtype=F32).reshape(2, 3))
    warm(lambda: x @ x.T)
    p = x @ x.T
    where = np.asarray(p).__array_interface__["data"][0]
    q = funcjax.jit(lambda v: v + 1, donate_argnums=0)(p)
    assert np.asarray(q).__array_interface__["data"][0] == where
    np.testing.assert_array_equal(np.asarray(q), np.asarray(x) @ np.asarray(x).T + 1)


def test_default_device_blocks_place_warm_program_results():
    devices = funcjax.devices()
    if len(devices) < 2:
        pytest.skip("one device")
    x = jnp.asarray(np.arange(8, dtype=F32))
    m = x.reshape(2, 4)
    calls = (lambda: x.reshape(2, 4), lambda: x[0], lambda: x[1:3], lambda: m.T,
             lambda: x @ x, lambda: m @ m.T)
    for call in calls:
        warm(call)
    with funcjax.default_device(devices[-1]):
        for call in calls:
            out = call()
            assert out.devices() == {devices[-1]}
            assert bits(out)[:3] == bits(without_programs(call))[:3]
    for call in calls:
        assert call().devices() == {devices[0]}
