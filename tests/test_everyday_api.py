"""The everyday API around the transformations, each checked against JAX's documented
behaviour (values against numpy or a hand derivation, never against funcjax itself)."""

import functools
import warnings

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax.tree_util import Partial, tree_leaves


def test_device_get_returns_numpy_leaves_and_keeps_the_rest():
    tree = {"a": jnp.arange(3.0), "b": [jnp.ones((2, 2), jnp.int32), "label", 4]}
    out = fj.device_get(tree)
    assert type(out["a"]) is np.ndarray and out["b"][1:] == ["label", 4]
    np.testing.assert_array_equal(out["b"][0], np.ones((2, 2), np.int32))
    with pytest.raises(TypeError, match="device_get.*traced"):
        fj.jit(fj.device_get)(jnp.ones(2))


def test_clear_caches_forces_a_new_trace():
    traces = []

    @fj.jit
    def f(x):
        traces.append(1)
        return x * 2
    f(1.0)
    f(2.0)
    assert len(traces) == 1
    fj.clear_caches()
    np.testing.assert_allclose(f(3.0), 6.0)
    assert len(traces) == 2


def test_block_until_ready_on_pytrees_returns_them():
    tree = {"x": jnp.arange(2.0), "y": (jnp.ones(1), None, 3)}
    assert fj.block_until_ready(tree) is tree


def test_named_call_keeps_values_and_renames():
    f = fj.named_call(lambda x: jnp.sin(x) * 2, name="my_layer")
    assert f.__name__ == "my_layer"
    np.testing.assert_allclose(fj.jit(f)(0.5), 2 * np.sin(0.5), rtol=1e-6)
    np.testing.assert_allclose(fj.grad(f)(0.5), 2 * np.cos(0.5), rtol=1e-6)
    with fj.named_scope("block"):
        np.testing.assert_allclose(f(0.5), 2 * np.sin(0.5), rtol=1e-6)


def test_ensure_compile_time_eval_gives_concrete_values_under_jit():
    kinds = []

    @fj.jit
    def f(x):
        with fj.ensure_compile_time_eval():
            table = jnp.arange(4) * 3
            kinds.append(type(table))
            n = int(table[2])  # concrete, so Python can use it
            y = x + table[:n // 3]
        return y
    np.testing.assert_array_equal(f(jnp.ones(2)), [1.0, 4.0])
    assert kinds == [fj.Array]


def test_custom_gradient_uses_the_given_vjp():
    @fj.custom_gradient
    def clip_grad(x):
        return x ** 2, lambda g: (g * jnp.clip(2 * x, -1.0, 1.0),)
    for x, expected in [(0.25, 0.5), (3.0, 1.0), (-2.0, -1.0)]:
        assert float(fj.grad(clip_grad)(x)) == pytest.approx(expected)
        assert float(fj.jit(fj.grad(clip_grad))(x)) == pytest.approx(expected)
    np.testing.assert_allclose(fj.vmap(fj.grad(clip_grad))(jnp.array([0.25, 3.0])), [0.5, 1.0])
    assert float(clip_grad(3.0)) == 9.0


def test_closure_convert_hoists_traced_closures():
    hoisted = []

    def outer(w):
        f = lambda x: jnp.sin(x * w)  # noqa: E731
        converted, consts = fj.closure_convert(f, 1.0)
        hoisted.append(len(consts))
        return converted(0.5, *consts)
    np.testing.assert_allclose(outer(jnp.float32(2.0)), np.sin(1.0), rtol=1e-6)
    np.testing.assert_allclose(fj.grad(outer)(2.0), 0.5 * np.cos(1.0), rtol=1e-6)
    assert hoisted == [0, 1]  # a concrete scalar is inlined as a literal; a tracer is hoisted


def test_print_saved_residuals(capsys):
    fj.ad_checkpoint.print_saved_residuals(lambda x: jnp.sin(jnp.sin(x)).sum(), jnp.ones(3))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("f32[3] 'cos'") for line in lines)


