"""jnp.frompyfunc/ufunc against numpy's object ufuncs, sort_complex, and the complex scalar
type names."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp


def _f(a, b):
    return a * b + 1


def test_ufunc_methods_match_numpy():
    x = np.arange(1.0, 6.0)
    y = np.linspace(-1, 1, 3)
    u, ref = jnp.frompyfunc(_f, 2, 1), np.frompyfunc(_f, 2, 1)
    m = np.arange(6.0).reshape(2, 3) / 3
    for got, want in ((u(x, 2.0), ref(x, 2.0)), (u.outer(x, y), ref.outer(x, y)),
                      (u.reduce(x), ref.reduce(x)), (u.accumulate(x), ref.accumulate(x)),
                      (u.reduce(m, axis=1), ref.reduce(m, axis=1)),
                      (u.accumulate(m, axis=1), ref.accumulate(m, axis=1)),
                      (funcjax.jit(u.reduce)(x), ref.reduce(x))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want, float))
    expected = x.copy()
    ref.at(expected, [0, 0, 3], 2.0)
    np.testing.assert_allclose(np.asarray(u.at(x, np.array([0, 0, 3]), 2.0)), expected)
    with pytest.raises(ValueError, match="two arguments"):
        jnp.frompyfunc(lambda a: a, 1, 1).reduce(x)


def test_sort_complex_and_complex_type_names():
    x = np.array([[3 + 1j, 1, 2 - 1j, 1 - 2j], [0, 1j, -1j, 0.5]], np.complex64)
    np.testing.assert_array_equal(np.asarray(jnp.sort_complex(x)), np.sort_complex(x))
    np.testing.assert_array_equal(np.asarray(jnp.sort_complex(np.array([3, 1, 2]))),
                                  np.sort_complex(np.array([3, 1, 2])))
    assert jnp.complex64(1 + 2j).dtype == np.complex64
    assert jnp.csingle is jnp.complex64 and jnp.cdouble is jnp.complex128
    assert isinstance(np.complex64(1), jnp.complex64)
    assert jnp.issubdtype(jnp.complex64, jnp.complexfloating)
    assert jnp.zeros(2, jnp.complex64).dtype == np.complex64
