"""funcjax.Array: repr, immutability, conversions, and tracer conversion errors."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp


def test_repr_like_jax():
    assert repr(jnp.array([1.0, 2.0])) == "Array([1., 2.], dtype=float32)"
    assert repr(jnp.asarray(1)) == "Array(1, dtype=int32, weak_type=True)"
    assert repr(jnp.zeros((0, 3))) == "Array([], shape=(0, 3), dtype=float32)"
    assert repr(jnp.array([True])) == "Array([ True], dtype=bool)"


def test_immutable_with_at_hint():
    x = jnp.arange(3)
    with pytest.raises(TypeError, match=r"x.at\[idx\].set"):
        x[0] = 1
    np.testing.assert_array_equal(x.at[0].set(5), [5, 1, 2])
    np.testing.assert_array_equal(x, [0, 1, 2])


def test_methods_and_operators_match_numpy():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    x = jnp.asarray(a)
    np.testing.assert_allclose(x @ x.T, a @ a.T, rtol=1e-6)
    np.testing.assert_allclose(2 ** x - 1 / (x + 1), 2 ** a - 1 / (a + 1), rtol=1e-6)
    np.testing.assert_array_equal(x.sum(axis=0), a.sum(axis=0))
    np.testing.assert_array_equal(x.reshape(3, 2).T, a.reshape(3, 2).T)
    np.testing.assert_array_equal(x.astype(jnp.int32), a.astype(np.int32))
    np.testing.assert_array_equal(-x // 2, -a // 2)
    np.testing.assert_array_equal(x.argsort(axis=1), a.argsort(axis=1))
    assert [float(v) for v in x[0]] == [0.0, 1.0, 2.0]
    assert float(x[1, 2]) == 5.0 and int(x[0, 1]) == 1 and x.ndim == 2 and len(x) == 2


def test_tracer_conversions_raise_naming_the_argument():
    with pytest.raises(funcjax.ConcretizationTypeError, match="'y'"):
        funcjax.make_jaxpr(lambda y: float(y))(1.0)
    with pytest.raises(funcjax.TracerBoolConversionError, match="'y'"):
        funcjax.make_jaxpr(lambda y: bool(y > 0))(1.0)
    with pytest.raises(funcjax.TracerIntegerConversionError):
        funcjax.make_jaxpr(lambda i: [1, 2][i])(1)