def test_vjp_pullback_is_a_partial_pytree_that_crosses_jit():
    x = jnp.arange(3.0)
    _, pullback = fj.vjp(jnp.sin, x)
    assert isinstance(pullback, Partial)
    np.testing.assert_allclose(tree_leaves(pullback)[0], np.cos(np.arange(3.0)), rtol=1e-6)
    np.testing.assert_allclose(fj.jit(lambda p, c: p(c)[0])(pullback, jnp.ones(3)),
                               np.cos(np.arange(3.0)), rtol=1e-6)
    returned = fj.jit(lambda x: fj.vjp(lambda v: v ** 3, x)[1])(x)
    np.testing.assert_allclose(returned(jnp.ones(3))[0], 3 * np.arange(3.0) ** 2, rtol=1e-6)


def test_jit_decorator_forms():
    @fj.jit(static_argnames="n")
    def power(x, n):
        return x ** n

    @functools.partial(fj.jit, static_argnums=(1,))
    def power2(x, n):
        return x ** n
    assert float(power(2.0, n=3)) == 8.0 and float(power2(2.0, 4)) == 16.0


def test_shape_dtype_struct_like():
    s = fj.ShapeDtypeStruct.like(jnp.ones((2, 3), jnp.int32))
    assert (s.shape, s.dtype) == ((2, 3), np.dtype(np.int32))
    assert fj.ShapeDtypeStruct.like(np.zeros(4, np.float32)) == fj.ShapeDtypeStruct((4,),
                                                                                   np.float32)


def test_array_sharding_is_a_single_device_sharding():
    x = jnp.ones(3)
    assert x.sharding.device_set == {fj.devices()[0]}
    assert x.sharding.is_fully_replicated and x.sharding.shard_shape((3,)) == (3,)
    assert x.sharding == jnp.zeros(2).sharding


X = np.arange(12.0, dtype=np.float32).reshape(3, 4) - 4


@pytest.mark.parametrize("fn", [
    lambda a: np.mean(a, 0), lambda a: np.sum(a, axis=0), lambda a: np.max(a),
    lambda a: np.std(a), lambda a: np.var(a, ddof=1), lambda a: np.min(a, axis=1, keepdims=True),
    lambda a: np.prod(a, axis=1), lambda a: np.argmax(a, axis=1), lambda a: np.argmin(a),
    lambda a: np.cumsum(a, axis=1), lambda a: np.cumprod(a), lambda a: np.all(a > -5),
    lambda a: np.any(a > 6, axis=0), lambda a: np.round(a / 3, 1), lambda a: np.clip(a, -1, 2),
    lambda a: np.take(a, [0, 2], axis=1), lambda a: np.transpose(a),
    lambda a: np.reshape(a, (4, 3)), lambda a: np.squeeze(a[None]),
    lambda a: np.sum(a, where=a > 0),
    lambda a: np.mean(a, where=a > 0), lambda a: np.amax(a, axis=0), lambda a: np.trace(a),
    lambda a: np.swapaxes(a, 0, 1), lambda a: np.repeat(a, 2, axis=0), lambda a: np.sin(a),
    lambda a: np.sum(a, initial=10.0), lambda a: np.sort(a, axis=0), lambda a: np.argsort(a),
    lambda a: np.var(a, where=a > -2), lambda a: np.std(a, axis=0, ddof=1, where=a > -3),
])
def test_numpy_functions_on_arrays_give_numpys_results(fn):
    np.testing.assert_allclose(np.asarray(fn(jnp.asarray(X))), fn(X), rtol=1e-6)


def test_numpy_out_argument_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="Array.sum: the 'out' argument"):
        np.sum(jnp.ones(3), out=np.zeros(()))


