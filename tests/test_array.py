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


# Expected behaviour below was checked against JAX 0.10.2.
def test_array_python_protocols_match_jax():
    x = jnp.asarray([1.5, 2.5])
    assert (x == None) is False and (x != None) is True  # noqa: E711
    with pytest.raises(TypeError):
        x + None
    with pytest.raises(TypeError):
        x < "a"  # noqa: B015
    r = round(jnp.asarray(2.567), 1)
    assert r.dtype == np.float32 and r.weak_type and np.isclose(float(r), 2.6)
    r = round(jnp.asarray(2.5))
    assert r.dtype == np.int32 and int(r) == 2
    c = x.copy()
    np.testing.assert_array_equal(c, [1.5, 2.5])
    assert jnp.ones((2, 3), jnp.int8).nbytes == 6 and jnp.ones(2).itemsize == 4
    with pytest.raises(TypeError):  # numpy: unsupported format string
        format(x, ".2f")
    assert f"{x}" == str(np.asarray(x))


def test_mixed_sequence_of_arrays_becomes_an_array():
    np.testing.assert_array_equal(jnp.asarray((jnp.ones(2), jnp.zeros(2))), [[1, 1], [0, 0]])


def test_non_integer_shapes_and_non_callables_are_type_errors():
    with pytest.raises(TypeError):
        jnp.arange(6).reshape(2.0, 3)
    for transform in (funcjax.jit, funcjax.grad, funcjax.vmap, funcjax.make_jaxpr):
        with pytest.raises(TypeError, match="Expected a callable value, got 3"):
            transform(3)
    with pytest.raises(TypeError, match="str"):
        funcjax.vmap(lambda x: x)("abc")


def test_creation_and_at_keywords_match_jax():
    # JAX 0.10.2: OverflowError "Python integer -2147483649 out of bounds for int32".
    with pytest.raises(OverflowError, match="out of bounds for int32"):
        jnp.array([-2**31 - 1])
    np.testing.assert_array_equal(jnp.array([2**31 - 1, -2**31]), [2**31 - 1, -2**31])
    np.testing.assert_array_equal(jnp.asarray(np.ones(2), copy=True), [1.0, 1.0])
    x = jnp.arange(5.0)
    idx = np.array([1, 2])
    np.testing.assert_array_equal(
        x.at[idx].set(0.0, indices_are_sorted=True, unique_indices=True), [0, 0, 0, 3, 4])
    np.testing.assert_array_equal(x.at[idx].get(unique_indices=True), [1, 2])
    with pytest.raises(TypeError):
        x.at[idx].set(0.0, bogus=True)
