"""Memory plan invariants, the persistent compilation cache, concurrent compilation, large
operands (BLAS, vectorised loops) and random programs of primitives (jit(f) == f)."""

import os
import threading

import numpy as np
from hypothesis import given, settings

import funcjax
import funcjax.numpy as jnp
from funcjax import config, lax
from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.memory import overlapping_live_pairs

from .helpers import RECIPES, run_recipe


def test_memory_plan_reuses_dead_buffers_and_never_overlaps_live_ones():
    def chain(x, w):
        for _ in range(4):  # each matmul result is a buffer; the previous one then dies
            x = jnp.tanh(lax.dot(x, w))
            x = x + jnp.sum(x)  # sum reads x twice-live values
        return x
    x = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32) / 4
    compiled = funcjax.jit(chain).lower(x, x).compile()
    mem = compiled.memory_analysis()
    assert mem.allocations and not overlapping_live_pairs(mem.allocations)
    assert all(a.end is not None and a.start <= a.end for a in mem.allocations)
    assert mem.reuse_saved_in_bytes > 0
    assert mem.temp_size_in_bytes < mem.temp_size_without_reuse_in_bytes
    want = x
    for _ in range(4):
        want = np.tanh(want @ x)
        want = want + want.sum()
    np.testing.assert_allclose(compiled(x, x), want, rtol=2e-5, atol=1e-5)


def test_persistent_cache_round_trip_and_corrupt_entry(tmp_path):
    def f():  # a new function object each time: traced and lowered again (same IR)
        return lambda x: jnp.cos(x) * 3 + 1
    x = np.linspace(0, 1, 7, dtype=np.float32)
    config.update("jax_compilation_cache_dir", str(tmp_path))
    try:
        start = dict(compiler.stats)
        first = funcjax.jit(f())(x)
        (entry,) = [e for e in os.listdir(tmp_path) if e.endswith(".fjo")]
        compiler.forget_engines()  # else the same IR reuses the engine loaded in this process
        second = funcjax.jit(f())(x)  # code loaded from disk
        assert compiler.stats["compiled"] - start["compiled"] == 1
        assert compiler.stats["loaded_from_disk"] - start["loaded_from_disk"] == 1
        np.testing.assert_array_equal(first, second)
        path = tmp_path / entry
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF  # corrupt the object code: the checksum no longer matches
        path.write_bytes(bytes(data))
        compiler.forget_engines()
        third = funcjax.jit(f())(x)
        assert compiler.stats["compiled"] - start["compiled"] == 2
        np.testing.assert_array_equal(first, third)
        path.write_bytes(b"not an entry")  # truncated / foreign: ignored too
        compiler.forget_engines()
        np.testing.assert_array_equal(funcjax.jit(f())(x), first)
        assert compiler.stats["compiled"] - start["compiled"] == 3
    finally:
        config.update("jax_compilation_cache_dir", None)


def test_concurrent_compilation_from_threads():
    x = np.arange(10, dtype=np.float32)
    results, errors = {}, []

    def work(k):
        try:
            f = funcjax.jit(lambda v: jnp.sqrt(v * (k + 1)) + k)
            for _ in range(3):
                results[k] = np.asarray(f(x))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(4):
        np.testing.assert_allclose(results[k], np.sqrt(x * (k + 1)) + k, rtol=1e-6)


def test_large_operands_blas_and_vectorised_loops():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((64, 48)).astype(np.float32)
    b = rng.standard_normal((48, 40)).astype(np.float32)
    c = rng.standard_normal((3, 40, 48)).astype(np.float64)

    def f(a, b, c):
        return {"mm": lax.dot(a, b), "mm_t": lax.dot_general(b, a, (((0,), (1,)), ((), ()))),
                "batched": lax.dot_general(c, c, (((2,), (2,)), ((0,), (0,)))),
                "sum0": jnp.sum(a, axis=0), "sum": jnp.sum(a), "max1": jnp.max(a, axis=1),
                "chain": jnp.exp(jnp.tanh(a) * 2) - a}
    with np.errstate(all="ignore"):
        config.update("jax_enable_x64", True)
        try:
            got = funcjax.jit(f)(a, b, c)
            text = funcjax.jit(f).lower(a, b, c).as_text("llvm")
        finally:
            config.update("jax_enable_x64", False)
    assert "scipy_cblas_sgemm64_" in text and "scipy_cblas_dgemm64_" in text
    want = {"mm": a @ b, "mm_t": b.T @ a.T, "batched": c @ c.transpose(0, 2, 1),
            "sum0": a.sum(0), "sum": a.sum(), "max1": a.max(1),
            "chain": np.exp(np.tanh(a) * 2) - a}
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=1e-4, err_msg=k)


@settings(max_examples=8, deadline=None)
@given(RECIPES)
def test_random_programs_jit_equals_eager(recipe):
    def program(x, y):
        return run_recipe(recipe, x, y)[2:]
    rng = np.random.default_rng(len(recipe))
    x, y = (rng.uniform(-1, 1, (3, 3)).astype(np.float32) for _ in range(2))
    with np.errstate(all="ignore"):
        want = program(x, y)
        got = funcjax.jit(program)(x, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_more_buffers_than_ctypes_can_pass_as_arguments():
    """ctypes calls take at most 1024 arguments; a gradient of a 700-leaf pytree needs 1401
    buffers, passed to the compiled code as one table of pointers."""
    params = {f"w{i:03d}": np.full(3, float(i), np.float32) for i in range(700)}

    def loss(p, x):
        return sum(jnp.sum(v * v * x) for v in p.values())

    grads = funcjax.jit(funcjax.grad(loss))(params, np.arange(3.0, dtype=np.float32))
    assert len(grads) == 700
    for key in ("w000", "w001", "w699"):
        np.testing.assert_allclose(grads[key], 2 * params[key] * np.arange(3.0), rtol=1e-6)