def test_float64_request_without_x64_warns_and_narrows():
    with pytest.warns(UserWarning, match="jnp.array: dtype float64 is not available"):
        x = jnp.array([1.0], dtype=jnp.float64)
    assert x.dtype == np.float32
    with pytest.warns(UserWarning, match="jnp.zeros: dtype int64"):
        jnp.zeros(2, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jnp.zeros(2, float).dtype == np.float32  # Python's float: the default type


def test_float64_request_with_x64_is_silent(x64):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jnp.array([1.0], dtype=jnp.float64).dtype == np.float64


def test_coverage_shows_lowering_rules_without_a_prior_jit():
    import subprocess
    import sys
    code = ("import funcjax, sys; from funcjax.core.primitive import coverage; "
            "assert 'llvmlite' not in sys.modules; t = coverage(); "
            "print(len(t.missing('lower')), len(t.rows))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "0" and int(out[1]) > 50


def test_typeof_and_namespaces_of_jax():
    assert str(fj.typeof(jnp.ones((2, 3), jnp.int32))) == "int32[2,3]"
    assert fj.typeof(1.0).weak_type and not fj.typeof(np.float32(1)).weak_type
    assert fj.custom_derivatives.custom_jvp is fj.custom_jvp
    assert issubclass(fj.errors.TracerBoolConversionError, fj.errors.ConcretizationTypeError)
    assert fj.stages.Lowered is type(fj.jit(jnp.sin).lower(1.0))
    assert fj.float0 == fj.dtypes.float0 and isinstance(fj.devices()[0], fj.Device)


def test_make_array_from_callback_single_device():
    data = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    x = fj.make_array_from_callback((2, 3), jnp.ones(1).sharding, lambda idx: data[idx])
    np.testing.assert_array_equal(x, data)
    assert fj.copy_to_host_async(x) is x


def test_config_context_managers_restore_the_flag():
    assert not fj.config.jax_debug_nans
    with fj.debug_nans(True), fj.log_compiles(True), fj.explain_cache_misses(True):
        assert fj.config.jax_debug_nans and fj.config.jax_log_compiles
    assert not fj.config.jax_debug_nans and not fj.config.jax_log_compiles


def test_print_environment_info():
    text = fj.print_environment_info(return_string=True)
    assert text.startswith("funcjax:") and "llvmlite:" in text and "CpuDevice(id=0)" in text


def test_numpy_reductions_on_traced_values():
    """numpy's functions call the array methods, which tracers share: they stay traced."""
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    out = fj.jit(lambda a: np.sum(a, axis=0) + np.mean(a, 0))(x)
    np.testing.assert_allclose(out, x.sum(0) + x.mean(0))
    np.testing.assert_allclose(fj.grad(lambda a: np.sum(a ** 2))(x), 2 * x)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "all", "any", "mean", "var",
                                  "std", "argmax", "argmin", "cumsum", "cumprod", "ptp"])
def test_jnp_reductions_accept_out_none_and_refuse_a_buffer(name):
    x = X / 10 + 1
    np.testing.assert_allclose(np.asarray(getattr(jnp, name)(x, out=None)),
                               getattr(np, name)(x), rtol=1e-5)
    with pytest.raises(NotImplementedError, match=f"jnp.{name}: the 'out' argument"):
        getattr(jnp, name)(x, out=np.zeros(()))


def test_elementwise_and_indexing_functions_take_numpy_out_argument():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    a = jnp.asarray(x)
    np.testing.assert_array_equal(jnp.clip(a, 1, 3, out=None), np.clip(x, 1, 3))
    np.testing.assert_array_equal(jnp.round(a / 3, 1, None), np.round(x / 3, 1))
    np.testing.assert_array_equal(jnp.take(a, jnp.array([0, 2]), 1, None, "clip"),
                                  np.take(x, [0, 2], 1, None, "clip"))
    np.testing.assert_array_equal(jnp.trace(a, out=None), np.trace(x))
    for call in (lambda: jnp.clip(a, 1, 3, out=np.empty((2, 3))),
                 lambda: jnp.round(a, out=np.empty((2, 3))),
                 lambda: jnp.take(a, 0, out=np.empty(())),
                 lambda: jnp.trace(a, out=np.empty(()))):
        with pytest.raises(NotImplementedError, match="immutable"):
            call()
