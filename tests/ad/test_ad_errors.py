"""Error kinds of the differentiation API, matching JAX 0.10.2 (each case was run under JAX
to find the exception class it raises)."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

V = np.ones(3, np.float32)
H = V.astype(np.float16)


@pytest.mark.parametrize("call,error", [
    (lambda: funcjax.vjp(jnp.sin, V)[1](H), ValueError),
    (lambda: funcjax.vjp(jnp.sin, V)[1](np.ones(2, np.float32)), ValueError),
    (lambda: funcjax.vjp(lambda x: (x, x), V)[1](V), ValueError),
    (lambda: funcjax.linearize(jnp.sin, V)[1](H), ValueError),
    (lambda: funcjax.linearize(jnp.sin, V)[1]((V,)), TypeError),
    (lambda: funcjax.linear_transpose(jnp.negative, V)(H), TypeError),
    (lambda: funcjax.linear_transpose(jnp.negative, V)(np.ones(2, np.float32)), TypeError),
    (lambda: funcjax.jvp(jnp.sin, (V,), (H,)), TypeError),
    (lambda: funcjax.jvp(jnp.sin, (V,), (np.ones(2, np.float32),)), ValueError),
], ids=["vjp_dtype", "vjp_shape", "vjp_tree", "linearize_dtype", "linearize_tree",
        "transpose_dtype", "transpose_shape", "jvp_dtype", "jvp_shape"])
def test_mismatched_tangents_and_cotangents(call, error):
    with pytest.raises(error):
        call()


@pytest.mark.parametrize("convert,error", [
    (float, funcjax.ConcretizationTypeError),
    (complex, funcjax.ConcretizationTypeError),
    (lambda x: x.item(), funcjax.ConcretizationTypeError),
    (lambda x: x.tolist(), funcjax.ConcretizationTypeError),
    (np.asarray, funcjax.TracerArrayConversionError),
], ids=["float", "complex", "item", "tolist", "asarray"])
def test_conversions_that_drop_the_derivative_are_refused(convert, error):
    # JAX refuses these under grad and jvp even though the primal is known: the value would
    # silently carry no derivative. bool() and int() work (they are piecewise constant).
    with pytest.raises(error, match="drop its derivative"):
        funcjax.grad(lambda x: x * convert(x))(1.5)
    with pytest.raises(error):
        funcjax.jvp(lambda x: x * convert(x), (1.5,), (1.0,))


def test_bool_and_int_of_known_primals_still_work():
    f = lambda x: x ** 2 if x > 0 else x * int(x * -2)  # noqa: E731
    assert funcjax.grad(f)(1.5) == 3.0
    assert funcjax.grad(f)(-1.5) == 3.0
    assert funcjax.grad(lambda x: x * jnp.arange(4.0)[int(x)])(2.0) == 2.0
    assert funcjax.grad(lambda x: lax.stop_gradient(x) * x)(3.0) == 3.0


def test_float0_lives_in_funcjax_dtypes():
    out, tangent = funcjax.jvp(lambda x, n: x * n, (V, 3),
                               (V, np.zeros((), funcjax.dtypes.float0)))
    np.testing.assert_array_equal(tangent, V * 3)
