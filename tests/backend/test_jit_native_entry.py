"""The generated C-API entry of a cached jit program (``backend/llvm/fast_call.py``): it
serves only arguments exactly of the compiled types; everything else falls back to the
Python path, which converts or raises as before."""

import itertools
import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.api_jit import NATIVE_AFTER_CALLS
from funcjax.backend.llvm import fast_call, output_pool

from .helpers import call_from_threads

pytestmark = pytest.mark.skipif(fast_call.layout() is None,
                                reason="object layouts differ: no native entries")


def _warm(f, *args):
    for _ in range(NATIVE_AFTER_CALLS + 1):
        f(*args)
    assert f._store.native is not None, "expected a native entry once hot"
    return f


def _native_calls(f):
    return sum(e.native[0].calls for e in f._cache.values() if e.native)


def test_native_results_equal_the_python_path_and_count_as_hits():
    f = _warm(funcjax.jit(lambda v: v * 2 + 1), jnp.arange(8.0))
    x = np.linspace(-3, 3, 8).astype(np.float32)
    before = _native_calls(f)
    for arg in (jnp.asarray(x), x):
        out = f(arg)
        assert type(out) is funcjax.Array and out.dtype == np.float32 and not out.weak_type
        np.testing.assert_array_equal(out, x * 2 + 1)
    assert _native_calls(f) == before + 2
    assert f.cache_info().hits == NATIVE_AFTER_CALLS + 2 and f.cache_info().traces == 1
    out = f(x)
    with pytest.raises(ValueError):  # results are read-only like every Array
        np.asarray(out)[0] = 5


@pytest.mark.parametrize("bad", [
    np.arange(8.0),                               # float64 numpy: converted by the Python path
    np.arange(9, dtype=np.float32),               # other shape: retraces
    np.arange(16, dtype=np.float32)[::2],         # strided view
    np.arange(8, dtype=np.float32).astype(">f4"),  # byte-swapped dtype
    np.arange(8, dtype=np.int32),
    np.arange(8, dtype=np.float32).reshape(2, 4),
    np.ma.masked_array(np.arange(8, dtype=np.float32)),  # a subclass
    3.0,
])
def test_mismatched_arguments_fall_back_and_agree_with_numpy(bad):
    f = _warm(funcjax.jit(lambda v: v * 2 + 1), jnp.arange(8.0))
    before = _native_calls(f)
    expected = np.asarray(bad, np.float32) * 2 + 1
    np.testing.assert_allclose(f(bad), expected, rtol=1e-6)
    assert _native_calls(f) == before


def test_wrong_arity_raises_as_before():
    f = _warm(funcjax.jit(lambda v: v + 1), jnp.ones(4))
    with pytest.raises(TypeError):
        f()
    with pytest.raises(TypeError):
        f(jnp.ones(4), jnp.ones(4))


def test_weak_type_mismatch_falls_back_to_the_right_program():
    f = funcjax.jit(lambda v, w: v + w)
    strong, half = jnp.ones(3, jnp.float32), jnp.ones(3, jnp.float16)
    _warm(f, strong, half)
    assert f(strong, half).dtype == np.float32
    w = jnp.full(3, 2.0, jnp.float32)
    w_weak = funcjax.core.array.Array(np.full(3, 2.0, np.float32), weak_type=True)
    assert f(w_weak, half).dtype == np.float16  # weak float32 + float16 -> float16
    assert f(w, half).dtype == np.float32


def test_deleted_and_donated_arrays_raise_as_before():
    f = _warm(funcjax.jit(lambda v: v * 3), jnp.ones(4))
    a = jnp.ones(4)
    a.delete()
    with pytest.raises(RuntimeError, match="deleted"):
        f(a)
    g = funcjax.jit(lambda v: v * 2, donate_argnums=0)
    for _ in range(NATIVE_AFTER_CALLS + 1):
        g(jnp.ones(16))
    assert g._store.native is None  # donating programs keep the Python path
    b = jnp.ones(16)
    g(b)
    with pytest.raises(RuntimeError, match="deleted|donated"):
        g(b)


def test_pytree_outputs_and_constants():
    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = funcjax.jit(lambda v, w: {"s": v + c, "p": (v * w, w.sum())})
    x, y = np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)
    _warm(f, x, y)
    out = f(x, y)
    np.testing.assert_array_equal(out["s"], x + c)
    np.testing.assert_array_equal(out["p"][0], x * y)
    assert out["p"][1].shape == () and float(out["p"][1]) == 12
    g = _warm(funcjax.jit(lambda v: (v, v + 1)), x)
    first, second = g(x)
    np.testing.assert_array_equal(first, x)
    np.testing.assert_array_equal(second, x + 1)


def test_results_can_be_donated_later():
    f = _warm(funcjax.jit(lambda v: v + 1), jnp.ones(8))
    out = f(jnp.ones(8))
    g = funcjax.jit(lambda v: v * 2, donate_argnums=0)
    np.testing.assert_array_equal(g(out), np.full(8, 4, np.float32))
    assert out.is_deleted()


