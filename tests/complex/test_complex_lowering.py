"""Complex values in compiled code as (re, im) pairs (backend/llvm/lower_complex): values
against numpy (hypothesis, special values included), JAX's lexicographic order, and which
equations still run as host calls."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import host_call

SPECIAL = np.array([0, -0.0, 1, -1, 1j, -1j, 1e-30, 1e30, 3 - 4j, np.inf, -np.inf,
                    complex(np.inf, 1), complex(0, np.inf), np.nan, complex(1, np.nan)])


def _values(rng, shape, dtype, special):
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if special:
        z.ravel()[::2] = rng.choice(SPECIAL, z.size)[::2]
    return z.astype(dtype)


UNARY = {"neg": np.negative, "abs": np.abs, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
         "sin": np.sin, "cos": np.cos, "sinh": np.sinh, "cosh": np.cosh, "conj": np.conj,
         "real": np.real, "imag": np.imag, "angle": np.angle, "cube": lambda z: z ** 3,
         "inverse_square": lambda z: z ** -2, "sum": lambda z: np.sum(z, 1),
         "sum0": lambda z: np.sum(z, 0), "prod": lambda z: np.prod(z, 1),
         "max": lambda z: np.max(z, 1), "min": lambda z: np.min(z, 0),
         "sort": lambda z: np.sort(z, 1), "argsort": lambda z: np.argsort(z, 1, kind="stable"),
         "to_complex64": lambda z: z.astype(np.complex64), "to_bool": lambda z: z.astype(bool),
         "transpose_slice": lambda z: z.T[::-1, 1:]}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "eq": np.equal, "ne": np.not_equal, "maximum": np.maximum, "minimum": np.minimum,
          "less": np.less, "greater_equal": np.greater_equal}


OURS = {"neg": jnp.negative, "abs": jnp.abs, "exp": jnp.exp, "log": jnp.log, "sqrt": jnp.sqrt,
        "sin": jnp.sin, "cos": jnp.cos, "sinh": jnp.sinh, "cosh": jnp.cosh, "conj": jnp.conj,
        "real": jnp.real, "imag": jnp.imag, "angle": jnp.angle, "cube": lambda z: z ** 3,
        "inverse_square": lambda z: z ** -2, "sum": lambda z: jnp.sum(z, 1),
        "sum0": lambda z: jnp.sum(z, 0), "prod": lambda z: jnp.prod(z, 1),
        "max": lambda z: jnp.max(z, 1), "min": lambda z: jnp.min(z, 0),
        "sort": lambda z: jnp.sort(z, 1), "argsort": lambda z: jnp.argsort(z, 1, stable=True),
        "to_complex64": lambda z: z.astype(np.complex64), "to_bool": lambda z: z.astype(bool),
        "transpose_slice": lambda z: z.T[::-1, 1:]}


def _check(got, want, dtype, exact):
    got = np.asarray(got)
    assert got.dtype == np.asarray(want).dtype, (got.dtype, np.asarray(want).dtype)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        tol = 2e-5 if np.dtype(dtype) == np.complex64 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(["complex64", "complex128"]),
       special=st.booleans())
def test_unary_jit_against_numpy(x64, name, seed, dtype, special):
    exact = name in ("neg", "conj", "real", "imag", "max", "min", "sort", "argsort",
                     "to_complex64", "to_bool", "transpose_slice")
    if not exact and special:  # numpy's special-value branches are checked where exact
        return
    z = _values(np.random.default_rng(seed), (3, 5), dtype, special)
    want = UNARY[name](z)
    with np.errstate(all="ignore"):
        _check(funcjax.jit(OURS[name])(z), want, dtype, exact)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(["complex64", "complex128"]),
       special=st.booleans())
def test_binary_jit_against_numpy_and_eager(x64, name, seed, dtype, special):
    rng = np.random.default_rng(seed)
    z, w = _values(rng, (4, 3), dtype, special), _values(rng, (4, 3), dtype, special)
    w[0, :2] = z[0, :2]          # ties: maximum/minimum/compare on equal values
    w[1, 0] = z[1, 0].real       # equal real parts, imaginary parts decide
    w[2, 1] = 0                  # division by zero
    exact = name not in ("mul", "div")  # numpy may use FMA in its complex loops
    fn = getattr(jnp, BINARY[name].__name__)
    with np.errstate(all="ignore"):
        want = BINARY[name](z, w)
        if special and not exact:
            finite = np.isfinite(z) & np.isfinite(w) & (w != 0)
            z, w, want = np.where(finite, z, 1), np.where(finite, w, 1), np.where(
                finite, want, BINARY[name](np.ones_like(z), np.ones_like(w)))
        for got in (fn(z, w), funcjax.jit(fn)(z, w)):
            _check(got, want, dtype, exact)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("n", [3, 40])  # a generated loop, and cgemm/zgemm
def test_complex_dot_against_numpy(x64, dtype, n):
    rng = np.random.default_rng(n)
    a, b = _values(rng, (2, n, n), dtype, False), _values(rng, (2, n, 5), dtype, False)
    got = funcjax.jit(lambda a, b: jnp.matmul(a, b) + jnp.vdot(a[0, 0], b[0, :, 0]))(a, b)
    tol = 1e-4 if dtype == "complex64" else 1e-12
    np.testing.assert_allclose(np.asarray(got), a @ b + np.vdot(a[0, 0], b[0, :, 0]),
                               rtol=tol, atol=tol)


def test_lexicographic_order_matches_jax_eagerly_and_compiled():
    z = np.array([1 + 2j, 1 + 1j, -3 + 9j, 1 + 2j, 0.5 - 1j])
    w = np.array([1 + 3j, 1 + 1j, -4 + 0j, 2 - 5j, 0.5 - 2j])
    for fn in (lambda z, w: (jnp.maximum(z, w), jnp.minimum(z, w), z < w, jnp.max(z),
                             jnp.min(z), jnp.sort(z), jnp.argmax(jnp.abs(z))),):
        for got in (fn(z, w), funcjax.jit(fn)(z, w)):
            np.testing.assert_array_equal(np.asarray(got[0]), [1 + 3j, 1 + 1j, -3 + 9j, 2 - 5j,
                                                                0.5 - 1j])
            np.testing.assert_array_equal(np.asarray(got[1]), [1 + 2j, 1 + 1j, -4, 1 + 2j,
                                                                0.5 - 2j])
            np.testing.assert_array_equal(np.asarray(got[2]), [True, False, False, True,
                                                                False])
            assert complex(got[3]) == 1 + 2j and complex(got[4]) == -3 + 9j
            np.testing.assert_array_equal(np.asarray(got[5]), np.sort(z))


def test_gradients_through_compiled_complex_code_match_eager(x64):
    rng = np.random.default_rng(3)
    z = _values(rng, (4,), "complex128", False)

    def loss(z):
        y = jnp.exp(1j * z) * jnp.conj(z) + jnp.sqrt(z) / (z + 2.0)
        return jnp.sum(jnp.abs(y) ** 2) + jnp.real(jnp.max(z * z))

    np.testing.assert_allclose(np.asarray(funcjax.jit(funcjax.grad(loss))(z)),
                               np.asarray(funcjax.grad(loss)(z)), rtol=1e-10)
    holo = funcjax.jit(funcjax.grad(lambda z: jnp.sum(jnp.sin(z) * z), holomorphic=True))
    np.testing.assert_allclose(np.asarray(holo(z)), np.cos(z) * z + np.sin(z), rtol=1e-10)


def _host_calls(fn, *args):
    closed = host_call.outline_complex(funcjax.make_jaxpr(fn)(*args))
    return sorted(e.params["prim"].name for e in closed.jaxpr.eqns
                  if e.primitive is host_call.host_call_p)


def test_complex_programs_compile_without_host_calls():
    z = np.ones((3, 4), np.complex64)

    def program(z):
        y = jnp.exp(1j * z) * jnp.conj(z) / (jnp.abs(z) + 1) - jnp.sqrt(z) * jnp.cos(z)
        y = jnp.where(jnp.real(y) > 0, y, lax.complex(jnp.imag(y), jnp.real(y)))
        return (jnp.sum(y, 0), jnp.max(y), jnp.sort(y, 1), y @ y.T, jnp.pad(y, 1)[::2],
                jnp.concatenate([y, y]).astype(np.complex64), jnp.angle(y))

    assert _host_calls(program, z) == []
    # what is left to host calls: the rarer functions and scatter/scans on complex values
    assert _host_calls(lambda z: (jnp.tan(z), jnp.cumsum(z), z.at[0].add(1.0)), z) == [
        "cumsum", "scatter_add", "tan"]
