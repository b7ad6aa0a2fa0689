"""pmap's API: axes specs, static arguments, caching, sharded results, real parallel execution,
every error, a failing device that must not hang the others, and device placement."""

import functools
import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm.spmd_program import DeviceFailureError, inject_failure

NDEV = funcjax.device_count()
DEVS = funcjax.devices()


def _program(pmapped):
    (entry,) = pmapped._cache.values()
    return entry.program


def test_in_axes_out_axes_pytrees_and_none():
    def f(d, s):
        return {"sum": d["a"] + s, "b": d["b"] * 2}, s
    a = np.arange(3 * NDEV, dtype=np.float32).reshape(3, NDEV)
    b = np.ones((NDEV, 2), np.float32)
    s = np.float32(5)
    out, same = funcjax.pmap(f, in_axes=({"a": 1, "b": 0}, None),
                             out_axes=({"sum": 1, "b": 0}, None))({"a": a, "b": b}, s)
    np.testing.assert_array_equal(np.asarray(out["sum"]), a + 5)
    np.testing.assert_array_equal(np.asarray(out["b"]), b * 2)
    assert float(same) == 5.0


def test_static_broadcasted_argnums_and_cache():
    calls = []

    @functools.partial(funcjax.pmap, static_broadcasted_argnums=1)
    def f(x, power):
        calls.append(power)
        return x ** power
    x = np.arange(NDEV * 2, dtype=np.float32).reshape(NDEV, 2)
    np.testing.assert_array_equal(np.asarray(f(x, 2)), x ** 2)
    np.testing.assert_array_equal(np.asarray(f(x + 1, 2)), (x + 1) ** 2)
    np.testing.assert_array_equal(np.asarray(f(x, 3)), x ** 3)
    assert calls == [2, 3]
    info = f.cache_info()
    assert (info.hits, info.misses, info.traces, info.compiles) == (1, 2, 2, 2)


def test_sharded_result_prints_like_an_array_and_feeds_the_next_pmap_without_copy():
    x = np.arange(NDEV * 3, dtype=np.float32).reshape(NDEV, 3)
    y = funcjax.pmap(lambda v: v + 1)(x)
    assert repr(y) == repr(funcjax.numpy.asarray(x + 1))
    assert y.sharding.devices == tuple(DEVS[:NDEV]) and y.devices() == set(DEVS[:NDEV])
    shards = y.addressable_shards
    assert [s.device for s in shards] == DEVS[:NDEV]
    for k, s in enumerate(shards):
        np.testing.assert_array_equal(np.asarray(s.data), x[k] + 1)
        assert s.data.devices() == {DEVS[k]} and np.shares_memory(np.asarray(s.data),
                                                                  np.asarray(y))
    z = funcjax.pmap(lambda v: v * 2)(y)  # reads y's shards in place
    np.testing.assert_array_equal(np.asarray(z), (x + 1) * 2)
    np.testing.assert_array_equal(np.asarray(y + 1), x + 2)  # eager ops on a sharded array
    assert isinstance(funcjax.device_get(y), np.ndarray)


def test_device_put_replicated_and_sharded():
    r = funcjax.device_put_replicated({"w": jnp.arange(3.0)}, DEVS)
    assert r["w"].shape == (NDEV, 3) and r["w"].sharding.devices == tuple(DEVS)
    np.testing.assert_array_equal(np.asarray(r["w"]), np.tile(np.arange(3.0), (NDEV, 1)))
    s = funcjax.device_put_sharded([np.full(2, k, np.float32) for k in range(NDEV)], DEVS)
    np.testing.assert_array_equal(np.asarray(funcjax.pmap(lambda v: v * 10)(s)),
                                  10 * np.arange(NDEV)[:, None] * np.ones((1, 2)))
    with pytest.raises(ValueError, match="one pytree per device"):
        funcjax.device_put_sharded([np.ones(2)], DEVS + DEVS)


