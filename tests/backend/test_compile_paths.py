"""Compile-time paths: programs that only forward inputs skip LLVM, cold programs (small, no
loops) take the cheap pipeline, and identical IR reuses the loaded engine; results are the
same on every path."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import compiler, program


def test_forwarding_programs_skip_llvm_and_copy_numpy_inputs():
    before = compiler.stats["compiled"]
    tree = {f"k{k}": np.full(3, k, np.float32) for k in range(50)}
    tree["array"] = jnp.arange(4.0)
    out = funcjax.jit(lambda t: t)(tree)
    assert compiler.stats["compiled"] == before
    tree["k3"][0] = 99.0  # the output never shares the caller's mutable buffer
    np.testing.assert_array_equal(out["k3"], np.full(3, 3, np.float32))
    np.testing.assert_array_equal(out["array"], np.arange(4.0))
    assert all(type(v) is funcjax.Array for v in out.values())
    f = funcjax.jit(lambda x, y: (y, x, x))
    a, b, c = f(np.float32(1.5), jnp.ones(2, jnp.int32))
    assert a.dtype == np.int32 and b.dtype == np.float32 and float(c) == 1.5
    for _ in range(40):  # called again: still no code, no generated entry
        np.testing.assert_array_equal(f(np.float32(1.5), jnp.ones(2, jnp.int32))[0], [1, 1])
    assert f._store.native is None and compiler.stats["compiled"] == before
    compiled = funcjax.jit(lambda t: t).lower(jnp.ones(3)).compile()
    assert "define" in compiled.as_text("llvm") and compiled.memory_analysis() is not None
    with pytest.raises(TypeError, match="compiled for"):
        compiled(jnp.ones(4))


def _chain(v, w):
    u = jnp.tanh(v) * w + jnp.exp(-v * v) - jnp.sqrt(jnp.abs(w))
    return jnp.sum(u * u, axis=0), jnp.maximum(u, 0.1) @ w.T


@pytest.mark.parametrize("elements", [0, 10 ** 9])  # every program hot / every program cold
def test_cold_and_hot_pipelines_agree(monkeypatch, elements):
    rng = np.random.default_rng(0)
    v, w = (rng.standard_normal((5, 6)).astype(np.float32) for _ in range(2))
    want = funcjax.jit(_chain)(v, w)
    monkeypatch.setattr(program, "COLD_ELEMENTS", elements)
    compiler.forget_engines()
    got = funcjax.jit(lambda a, b: _chain(a, b))(v, w)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_is_cold_needs_small_values_and_no_sub_programs():
    small = funcjax.make_jaxpr(lambda x: jnp.sin(x) * 2)(jnp.ones(8))
    big = funcjax.make_jaxpr(lambda x: jnp.sin(x) * 2)(jnp.ones(10_000))
    loop = funcjax.make_jaxpr(lambda x: funcjax.lax.fori_loop(0, 3, lambda i, c: c * 2, x))(
        jnp.ones(8))
    assert program.is_cold(small) and not program.is_cold(big) and not program.is_cold(loop)


def test_identical_programs_reuse_the_engine():
    x = np.linspace(0, 1, 5, dtype=np.float32)
    funcjax.jit(lambda v: jnp.cos(v) * 7 - 2)(x)
    compiled, reused = compiler.stats["compiled"], compiler.stats["reused_in_process"]
    np.testing.assert_allclose(funcjax.jit(lambda v: jnp.cos(v) * 7 - 2)(x), np.cos(x) * 7 - 2,
                               rtol=1e-6)
    assert compiler.stats["compiled"] == compiled
    assert compiler.stats["reused_in_process"] == reused + 1


def test_the_collector_is_paused_only_while_compiling():
    import gc
    seen = []

    def fun(v):
        seen.append(gc.isenabled())
        return v * 3
    assert gc.isenabled()
    np.testing.assert_array_equal(funcjax.jit(fun)(np.ones(2, np.float32)), [3, 3])
    assert seen == [False] and gc.isenabled()

    def broken(v):
        raise ValueError("no")
    with pytest.raises(ValueError):
        funcjax.jit(broken)(np.ones(2))
    assert gc.isenabled()
    gc.disable()
    try:  # a caller that disabled it keeps it disabled
        funcjax.jit(lambda v: v - 1)(np.ones(2))
        assert not gc.isenabled()
    finally:
        gc.enable()
