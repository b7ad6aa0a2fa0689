"""The same key gives the same numbers eagerly, under jit and under vmap; gradients flow
through reparameterised samplers; bad keys, shapes and bounds raise clear errors."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import random

KEY = random.PRNGKey(3)
SAMPLERS = {
    "split": lambda k: random.split(k, 3),
    "fold_in": lambda k: random.fold_in(k, 11),
    "bits": lambda k: random.bits(k, (5,)),
    "uniform": lambda k: random.uniform(k, (5,), minval=-2.0, maxval=2.0),
    "normal": lambda k: random.normal(k, (5,)),
    "randint": lambda k: random.randint(k, (5,), -4, 9),
    "permutation": lambda k: random.permutation(k, 7),
    "choice": lambda k: random.choice(k, 9, (3,), replace=False),
    "categorical": lambda k: random.categorical(k, jnp.array([0.0, 1.0, -1.0]), shape=(4,)),
    "bernoulli": lambda k: random.bernoulli(k, 0.4, (5,)),
    "poisson": lambda k: random.poisson(k, jnp.array([2.0, 25.0])),
    "gamma": lambda k: random.gamma(k, jnp.array([0.7, 3.0])),
    "truncated_normal": lambda k: random.truncated_normal(k, -1.0, 1.0, (4,)),
}


def _check_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        # Compiled log1p/log/tan come from libm and may differ from numpy's by an ulp.
        np.testing.assert_allclose(a, b, rtol=3e-7, atol=1e-7)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_eager_jit_vmap_agree(name):
    f = SAMPLERS[name]
    eager = f(KEY)
    _check_equal(funcjax.jit(f)(KEY), eager)
    keys = random.split(KEY, 3)
    batched = funcjax.vmap(f)(keys)
    for i in range(3):
        _check_equal(batched[i], f(keys[i]))


def test_uniform_and_bits_are_bit_exact_under_jit():
    f = funcjax.jit(lambda k: (random.bits(k, (64,)), random.uniform(k, (64,))))
    for got, want in zip(f(KEY), (random.bits(KEY, (64,)), random.uniform(KEY, (64,)))):
        np.testing.assert_array_equal(got, want)


def test_typed_keys_through_jit_and_vmap():
    typed = random.key(5)
    out = funcjax.jit(lambda k: random.split(k))(typed)
    assert isinstance(out, random.PRNGKeyArray) and out.shape == (2,)
    np.testing.assert_array_equal(random.key_data(out), random.split(random.PRNGKey(5)))
    vals = funcjax.vmap(lambda k: random.uniform(k))(out)
    np.testing.assert_array_equal(vals, [random.uniform(k) for k in out])


def test_seed_under_jit():
    np.testing.assert_array_equal(funcjax.jit(random.PRNGKey)(jnp.int32(-1)),
                                  random.PRNGKey(-1))


def test_gradient_through_reparameterised_normal():
    z = random.normal(KEY, (6,))

    def loss(mu, sigma):
        return jnp.sum((mu + sigma * random.normal(KEY, (6,))) ** 2)
    g_mu, g_sigma = funcjax.grad(loss, argnums=(0, 1))(0.5, 2.0)
    x = 0.5 + 2.0 * np.asarray(z)
    np.testing.assert_allclose(g_mu, np.sum(2 * x), rtol=1e-5)
    np.testing.assert_allclose(g_sigma, np.sum(2 * x * np.asarray(z)), rtol=1e-5)


@pytest.mark.parametrize("sampler", [
    lambda lo, hi: random.uniform(KEY, (5,), minval=lo, maxval=hi),
    lambda lo, hi: random.truncated_normal(KEY, lo, hi, (5,)),
])
def test_gradient_with_respect_to_bounds_matches_finite_differences(sampler):
    def f(lo, hi):
        return jnp.sum(jnp.sin(sampler(lo, hi)))
    lo, hi, eps = -0.7, 1.3, 1e-2
    g = funcjax.grad(f, argnums=(0, 1))(lo, hi)
    fd_lo = (f(lo + eps, hi) - f(lo - eps, hi)) / (2 * eps)
    fd_hi = (f(lo, hi + eps) - f(lo, hi - eps)) / (2 * eps)
    np.testing.assert_allclose(g, [fd_lo, fd_hi], rtol=2e-2, atol=1e-3)


def test_gradient_of_scaled_exponential_and_mvn_mean():
    e = random.exponential(KEY, (4,))
    g = funcjax.grad(lambda s: jnp.sum(s * random.exponential(KEY, (4,))))(3.0)
    np.testing.assert_allclose(g, np.sum(np.asarray(e)), rtol=1e-6)
    cov = jnp.array([[2.0, 0.3], [0.3, 1.0]])
    g = funcjax.grad(lambda m: jnp.sum(random.multivariate_normal(KEY, m, cov, (3,))))(
        jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(g, [3.0, 3.0], rtol=1e-6)


def test_jvp_of_erf_inv_is_exact():
    from funcjax.random._special import erf_inv
    x = jnp.array([-0.9, -0.2, 0.4, 0.95])
    _, t = funcjax.jvp(erf_inv, (x,), (jnp.ones(4),))
    y = np.asarray(erf_inv(x), np.float64)
    np.testing.assert_allclose(t, np.sqrt(np.pi) / 2 * np.exp(y * y), rtol=1e-5)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda: random.uniform(jnp.zeros(2), (3,)), TypeError, "dtype float32"),
    (lambda: random.normal(jnp.zeros(3, jnp.uint32), (3,)), TypeError, r"shape \(3,\)"),
    (lambda: random.split(jnp.zeros((2, 2), jnp.uint32)), ValueError, "single key"),
    (lambda: random.split("key"), TypeError, "PRNG key type str"),
    (lambda: random.uniform(KEY, 3.0), TypeError, "shape must be a tuple"),
    (lambda: random.normal(KEY, (2, 1.5)), TypeError, "shape must be a tuple"),
    (lambda: random.normal(KEY, (-1,)), ValueError, "non-negative"),
    (lambda: random.uniform(KEY, (3,), minval=1.0, maxval=0.0), ValueError,
     "minval must not exceed maxval"),
    (lambda: random.randint(KEY, (3,), 5, 2), ValueError, "minval must not exceed maxval"),
    (lambda: random.truncated_normal(KEY, 2.0, -1.0), ValueError, "lower must not exceed"),
    (lambda: random.normal(KEY, (2,), jnp.int32), ValueError, "float dtype"),
    (lambda: random.randint(KEY, (2,), 0, 3, jnp.float32), TypeError, "integer dtypes"),
    (lambda: random.bits(KEY, (2,), jnp.int32), ValueError, "unsigned int"),
    (lambda: random.PRNGKey(1.5), TypeError, "seed must be an integer"),
    (lambda: random.PRNGKey(jnp.zeros(2, jnp.int32)), TypeError, "scalar seed"),
    (lambda: random.PRNGKey(2 ** 70), OverflowError, "64 bits"),
    (lambda: random.fold_in(KEY, jnp.arange(2)), TypeError, "accepts a scalar"),
    (lambda: random.uniform(KEY, (2, 3), maxval=jnp.ones(4)), ValueError, "broadcast"),
    (lambda: random.choice(KEY, 5, (6,), replace=False), ValueError, "larger sample"),
    (lambda: random.choice(KEY, 5, 3), TypeError, "sequence"),
    (lambda: random.choice(KEY, 5, (2,), p=jnp.ones(4) / 4), ValueError, "same size"),
    (lambda: random.categorical(KEY, jnp.zeros(3), shape=(4,), replace=False), ValueError,
     "cannot exceed"),
    (lambda: random.multivariate_normal(KEY, jnp.zeros(2), jnp.eye(3)), ValueError,
     "cov.shape"),
    (lambda: random.dirichlet(KEY, 1.0), ValueError, "alpha.ndim"),
    (lambda: random.key(0, impl="rbg"), ValueError, "threefry2x32"),
    (lambda: random.poisson(KEY, -1.0, (2,)), ValueError, "non-negative"),
    (lambda: random.multivariate_normal(KEY, jnp.zeros(2), jnp.eye(2), method="lu"),
     ValueError, "method must be one of"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_reversed_bounds_under_jit_clamp_to_the_lower_bound_as_in_jax():
    out = funcjax.jit(lambda lo, hi: random.uniform(KEY, (3,), minval=lo, maxval=hi))(1.0, 0.0)
    np.testing.assert_array_equal(out, [1.0, 1.0, 1.0])


# jax.jacfwd(lambda a: jax.random.gamma(jax.random.PRNGKey(42), a, (4,)))(a), JAX 0.10.2.
JAX_GAMMA_GRADS = {
    0.5: [1.877781629562378, 1.3462015390396118, 2.328065872192383, 0.26413479447364807],
    2.0: [1.4498592615127563, 0.7888170480728149, 1.4191149473190308, 0.8100948333740234],
    30.0: [1.1072001457214355, 0.9531881809234619, 1.0999209880828857, 0.958185076713562],
}


@pytest.mark.parametrize("alpha", sorted(JAX_GAMMA_GRADS))
def test_gamma_gradient_in_alpha_matches_jax(alpha):
    key = random.PRNGKey(42)
    jac = funcjax.jacfwd(lambda a: random.gamma(key, a, (4,)))(alpha)
    np.testing.assert_allclose(jac, JAX_GAMMA_GRADS[alpha], rtol=2e-5)
    if alpha == 2.0:  # and compiled
        g = funcjax.jit(funcjax.grad(lambda a: random.gamma(key, a, (4,)).sum()))(alpha)
        np.testing.assert_allclose(g, sum(JAX_GAMMA_GRADS[alpha]), rtol=2e-5)


def test_gamma_gradient_keeps_the_cdf_fixed():
    # Implicit reparameterisation: moving alpha by h and the sample by h * dz/dalpha leaves
    # P(alpha, z) unchanged to first order (P by its series, in float64).
    from .test_distributions import _gamma_cdf
    key, h = random.PRNGKey(5), 1e-3
    for alpha in (0.7, 3.0):
        z = np.asarray(random.gamma(key, alpha, (3,)), np.float64)
        dz = np.asarray(funcjax.jacfwd(lambda a: random.gamma(key, a, (3,)))(alpha))
        for zi, di in zip(z, dz):
            moved = _gamma_cdf(alpha + h)(zi + h * di) - _gamma_cdf(alpha - h)(zi - h * di)
            unmoved = _gamma_cdf(alpha + h)(zi) - _gamma_cdf(alpha - h)(zi)
            assert abs(moved) < 1e-3 * abs(unmoved) + 1e-7


def test_log_space_samplers_differentiate_in_their_parameters():
    key = random.PRNGKey(42)
    # jax.jacfwd(lambda a: jax.random.loggamma(key, a, (3,)))(2.0) and
    # jax.grad(lambda a: jax.random.beta(key, a, 3.0, (3,)).sum())(2.0), JAX 0.10.2.
    np.testing.assert_allclose(funcjax.jacfwd(lambda a: random.loggamma(key, a, (3,)))(2.0),
                               [0.39478635787963867, 0.722105085849762, 0.4052485525608063],
                               rtol=2e-5)
    np.testing.assert_allclose(
        funcjax.grad(lambda a: random.beta(key, a, 3.0, (3,)).sum())(2.0),
        0.49591443, rtol=2e-5)
    g = funcjax.grad(lambda al: random.dirichlet(key, al, (2,))[:, 0].sum())(
        jnp.array([1.0, 2.0, 3.0]))
    assert g.shape == (3,) and float(g[0]) > 0 > float(g[1])


def test_pmap_gives_each_device_its_keys_numbers():
    n = funcjax.device_count()
    keys = random.split(KEY, n)
    out = funcjax.pmap(lambda k: (random.bits(k, (4,)), random.randint(k, (3,), 0, 100)))(keys)
    for i in range(n):
        np.testing.assert_array_equal(out[0][i], random.bits(keys[i], (4,)))
        np.testing.assert_array_equal(out[1][i], random.randint(keys[i], (3,), 0, 100))
