"""Device placement and the fast paths (``core/placement.py``): once an array is committed or
sharded in the process, eager operations and jit calls on plain arrays still take their fast
paths (native eager entries, the jnp Python fast path, jit's native entry, eager jvp and grad
programs), while committed and sharded arrays and ``default_device`` blocks are placed as
before, with warm caches."""

import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.api_jit import NATIVE_AFTER_CALLS
from funcjax.core import placement
from funcjax.core.placement import CommittedArray, ShardedArray
from funcjax.interpreters import jvp as jvp_module
from funcjax.interpreters import tape as tape_module
from funcjax.numpy import _util

F32 = np.float32


@pytest.fixture(scope="module", autouse=True)
def _placed_arrays_exist():
    """A pmap result and a committed array, as in a notebook that ran one pmap."""
    sharded = funcjax.pmap(lambda v: v * 2)(np.ones((2, 3), F32))
    committed = funcjax.device_put(jnp.ones(3, F32), funcjax.devices()[1])
    assert placement.state.active and not placement.blocks.value
    return sharded, committed


def _device1():
    return funcjax.devices()[1]


def _native_add():
    from funcjax.backend.llvm import eager_entry
    x = jnp.asarray(np.arange(6, dtype=F32))
    for _ in range(_util.NATIVE_AFTER + 2):
        x + x
    entry = eager_entry._natives.get(jnp.add.__wrapped__)
    if entry is None:
        pytest.skip("no native eager entries here")
    return entry


def _warm_jit(f, *args):
    for _ in range(NATIVE_AFTER_CALLS + 1):
        f(*args)
    return f


def _native_jit_calls(f):
    return sum(e.native[0].calls for e in f._cache.values() if e.native)


def test_plain_eager_ops_take_the_native_entry_after_placement():
    entry = _native_add()
    x = jnp.asarray(np.arange(6, dtype=F32))
    before = entry.calls
    out = x + x
    assert entry.calls == before + 1
    assert type(out) is funcjax.Array
    np.testing.assert_array_equal(np.asarray(out), np.arange(6, dtype=F32) * 2)


def test_plain_jit_calls_take_the_native_entry_after_placement():
    f = _warm_jit(funcjax.jit(lambda v: v * 2 + 1), jnp.arange(4.0))
    assert f._store.native is not None
    before = _native_jit_calls(f)
    out = f(jnp.arange(4.0))
    assert _native_jit_calls(f) == before + 1
    np.testing.assert_allclose(np.asarray(out), np.arange(4.0) * 2 + 1)


def test_committed_arrays_stay_committed_with_warm_fast_paths():
    _native_add()
    d = _device1()
    f = _warm_jit(funcjax.jit(lambda v: jnp.sin(v) * v), jnp.arange(3.0, dtype=F32))
    x = funcjax.device_put(jnp.arange(3.0, dtype=F32), d)
    expected = np.sin(np.arange(3.0, dtype=F32)) * np.arange(3.0, dtype=F32)
    h = funcjax.jit(lambda v: jnp.sum(jnp.sin(v) * v))
    for out in (x + x, x * 2.0, jnp.sin(x), f(x), funcjax.grad(lambda v: jnp.sum(v * v))(x),
                funcjax.grad(h)(x), funcjax.value_and_grad(h)(x)[0],
                funcjax.jvp(jnp.sin, (x,), (jnp.ones(3, F32),))[1]):
        assert type(out) is CommittedArray and out.devices() == {d}
    np.testing.assert_allclose(np.asarray(f(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x + x), 2 * np.arange(3.0, dtype=F32))


def test_sharded_arrays_stay_sharded_with_warm_fast_paths(_placed_arrays_exist):
    _native_add()
    y = funcjax.pmap(lambda v: v + 1)(np.ones((2, 3), F32))
    f = _warm_jit(funcjax.jit(lambda v: v * 3), jnp.ones((2, 3), F32))
    for out in (y + y, y * 2.0, jnp.exp(y), f(y)):
        assert type(out) is ShardedArray and out.devices() == set(y.devices())
    np.testing.assert_allclose(np.asarray(f(y)), np.full((2, 3), 6.0))
    assert type(jnp.sum(y)) is funcjax.Array


def test_default_device_blocks_place_results_with_warm_fast_paths():
    _native_add()
    d = _device1()
    x = jnp.asarray(np.arange(6, dtype=F32))
    f = _warm_jit(funcjax.jit(lambda v: v * 2), x)
    g = funcjax.grad(lambda v: jnp.sum(jnp.sin(v)))
    g(x)
    with funcjax.default_device(d):
        for out in (x + x, jnp.sin(x), x * 2.0, f(x), g(x),
                    funcjax.jvp(jnp.sin, (x,), (x,))[1]):
            assert type(out) is funcjax.Array and out.devices() == {d}
    assert not placement.blocks.value
    out = x + x
    assert out.devices() == {funcjax.devices()[0]}


def test_a_block_in_another_thread_never_moves_this_threads_results():
    _native_add()
    d = _device1()
    x = jnp.asarray(np.arange(6, dtype=F32))
    f = _warm_jit(funcjax.jit(lambda v: v - 1), x)
    entered, leave = threading.Event(), threading.Event()

    def other():
        with funcjax.default_device(d):
            entered.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    try:
        assert entered.wait(10)
        for out in (x + x, jnp.sin(x), f(x), funcjax.grad(lambda v: jnp.sum(v * v))(x)):
            assert type(out) is funcjax.Array and out.devices() == {funcjax.devices()[0]}
        np.testing.assert_array_equal(np.asarray(x + x), np.arange(6, dtype=F32) * 2)
    finally:
        leave.set()
        t.join()
    assert not placement.blocks.value


def test_mixing_devices_still_raises_with_warm_caches():
    _native_add()
    devices = funcjax.devices()
    a = funcjax.device_put(jnp.ones(3, F32), devices[0])
    b = funcjax.device_put(jnp.ones(3, F32), devices[1])
    f = _warm_jit(funcjax.jit(lambda u, v: u + v), jnp.ones(3, F32), jnp.ones(3, F32))
    for call in (lambda: a + b, lambda: jnp.add(a, b), lambda: f(a, b)):
        with pytest.raises(ValueError, match="incompatible devices") as info:
            call()
        assert "device ids [0]" in str(info.value) and "device ids [1]" in str(info.value)


def test_eager_jvp_and_grad_programs_run_for_plain_arrays(monkeypatch):
    x = jnp.asarray(np.linspace(0.1, 1.0, 5, dtype=F32))
    built, direct = [], []
    program_for = jvp_module._program
    monkeypatch.setattr(jvp_module, "_program",
                        lambda *a: built.append(1) or program_for(*a))
    generate = tape_module.generate  # the tape's forward steps, built afresh and counted

    def counted(*a, **k):
        run = generate(*a, **k)
        return lambda *args: direct.append(1) or run(*args)
    monkeypatch.setattr(tape_module, "generate", counted)
    monkeypatch.setattr(tape_module, "_programs", {})
    _, t = funcjax.jvp(jnp.sin, (x,), (jnp.ones(5, F32),))
    np.testing.assert_allclose(np.asarray(t), np.cos(np.asarray(x)), rtol=1e-6)
    grad = funcjax.grad(lambda v: jnp.sum(jnp.sin(v) * v))
    for _ in range(3):
        g = grad(x)
    xs = np.asarray(x)
    np.testing.assert_allclose(np.asarray(g), np.cos(xs) * xs + np.sin(xs), rtol=1e-5)
    assert built and direct
