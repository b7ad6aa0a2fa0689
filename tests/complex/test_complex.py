"""Complex numbers: JAX's promotion, numpy's values (eager and jit), JAX's autodiff
conventions (values taken from JAX 0.10 runs), jvp-vs-vjp and finite differences, vmap."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.test_util import check_grads

# jnp.result_type of one array of each dtype, as JAX 0.10 prints it with x64 enabled.
JAX_PROMOTION = {
    ("float16", "complex64"): "complex64", ("float32", "complex64"): "complex64",
    ("float64", "complex64"): "complex128", ("int32", "complex64"): "complex64",
    ("int64", "complex64"): "complex64", ("uint8", "complex128"): "complex128",
    ("bool", "complex64"): "complex64", ("float32", "complex128"): "complex128",
    ("complex64", "complex128"): "complex128",
}
# array dtype + Python complex (weak) -> result, with x64
JAX_WEAK = {"float16": "complex64", "float32": "complex64", "float64": "complex128",
            "int32": "complex128", "bool": "complex128", "complex64": "complex64"}


@pytest.mark.parametrize("pair", sorted(JAX_PROMOTION))
def test_promotion_matches_jax(x64, pair):
    a, b = (jnp.zeros(2, d) for d in pair)
    assert jnp.result_type(a, b) == np.dtype(JAX_PROMOTION[pair])
    assert (a + b).dtype == np.dtype(JAX_PROMOTION[pair])


@pytest.mark.parametrize("dtype", sorted(JAX_WEAK))
def test_python_complex_scalars_are_weak(x64, dtype):
    assert (jnp.zeros(2, dtype) + 1j).dtype == np.dtype(JAX_WEAK[dtype])
    assert (jnp.zeros(2, "complex64") * 2.0).dtype == np.complex64


def test_without_x64_complex128_narrows():
    assert jnp.asarray(np.array([1 + 2j])).dtype == np.complex64
    assert (jnp.ones(2, "int32") + 1j).dtype == np.complex64


UNARY = {"exp": jnp.exp, "log": jnp.log, "sin": jnp.sin, "cos": jnp.cos, "tanh": jnp.tanh,
         "sqrt": jnp.sqrt, "abs": jnp.abs, "real": jnp.real, "imag": jnp.imag,
         "conj": jnp.conj, "angle": jnp.angle, "square": jnp.square, "sign": jnp.sign,
         "reciprocal": lambda z: 1 / z, "sum": lambda z: jnp.sum(z, 0),
         "cumsum": lambda z: jnp.cumsum(z, 1), "prod": lambda z: jnp.prod(z, 1),
         "mean": jnp.mean, "matmul": lambda z: z @ jnp.conj(z).T,
         "expm1": jnp.expm1, "log1p": jnp.log1p, "power": lambda z: z ** 3}
NUMPY = {"reciprocal": lambda z: 1 / z, "sum": lambda z: np.sum(z, 0),
         "cumsum": lambda z: np.cumsum(z, 1), "prod": lambda z: np.prod(z, 1),
         "matmul": lambda z: z @ np.conj(z).T, "power": lambda z: z ** 3}


def _complex_array(rng, shape, dtype):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=3)
@given(seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(["complex64", "complex128"]))
def test_values_against_numpy_eager_and_jit(name, seed, dtype):
    z = _complex_array(np.random.default_rng(seed), (3, 4), dtype)
    want = NUMPY.get(name, getattr(np, name, None))(z.astype(np.complex64))
    for got in (UNARY[name](jnp.asarray(z)), funcjax.jit(UNARY[name])(z)):
        got = np.asarray(got)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_binary_arithmetic_eager_and_jit():
    rng = np.random.default_rng(0)
    z, w = _complex_array(rng, (5,), "complex64"), rng.standard_normal(5).astype("float32")

    def f(z, w):
        return z + w, z - 2.0, z * w, z / (w + 3j), z == z, z != w

    for got in (f(z, w), funcjax.jit(f)(z, w)):
        for g, e in zip(got, f(z.astype(np.complex64), w)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-6)


Z = 3.0 + 4.0j
W = np.array([1 + 2j, -0.5 + 0.3j])


def test_autodiff_conventions_match_jax(x64):
    """Values printed by JAX 0.10 for the same programs."""
    np.testing.assert_allclose(funcjax.grad(lambda z: jnp.abs(z) ** 2)(Z), 6 - 8j)
    np.testing.assert_allclose(funcjax.grad(lambda z: jnp.real(z * z))(Z), 6 + 8j)
    np.testing.assert_allclose(funcjax.grad(lambda z: jnp.imag(jnp.exp(z)))(Z),
                               -15.200784 + 13.128783j, rtol=1e-6)
    np.testing.assert_allclose(funcjax.grad(lambda z: jnp.angle(z))(Z), -0.16 - 0.12j)
    np.testing.assert_allclose(
        funcjax.grad(lambda z: jnp.sin(z) * jnp.log(z), holomorphic=True)(Z),
        -43.800152 - 35.126184j, rtol=1e-6)
    diag = [0.013429 + 0.148931j, 0.813826 - 0.773761j]
    for jac in (funcjax.jacfwd, funcjax.jacrev):
        np.testing.assert_allclose(jac(lambda z: jnp.sqrt(z) / z, holomorphic=True)(W),
                                   np.diag(diag), atol=1e-6)
    np.testing.assert_allclose(funcjax.jacrev(lambda z: jnp.abs(jnp.conj(z) * 2.0 + 1j))(W),
                               np.diag([1.1094 - 1.664101j, -1.856953 + 0.742781j]), atol=1e-6)
    np.testing.assert_allclose(funcjax.jacfwd(lambda x: jnp.exp(1j * x))(np.array([0.3, 1.0])),
                               np.diag([-0.29552 + 0.955336j, -0.841471 + 0.540302j]),
                               atol=1e-6)
    _, pullback = funcjax.vjp(lambda z: jnp.conj(z) * z, W)
    np.testing.assert_allclose(pullback(np.array([1 + 1j, 2 - 1j]))[0], [2 - 4j, -2 - 1.2j])


def test_differentiation_errors_as_jax():
    with pytest.raises(TypeError, match="holomorphic=True"):
        funcjax.grad(lambda z: z * z)(Z)
    with pytest.raises(TypeError, match="jacfwd.*real-valued inputs"):
        funcjax.jacfwd(lambda z: z * z)(W)
    with pytest.raises(TypeError, match="jacrev.*real-valued outputs"):
        funcjax.jacrev(lambda x: x * 1j)(np.ones(2))
    with pytest.raises(TypeError, match="holomorphic=True.*complex"):
        funcjax.grad(lambda x: x * x, holomorphic=True)(1.0)


ANALYTIC = {"exp": jnp.exp, "log": jnp.log, "sin": jnp.sin, "tanh": jnp.tanh,
            "sqrt": jnp.sqrt, "mul_div": lambda z: z * z / (z + 2.0), "pow": lambda z: z ** 3,
            "expm1": jnp.expm1, "cumprod": jnp.cumprod}
NON_ANALYTIC = {"abs": jnp.abs, "real": jnp.real, "imag": jnp.imag, "conj": jnp.conj,
                "angle": jnp.angle, "abs2": lambda z: jnp.real(z * jnp.conj(z)),
                "complex": lambda z: jnp.real(z) + 1j * jnp.imag(z) ** 2}


@pytest.mark.parametrize("name", sorted(ANALYTIC) + sorted(NON_ANALYTIC))
def test_jvp_finite_differences_and_vjp(x64, name):
    fn = {**ANALYTIC, **NON_ANALYTIC}[name]
    z = _complex_array(np.random.default_rng(1), (3,), "complex128") + 0.5
    check_grads(fn, (z,), order=2 if name in ("exp", "abs", "mul_div") else 1)


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_holomorphic_jacobians_agree(x64, name):
    z = _complex_array(np.random.default_rng(2), (3,), "complex128") + 0.5
    fwd = funcjax.jacfwd(ANALYTIC[name], holomorphic=True)(z)
    rev = funcjax.jacrev(ANALYTIC[name], holomorphic=True)(z)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12)


def test_grad_of_a_real_loss_is_the_conjugate_convention(x64):
    """For real f of z = x + iy, JAX's grad is df/dx - i df/dy (checked here against finite
    differences in x and in y)."""
    f = lambda z: jnp.sum(jnp.abs(jnp.sin(z)) ** 2 + jnp.real(z) * jnp.imag(z) ** 3)  # noqa
    z = _complex_array(np.random.default_rng(3), (3,), "complex128")
    g = np.asarray(funcjax.grad(f)(z))
    eps = 1e-6
    for k in range(3):
        e = np.zeros(3)
        e[k] = eps
        dx = (float(f(z + e)) - float(f(z - e))) / (2 * eps)
        dy = (float(f(z + 1j * e)) - float(f(z - 1j * e))) / (2 * eps)
        np.testing.assert_allclose(g[k], dx - 1j * dy, rtol=1e-6)


def test_vmap_and_jit_of_complex_programs_match_a_loop():
    rng = np.random.default_rng(4)
    zs = _complex_array(rng, (4, 3), "complex64")
    f = lambda z: jnp.exp(z) * jnp.conj(z) + jnp.abs(z) @ jnp.ones(3)  # noqa: E731
    want = np.stack([np.asarray(f(z)) for z in zs])
    np.testing.assert_allclose(funcjax.vmap(f)(zs), want, rtol=1e-6)
    np.testing.assert_allclose(funcjax.jit(funcjax.vmap(f))(zs), want, rtol=1e-6)
    g = funcjax.jit(funcjax.grad(lambda z: jnp.sum(jnp.abs(f(z)) ** 2)))
    np.testing.assert_allclose(g(zs[0]), funcjax.grad(lambda z: jnp.sum(jnp.abs(f(z)) ** 2))(
        zs[0]), rtol=1e-5)


def test_predicates_and_real_if_close():
    z = np.array([1 + 0j, 1j])
    assert jnp.iscomplexobj(z) and not jnp.isrealobj(z) and jnp.isrealobj(np.ones(2))
    assert np.array_equal(jnp.iscomplex(z), [False, True])
    assert np.array_equal(jnp.isreal(z), [True, False])
    assert jnp.real_if_close(np.array([1 + 1e-20j])).dtype == np.float32
    assert jnp.real_if_close(np.array([1 + 1e-2j])).dtype == np.complex64
    assert np.array_equal(jnp.imag(np.ones(2, "f")), [0, 0])
    with pytest.raises(TypeError, match="complex does not accept int32"):
        funcjax.lax.complex(np.ones(2, np.int32), np.ones(2, np.int32))
