"""The jit API: caching on the abstract signature, static arguments, AOT stages, argument
checks, jax_disable_jit / jax_log_compiles / jax_debug_nans, staging of nested jits."""

import functools
import logging

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import config, lax
from funcjax.backend.llvm import compiler
from funcjax.core.primitive import coverage


def counting(fun):
    """``fun`` plus a list that grows by one each time Python runs (i.e. traces) it."""
    calls = []

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        calls.append(1)
        return fun(*args, **kwargs)
    return wrapped, calls


def test_traces_and_compiles_once_per_signature():
    def scale(x, n, *, mode):
        return x * n if mode == "mul" else x + n
    fun, traces = counting(scale)
    f = funcjax.jit(fun, static_argnames=("mode",))
    x32 = np.arange(4, dtype=np.float32)
    before = compiler.stats["compiled"]
    np.testing.assert_array_equal(f(x32, 2.0, mode="mul"), x32 * 2)
    f(x32 + 1, 3.0, mode="mul")                       # same signature: cached
    assert (len(traces), compiler.stats["compiled"] - before) == (1, 1)
    f(x32, np.float32(3.0), mode="mul")               # strong f32 scalar != weak scalar
    assert len(traces) == 2 and "weak" in f.last_miss_reason
    f(np.arange(5, dtype=np.float32), 3.0, mode="mul")  # new shape
    assert len(traces) == 3 and "'x' changed from f32[4] to f32[5]" in f.last_miss_reason
    np.testing.assert_array_equal(f(x32, 2.0, mode="add"), x32 + 2)  # new static value
    assert len(traces) == 4 and "static argument 'mode'" in f.last_miss_reason
    f(x32, 2.0, mode="add")
    info = f.cache_info()
    assert (info.hits, info.misses, info.traces, info.compiles, info.size) == (2, 4, 4, 4, 4)
    assert compiler.stats["compiled"] - before == 4


def test_static_argnums_and_unhashable_static_values():
    f = funcjax.jit(lambda x, shape: jnp.reshape(x, shape), static_argnums=1)
    x = np.arange(6, dtype=np.int32)
    np.testing.assert_array_equal(f(x, (2, 3)), x.reshape(2, 3))
    with pytest.raises(ValueError, match="static argument 'shape' has unhashable type list"):
        f(x, [2, 3])


def test_pytrees_in_and_out():
    @funcjax.jit
    def step(params, x):
        return {"y": params["w"] * x + params["b"], "n": x.shape[0]}
    out = step({"w": np.float32(2), "b": np.ones(3, np.float32)}, np.arange(3.0, dtype=np.float32))
    np.testing.assert_array_equal(out["y"], [1, 3, 5])
    assert out["n"] == 3


def test_lower_compile_and_shape_dtype_struct():
    f = funcjax.jit(lambda x, y: jnp.sum(jnp.exp(x) * y))
    spec = funcjax.ShapeDtypeStruct((8,), np.float32)
    lowered = f.lower(spec, spec)
    assert "exp" in lowered.as_text() and "reduce_sum" in lowered.as_text()
    llvm_text = lowered.as_text("llvm")
    assert 'define void @"jit_' in llvm_text and "fj.exp.f32" in llvm_text  # vecmath
    compiled = lowered.compile()
    x = np.linspace(0, 1, 8, dtype=np.float32)
    np.testing.assert_allclose(compiled(x, x), np.sum(np.exp(x) * x), rtol=1e-6)
    assert "ret" in compiled.as_text("asm")
    cost = compiled.cost_analysis()
    assert cost["transcendentals"] == 8 and cost["flops"] >= 16
    mem = compiled.memory_analysis()
    assert (mem.argument_size_in_bytes, mem.output_size_in_bytes) == (64, 4)
    with pytest.raises(TypeError, match=r"'x' has type float32\[9\] but the computation was "
                                        r"compiled for float32\[8\]"):
        compiled(np.zeros(9, np.float32), x)
    with pytest.raises(TypeError, match=r"'y' has type int32\[8\]"):
        compiled(x, np.zeros(8, np.int32))


def test_wrong_argument_types_raise_like_the_traced_function():
    f = funcjax.jit(lambda x, y: lax.add(x, y))
    with pytest.raises(TypeError, match="add requires operands of equal shapes"):
        f(np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="add requires operands of equal shapes"):
        lax.add(np.zeros(3, np.float32), np.zeros(4, np.float32))


def test_nested_jit_is_staged_as_a_jit_equation_and_inlined():
    inner = funcjax.jit(lambda x: jnp.sin(x) + 1)
    outer = funcjax.jit(lambda x: inner(x) * 2)
    text = str(funcjax.make_jaxpr(outer)(np.ones(3, np.float32)))
    assert text.count("jit[") == 2 and "sin" in text
    x = np.linspace(-1, 1, 3, dtype=np.float32)
    np.testing.assert_allclose(outer(x), (np.sin(x) + 1) * 2, rtol=1e-6)
    text = outer.lower(x).as_text("llvm")
    assert text.count("define void ") == 2 and "_packed" in text  # body + entry; inner inlined


def test_every_shipped_primitive_has_a_lowering_rule():
    assert coverage().missing("lower") == []


def test_disable_jit_runs_python_eagerly():
    fun, traces = counting(lambda x: x + 1)
    f = funcjax.jit(fun)
    config.update("jax_disable_jit", True)
    try:
        out = f(np.ones(2, np.float32))
        f(np.ones(2, np.float32))
    finally:
        config.update("jax_disable_jit", False)
    assert len(traces) == 2 and f.cache_info().traces == 0
    np.testing.assert_array_equal(out, [2, 2])


def test_log_compiles(caplog):
    config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="funcjax"):
            funcjax.jit(lambda x: x * 3)(np.ones(2, np.int32))
    finally:
        config.update("jax_log_compiles", False)
    text = caplog.text
    assert "Finished tracing" in text and "Finished LLVM compilation" in text
    assert "Finished lowering" in text  # tracing, lowering and LLVM times separately


def test_debug_nans_names_the_primitive_and_line():
    def f(x):
        y = jnp.log(x)  # the NaN is made here
        return y * 2
    config.update("jax_debug_nans", True)
    try:
        g = funcjax.jit(f)
        g(np.ones(3, np.float32))
        with pytest.raises(FloatingPointError, match=r"'log' at .*test_jit_api.py:\d+ \(f\)"):
            g(np.array([1.0, -1.0, 2.0], np.float32))
    finally:
        config.update("jax_debug_nans", False)
    assert np.isnan(np.asarray(g(np.array([-1.0], np.float32)))).all()