def test_devices_run_in_parallel_inside_compiled_code():
    """Each device thread time-stamps the start and end of its run (CLOCK_MONOTONIC, in the
    native launcher): with two devices the two runs overlap in time. The kernel has no
    collective (no barrier forces an overlap); on a loaded machine a run may be scheduled
    late, so a few calls are observed and one overlap suffices."""
    f = funcjax.pmap(lambda x: jnp.sum(jnp.sin((x @ x.T) @ x)))
    x = np.random.default_rng(0).standard_normal((2, 400, 400)).astype(np.float32)
    observed = []
    for _ in range(40):
        f(x)
        program = _program(f)
        assert program.parallel
        (s0, e0), (s1, e1) = program.last_run_times()
        # each device also reports its thread's CPU time: some, and never more than its span
        # (plus a clock tick of slack)
        for cpu, (s, e) in zip(program.last_run_cpu_times(), program.last_run_times()):
            assert 0 < cpu <= e - s + 10**7
        observed.append((s0, e0, s1, e1))
        if s0 < e1 and s1 < e0:
            return
    raise AssertionError(f"the two devices never ran at the same time: {observed}")


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=f"only {NDEV} devices.*FUNCJAX_NUM_CPU_DEVICES"):
        funcjax.pmap(lambda x: x)(np.ones((NDEV + 1, 2)))
    with pytest.raises(ValueError, match="inconsistent sizes(.|\n)*argument x(.|\n)*argument y"):
        funcjax.pmap(lambda x, y: x + y)(np.ones((2, 2)), np.ones((1, 2)))
    with pytest.raises(NameError, match=r"'j'.*in scope are \('i',\)"):
        funcjax.pmap(lambda x: lax.psum(x, "j"), axis_name="i")(np.ones((2, 2)))
    with pytest.raises(NameError, match="no named axis is in scope"):
        lax.psum(np.ones(2), "i")
    with pytest.raises(NameError, match="no named axis is in scope"):
        funcjax.jit(lambda x: lax.psum(x, "i"))(np.ones(2))
    with pytest.raises(ValueError, match="devices=.*1 devices.*size 2"):
        funcjax.pmap(lambda x: x, devices=DEVS[:1])(np.ones((2, 2)))
    with pytest.raises(ValueError, match="static_broadcasted_argnums"):
        funcjax.pmap(lambda x: x, static_broadcasted_argnums=3)(np.ones((2, 2)))
    with pytest.raises(TypeError, match="pmap"):
        funcjax.pmap(lambda x: x, in_axes="zero")


def test_a_failing_device_releases_the_others_and_the_next_call_works():
    f = funcjax.pmap(lambda x: lax.psum(lax.psum(x, "i") * 2, "i"), axis_name="i")
    x = np.ones((NDEV, 5), np.float32)
    results = []

    def run():
        for device in range(NDEV):
            with inject_failure(device):
                try:
                    f(x)
                    results.append("no error")
                except DeviceFailureError as e:
                    results.append(str(e))
        results.append(np.asarray(f(x)))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "a device failure left the others waiting"
    assert all("1 of the" in r and "released" in r for r in results[:-1]), results
    np.testing.assert_array_equal(results[-1], np.full((NDEV, 5), 2.0 * NDEV * NDEV))


def test_placement_through_eager_jit_and_pmap():
    a = funcjax.device_put(jnp.arange(3.0), DEVS[1])
    b = funcjax.device_put(jnp.ones(3), DEVS[0])
    assert a.committed and not jnp.ones(3).committed and "device=CpuDevice(id=1)" in repr(a)
    for out in (a * 2 + 1, jnp.sin(a), funcjax.jit(lambda v: v * 2)(a), a + jnp.ones(3)):
        assert out.committed and out.devices() == {DEVS[1]}
    with pytest.raises(ValueError, match=r"incompatible devices(.|\n)*device ids \[1\]"
                                         r"(.|\n)*device ids \[0\]"):
        a + b
    with pytest.raises(ValueError, match=r"argument u of jit.*device ids \[1\]"):
        funcjax.jit(lambda u, v: u + v)(a, b)
    with funcjax.default_device(DEVS[1]):
        c = jnp.zeros(2)
        assert c.devices() == {DEVS[1]} and not c.committed
    assert jnp.zeros(2).devices() == {DEVS[0]}
    out = funcjax.pmap(lambda v: v + 1)(jnp.ones((2, 3)))
    shard = out.addressable_shards[1].data
    assert shard.committed and (shard * 3).devices() == {DEVS[1]}
    with pytest.raises(ValueError, match="incompatible devices"):
        shard + out.addressable_shards[0].data