def test_flag_changes_and_tracing_bypass_the_native_entry():
    f = _warm(funcjax.jit(lambda v: v * 2), jnp.ones(4))
    with funcjax.enable_x64():
        assert f._store.native is None
        out = f(np.ones(4))
        assert out.dtype == np.float64
    np.testing.assert_array_equal(funcjax.grad(lambda v: f(v).sum())(jnp.ones(4)),
                                  np.full(4, 2, np.float32))
    inner = funcjax.jit(lambda v: f(v) + 1)
    assert "jit" in str(funcjax.make_jaxpr(inner)(jnp.ones(4)))


def test_threads_calling_one_entry_agree():
    f = _warm(funcjax.jit(lambda v: funcjax.numpy.tanh(v) * 2), jnp.ones(32))
    xs = [np.random.default_rng(k).standard_normal(32).astype(np.float32) for k in range(8)]
    results = {}

    def work(k):
        for _ in range(200):
            results[k] = np.asarray(f(xs[k]))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        np.testing.assert_allclose(results[k], np.tanh(xs[k]) * 2, rtol=1e-5, atol=1e-6)


def test_pytree_arguments_use_the_entry_only_for_the_same_structure():
    f = funcjax.jit(lambda d, t: {k: v * t[0] + t[1] for k, v in d.items()})
    x = np.arange(4, dtype=np.float32)
    d, t = {"a": x, "b": x + 1}, (np.float32(2) * np.ones(4, np.float32), x)
    for _ in range(NATIVE_AFTER_CALLS + 1):
        f(d, t)
    assert f._store.native is not None and f._store.native[1] is not None
    before = _native_calls(f)
    out = f({"a": jnp.asarray(x), "b": x + 1}, t)
    np.testing.assert_array_equal(out["b"], (x + 1) * 2 + x)
    assert _native_calls(f) == before + 1
    other = f({"a": x, "c": x}, t)  # other keys: a new trace, right values
    assert set(other) == {"a", "c"}
    np.testing.assert_array_equal(other["c"], x * 2 + x)
    with pytest.raises(TypeError):
        f({"a": x, "b": "text"}, t)
    np.testing.assert_array_equal(f(d, [t[0], t[1]])["a"], x * 2 + x)  # a list, not a tuple


def _entry_of(f):
    (entry,) = [e.native[0] for e in f._cache.values() if e.native]
    return entry


def test_large_programs_get_an_entry_that_releases_the_gil():
    """Above MAX_BYTES the entry still checks and serves, with the GIL released around the
    kernel; small programs keep it (the IR says which)."""
    x = np.linspace(-1, 1, 300 * 300, dtype=np.float32).reshape(300, 300)
    y = np.ascontiguousarray(x.T)
    big = _warm(funcjax.jit(lambda a, b: jnp.tanh(a @ b) + 1), x, y)
    small = _warm(funcjax.jit(lambda v: v * 2 + 1), jnp.arange(8.0))
    assert _entry_of(big).large and not _entry_of(small).large
    before = _native_calls(big)
    out = big(x, y)
    assert _native_calls(big) == before + 1
    np.testing.assert_allclose(np.asarray(out), np.tanh(x @ y) + 1, rtol=1e-5, atol=1e-5)
    assert _entry_of(big).busy.value == 0
    assert "PyEval_SaveThread" in _entry_of(big).ir_text
    assert "PyEval_SaveThread" not in _entry_of(small).ir_text


def test_large_outputs_of_native_entries_come_from_the_output_pool():
    if output_pool.native_handler() is None:
        pytest.skip("no output pool here")
    x = np.arange(1 << 19, dtype=np.float32)  # 2 MiB in, 2 MiB out
    f = _warm(funcjax.jit(lambda v: v * 3 - 1), x)
    before = _native_calls(f)
    out = f(x)
    assert _native_calls(f) == before + 1
    owner = np.asarray(out)
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    assert np._core.multiarray.get_handler_name(owner) == "funcjax_output_pool"
    assert np._core.multiarray.get_handler_name() == "default_allocator"  # restored
    np.testing.assert_array_equal(np.asarray(out), x * 3 - 1)
    address = owner.__array_interface__["data"][0]
    del out, owner
    again = f(x + 1)  # the freed block again, rewritten
    assert np.asarray(again).__array_interface__["data"][0] == address
    np.testing.assert_array_equal(np.asarray(again), (x + 1) * 3 - 1)


def test_threads_share_a_large_entry_one_kernel_at_a_time():
    """Calls that arrive while another thread runs the kernel take the Python path (its
    workspace is per thread); every result is right and the entry ends idle."""
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((256, 256)).astype(np.float32) / 16 for _ in range(4)]
    f = _warm(funcjax.jit(lambda v: jnp.sin(v @ v) * 2 + v), xs[0])
    turns = itertools.count()

    def one_call():  # each call on one of the inputs, in turn
        k = next(turns) % len(xs)
        return k, np.asarray(f(xs[k]))
    for k, r in call_from_threads(one_call, threads=4, calls=25):
        x = xs[k]
        np.testing.assert_allclose(r, np.sin(x @ x) * 2 + x, rtol=1e-4, atol=1e-4)
    assert _entry_of(f).busy.value == 0
