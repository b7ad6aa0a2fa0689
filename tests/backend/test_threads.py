"""Parallel loops (``backend/llvm/parallel_loops``): threaded results are bitwise the
single-threaded ones, every block runs exactly once, and nesting (pmap devices, host
callbacks, several Python threads) falls back to serial instead of waiting."""

import ctypes
import os
import re
import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import parallel_loops
from funcjax.backend.llvm.program import LoweredModule

from .helpers import call_from_threads


def chain(x):
    return jnp.sin(x) * jnp.exp(-x * x) + 0.5 * jnp.tanh(x)


def _bits(a):
    a = np.ascontiguousarray(a).reshape(-1)
    return a.view(np.uint8) if a.dtype != np.bool_ else a


def _threaded_vs_serial(threads, fn, *args):
    """``fn``'s results on 1 and 3 threads (bitwise equal), and from code lowered without
    parallel loops (equal too)."""
    f = funcjax.jit(fn)
    threads(1)
    one = [np.asarray(o) for o in funcjax.tree_util.tree_leaves(f(*args))]
    threads(3)
    many = [np.asarray(o) for o in funcjax.tree_util.tree_leaves(f(*args))]
    with parallel_loops.serial():
        plain = [np.asarray(o) for o in funcjax.tree_util.tree_leaves(
            funcjax.jit(lambda *a: fn(*a))(*args))]
    for a, b, c in zip(one, many, plain):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_bits(a), _bits(b))
        np.testing.assert_array_equal(_bits(a), _bits(c))
    return one


def _uses_parallel_loops(fn, *args):
    closed = funcjax.make_jaxpr(fn)(*args)
    return parallel_loops.PARALLEL_FOR in LoweredModule(closed, "probe").ir_text


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_chain_threaded_equals_serial(threads, dtype):
    rng = np.random.default_rng(0)
    # not a multiple of any block; huge arguments take sin's exact reduction branch
    x = (rng.standard_normal(70_001) * 3).astype(dtype)
    x[::997] = rng.uniform(-1e7, 1e7, x[::997].shape)
    assert _uses_parallel_loops(chain, x)
    (got,) = _threaded_vs_serial(threads, chain, x)
    want = chain(np.asarray(x, np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)


def test_shapes_layouts_and_dtypes(threads):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, 300, 257)).astype(np.float32)
    b = rng.standard_normal((257,)).astype(np.float32)
    i = rng.integers(-1000, 1000, (300, 257)).astype(np.int32)

    def fn(a, b, i):
        t = jnp.transpose(a[0]) * 2.0  # a transposing read inside the loop
        return (jnp.exp(a + b) - 1.0, t + 1.0, (i * 3 + 7) // 5, a[0] > b, i.astype(jnp.float32))
    assert _uses_parallel_loops(fn, a, b, i)
    _threaded_vs_serial(threads, fn, a, b, i)


@pytest.mark.parametrize("shape", [(517, 96), (3, 171, 40), (40, 2001)])
def test_reductions_threaded_equal_serial(threads, shape):
    """Row reductions run in parallel over output elements, each reduced by one thread in
    the same order: bitwise equal. Sums over every axis and reductions that keep the last
    axis stay single-threaded."""
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)

    def fn(x):
        return (jnp.sum(x * x), jnp.mean(jnp.exp(x), axis=0), jax_logsumexp(x),
                x - jnp.max(x, axis=-1, keepdims=True), jnp.argmax(x, axis=-1),
                jnp.prod(1 + x * 1e-3, axis=-1), jnp.min(x * 3, axis=-1))
    assert _uses_parallel_loops(lambda x: jnp.sum(jnp.exp(x), axis=-1), x)
    _threaded_vs_serial(threads, fn, x)


def jax_logsumexp(x):
    m = jnp.max(x, axis=-1, keepdims=True)
    return jnp.log(jnp.sum(jnp.exp(x - m), axis=-1)) + m[..., 0]