def test_reused_output_buffers_never_overwrite_live_results():
    f = funcjax.pmap(lambda v: lax.psum(v, "i"), axis_name="i")
    x = np.ones((NDEV, 1 << 17), np.float32)  # 512 KiB per device: large enough to reuse
    kept = [f(x * k) for k in range(1, 4)]
    shard = f(x * 7).addressable_shards[-1].data  # only a shard view keeps this one alive
    for k in range(4, 8):
        f(x * k)  # dead results: their buffers may be reused
    for k, r in enumerate(kept, 1):
        np.testing.assert_array_equal(np.asarray(r), np.full(x.shape, k * NDEV, np.float32))
    np.testing.assert_array_equal(np.asarray(shard), np.full(x.shape[1:], 7 * NDEV))
    first = f(x)
    address = first._value.ctypes.data
    del first
    assert f(x)._value.ctypes.data == address  # a dead result's buffer is reused


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("tiled", [False, True])
def test_all_gather_copies_blocks_as_vmap_does(axis, tiled):
    x = np.random.default_rng(axis).random((NDEV, 4, 3, 5)).astype(np.float32)

    def f(v):
        return lax.all_gather(v, "i", axis=axis, tiled=tiled), lax.ppermute(
            v, "i", [(k, (k + 1) % NDEV) for k in range(NDEV - 1)])
    for got, want in zip(funcjax.pmap(f, axis_name="i")(x), funcjax.vmap(f, axis_name="i")(x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_eager_ops_and_jit_on_a_sharded_result_stay_sharded_as_in_jax():
    x = np.arange(NDEV * 3, dtype=np.float32).reshape(NDEV, 3)
    out = funcjax.pmap(lambda v: v * 2)(x)
    devs = set(DEVS[:NDEV])
    for y, want in ((out + 1, x * 2 + 1), (jnp.sin(out), np.sin(x * 2)), (out * out, 4 * x * x),
                    (funcjax.jit(lambda v: v * 3)(out), x * 6)):
        assert y.sharding == out.sharding and y.devices() == devs
        np.testing.assert_allclose(np.asarray(y), want, rtol=1e-6)
    total = jnp.sum(out)  # JAX: committed, replicated; funcjax: an ordinary array
    assert not total.committed and float(total) == float(x.sum() * 2)
    ids = ", ".join(str(d.id) for d in DEVS[:NDEV])
    with pytest.raises(ValueError, match=rf"incompatible devices(.|\n)*device ids \[{ids}\]"
                                         r"(.|\n)*device ids \[1\]"):
        out + funcjax.device_put(jnp.ones(3), DEVS[1])
    np.testing.assert_allclose(np.asarray(funcjax.pmap(lambda v: v - 1)(out + 1)), x * 2)


def test_pmaps_from_two_threads_and_from_inside_a_pmap_share_or_bypass_the_pool():
    inner = funcjax.pmap(lambda v: lax.psum(v, "j"), axis_name="j")

    def host(v):  # runs on a device thread while the outer pmap holds the worker pool
        return np.asarray(inner(np.stack([v] * 2))[0])

    outer = funcjax.pmap(lambda v: lax.psum(funcjax.pure_callback(
        host, jax_shape_dtype(v), v), "i"), axis_name="i")
    x = np.arange(NDEV * 3, dtype=np.float32).reshape(NDEV, 3)
    want = np.broadcast_to(2 * x.sum(0), x.shape)
    results = []

    def run():
        results.append(np.asarray(outer(x)))

    workers = [threading.Thread(target=run, daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers), "a pmap waited forever for the pool"
    assert len(results) == 2
    for r in results:
        np.testing.assert_allclose(r, want, rtol=1e-6)


def jax_shape_dtype(v):
    return funcjax.ShapeDtypeStruct(v.shape, v.dtype)