def test_donated_input_overwritten_in_place(threads):
    threads(2)
    x = np.random.default_rng(3).standard_normal(50_000).astype(np.float32)
    want = x - 0.1 * np.tanh(x)
    f = funcjax.jit(lambda p: p - 0.1 * jnp.tanh(p), donate_argnums=0)
    got = np.asarray(f(funcjax.device_put(x)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_small_loops_are_not_outlined():
    x = np.ones(parallel_loops.MIN_ELEMENTS // 2, np.float32)
    assert not _uses_parallel_loops(chain, x)
    with parallel_loops.serial():
        assert not _uses_parallel_loops(chain, np.ones(10**5, np.float32))


def _work(fn, x):
    """The work argument of each ``funcjax_parallel_for`` call in ``fn``'s lowered code."""
    text = funcjax.jit(fn).lower(x).as_text("llvm")
    return [int(w) for w in re.findall(rf'"{parallel_loops.PARALLEL_FOR}"\(.*i64 (\d+)\)', text)]


def test_work_counts_the_innermost_loops_per_element():
    """A full sum's per-block and per-chunk code runs once per hundreds of elements: counted
    per element it made a 1e6 sum (57 us, no gain from a second thread) look as costly as
    the chain. The estimate follows the innermost loop's instructions instead."""
    big = funcjax.ShapeDtypeStruct((10**6,), np.float32)
    (sum_work,) = _work(jnp.sum, big)
    (chain_work,) = _work(chain, big)
    assert sum_work < parallel_loops.MIN_WORK < 10 * sum_work
    assert chain_work > 5 * sum_work
    (sum_work_1e7,) = _work(jnp.sum, funcjax.ShapeDtypeStruct((10**7,), np.float32))
    assert sum_work_1e7 > parallel_loops.MIN_WORK  # a large sum is still threaded


def test_innermost_blocks_of_a_loop_nest():
    from llvmlite import ir

    from funcjax.backend.llvm.loops import for_range
    module = ir.Module()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), "nest")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with for_range(b, 10):
        b.add(ir.Constant(ir.IntType(64), 1), ir.Constant(ir.IntType(64), 2), name="outer")
        with for_range(b, 20):
            b.add(ir.Constant(ir.IntType(64), 3), ir.Constant(ir.IntType(64), 4), name="inner")
        with for_range(b, 30):
            b.add(ir.Constant(ir.IntType(64), 5), ir.Constant(ir.IntType(64), 6), name="other")
    b.ret_void()
    names = {i.name for blk in parallel_loops.innermost_blocks(fn) for i in blk.instructions}
    assert {"inner", "other"} <= names and "outer" not in names


def test_loops_inside_loop_bodies(threads):
    """(threaded too: tests/backend/test_threads_control_flow.py has more)"""
    threads(2)
    x = np.linspace(-2, 2, 40_000, dtype=np.float32)

    def fn(x):
        return lax.fori_loop(0, 3, lambda k, c: jnp.tanh(c) * 1.5 + 0.1, x)
    (got,) = _threaded_vs_serial(threads, fn, x)
    want = x
    for _ in range(3):
        want = np.tanh(want) * np.float32(1.5) + np.float32(0.1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_every_block_runs_once(threads):
    """The runtime called directly with a Python chunk: on several threads the blocks
    partition the rows (whichever thread takes each); on one, one call covers them all."""
    engine = parallel_loops.bind()
    chunk_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
    run = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                           ctypes.c_int64, ctypes.c_int64)(
        engine.address(parallel_loops.PARALLEL_FOR))
    seen = []
    chunk = chunk_type(lambda table, lo, hi: seen.append((lo, hi)))
    for n in (1, 2, 4):
        threads(n)
        seen.clear()
        run(ctypes.cast(chunk, ctypes.c_void_p), None, 1003, 100, 10**6)
        blocks = [(lo, min(lo + 100, 1003)) for lo in range(0, 1003, 100)]
        assert sorted(seen) == (blocks if n > 1 else [(0, 1003)])
    threads(2)
    seen.clear()
    parallel_loops.set_min_work(10**7)  # below the threshold: one call over all rows
    run(ctypes.cast(chunk, ctypes.c_void_p), None, 1003, 100, 10**6)
    assert seen == [(0, 1003)]


def test_python_threads_share_the_pool(threads):
    threads(2)
    x = np.random.default_rng(4).standard_normal(60_000).astype(np.float32)
    f = funcjax.jit(chain)
    want = np.asarray(f(x))
    results = call_from_threads(lambda: np.asarray(f(x)))
    assert len(results) == 60
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_loops_in_pmap_devices_and_host_callbacks(threads):
    """A parallel loop on a pmap device (the pool runs the devices) and in a host callback
    inside a device run serially: no deadlock, same values."""
    threads(2)
    n = funcjax.device_count()
    x = np.random.default_rng(5).standard_normal((n, 40_000)).astype(np.float32)
    inner = funcjax.jit(chain)
    want = np.stack([np.asarray(inner(r)) for r in x])

    def host(v):
        return np.asarray(inner(v))

    results = []

    def run():
        results.append(np.asarray(funcjax.pmap(chain)(x)))
        results.append(np.asarray(funcjax.pmap(lambda v: funcjax.pure_callback(
            host, funcjax.ShapeDtypeStruct(v.shape, v.dtype), v) + lax.psum(0.0, "i"),
            axis_name="i")(x)))
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "a loop inside pmap waited forever for the pool"
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_loops(threads):
    threads(2)
    x = np.random.default_rng(6).standard_normal(50_000).astype(np.float32)
    f = funcjax.jit(chain)
    want = np.asarray(f(x))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's pool workers do not exist here
        ok = 0
        try:
            ok = int(np.array_equal(np.asarray(f(x)), want))
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.close(write)
    got = os.read(read, 1)
    os.waitpid(pid, 0)
    assert got == b"\x01"


@pytest.mark.parametrize("bad", [0, -1, 2.0, "2", True])
def test_bad_thread_counts_are_refused(bad):
    before = funcjax.config.read("funcjax_num_threads")
    with pytest.raises(ValueError, match="funcjax_num_threads"):
        funcjax.config.update("funcjax_num_threads", bad)
    assert funcjax.config.read("funcjax_num_threads") == before
