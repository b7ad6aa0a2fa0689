"""Statistics of every sampler (moments and Kolmogorov-Smirnov distances against the exact
CDF, with fixed keys), reproducibility, independence of split and fold_in streams, and the
dtype and shape rules."""

import math

import numpy as np
import pytest

import funcjax.numpy as jnp
from funcjax import random, vmap

N = 2000
KEY = random.PRNGKey(7)


def ks_distance(samples, cdf):
    x = np.sort(np.asarray(samples, np.float64))
    f = np.array([cdf(v) for v in x])
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


# The KS distance of n exact samples exceeds 1.63/sqrt(n) with probability 1%.
KS_LIMIT = 1.63 / math.sqrt(N)


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _gamma_cdf(a):
    def cdf(x):  # regularised lower incomplete gamma by its series
        if x <= 0:
            return 0.0
        term = total = 1.0 / a
        for n in range(1, 500):
            term *= x / (a + n)
            total += term
            if term < 1e-15 * total:
                break
        return total * math.exp(-x + a * math.log(x) - math.lgamma(a))
    return cdf


CONTINUOUS = {
    "uniform": (lambda k: random.uniform(k, (N,), minval=-1.0, maxval=3.0),
                lambda x: min(max((x + 1) / 4, 0.0), 1.0)),
    "normal": (lambda k: random.normal(k, (N,)), _phi),
    "truncated_normal": (lambda k: random.truncated_normal(k, -0.5, 1.5, (N,)),
                         lambda x: (_phi(x) - _phi(-0.5)) / (_phi(1.5) - _phi(-0.5))),
    "exponential": (lambda k: random.exponential(k, (N,)), lambda x: 1 - math.exp(-x)),
    "laplace": (lambda k: random.laplace(k, (N,)),
                lambda x: 0.5 * math.exp(x) if x < 0 else 1 - 0.5 * math.exp(-x)),
    "logistic": (lambda k: random.logistic(k, (N,)), lambda x: 1 / (1 + math.exp(-x))),
    "cauchy": (lambda k: random.cauchy(k, (N,)), lambda x: 0.5 + math.atan(x) / math.pi),
    "gumbel": (lambda k: random.gumbel(k, (N,)), lambda x: math.exp(-math.exp(-x))),
    "gamma_0.5": (lambda k: random.gamma(k, 0.5, (N,)), _gamma_cdf(0.5)),
    "gamma_3": (lambda k: random.gamma(k, 3.0, (N,)), _gamma_cdf(3.0)),
    "beta_2_3": (lambda k: random.beta(k, 2.0, 3.0, (N,)),
                 lambda x: min(max(6 * x ** 2 - 8 * x ** 3 + 3 * x ** 4, 0.0), 1.0)),
}


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_kolmogorov_smirnov(name):
    sample, cdf = CONTINUOUS[name]
    x = np.asarray(sample(KEY))
    assert x.shape == (N,) and x.dtype == np.float32 and np.all(np.isfinite(x))
    assert ks_distance(x, cdf) < KS_LIMIT


@pytest.mark.parametrize("name, sample, mean, var", [
    ("normal", lambda k: random.normal(k, (N,)), 0.0, 1.0),
    ("uniform", lambda k: random.uniform(k, (N,)), 0.5, 1 / 12),
    ("exponential", lambda k: random.exponential(k, (N,)), 1.0, 1.0),
    ("gamma", lambda k: random.gamma(k, 4.0, (N,)), 4.0, 4.0),
    ("beta", lambda k: random.beta(k, 2.0, 5.0, (N,)), 2 / 7, 10 / (49 * 8)),
    ("poisson_small", lambda k: random.poisson(k, 3.5, (N,)), 3.5, 3.5),
    ("poisson_large", lambda k: random.poisson(k, 30.0, (N,)), 30.0, 30.0),
    ("bernoulli", lambda k: random.bernoulli(k, 0.3, (N,)), 0.3, 0.21),
    ("randint", lambda k: random.randint(k, (N,), -3, 7), 1.5, (10 ** 2 - 1) / 12),
])
def test_moments(name, sample, mean, var):
    x = np.asarray(sample(KEY), np.float64)
    sd = math.sqrt(var)
    assert abs(x.mean() - mean) < 4 * sd / math.sqrt(N)
    assert abs(x.var() - var) < 0.15 * var


def test_poisson_frequencies_match_the_pmf():
    x = np.asarray(random.poisson(KEY, 2.0, (N,)))
    for k in range(6):
        p = math.exp(-2) * 2 ** k / math.factorial(k)
        assert abs(np.mean(x == k) - p) < 4 * math.sqrt(p * (1 - p) / N)


def test_randint_covers_its_range_uniformly():
    x = np.asarray(random.randint(KEY, (N,), 0, 5))
    assert x.dtype == np.int32 and set(np.unique(x)) == set(range(5))
    assert np.all(np.abs(np.bincount(x) / N - 0.2) < 4 * math.sqrt(0.16 / N))


def test_categorical_frequencies():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    x = np.asarray(random.categorical(KEY, jnp.log(jnp.asarray(p)), shape=(N,)))
    assert np.all(np.abs(np.bincount(x, minlength=4) / N - p) < 4 * np.sqrt(p * (1 - p) / N))


def test_choice_with_p_frequencies_and_without_replacement():
    p = np.array([0.5, 0.25, 0.125, 0.125])
    x = np.asarray(random.choice(KEY, 4, (N,), p=jnp.asarray(p, jnp.float32)))
    assert np.all(np.abs(np.bincount(x, minlength=4) / N - p) < 4 * np.sqrt(p * (1 - p) / N))
    draws = np.asarray(random.choice(KEY, 50, (20,), replace=False))
    assert len(set(draws.tolist())) == 20 and draws.min() >= 0 and draws.max() < 50
    draws = np.asarray(random.choice(KEY, 6, (6,), replace=False, p=jnp.ones(6) / 6))
    assert sorted(draws.tolist()) == list(range(6))


def test_permutation_is_a_permutation_and_every_position_is_uniform():
    perm = np.asarray(random.permutation(KEY, 100))
    assert sorted(perm.tolist()) == list(range(100))
    firsts = np.asarray(vmap(lambda k: random.permutation(k, 4)[0])(random.split(KEY, 400)))
    assert np.all(np.abs(np.bincount(firsts, minlength=4) / 400 - 0.25) < 0.1)
    x = jnp.arange(12.0).reshape(3, 4)
    rows = np.asarray(random.permutation(KEY, x, axis=0))
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, np.asarray(x).tolist()))


def test_dirichlet_rows_sum_to_one_with_the_right_mean():
    alpha = np.array([1.0, 2.0, 3.0])
    x = np.asarray(random.dirichlet(KEY, jnp.asarray(alpha), (1000,)))
    assert x.shape == (1000, 3) and np.allclose(x.sum(-1), 1, atol=1e-5) and np.all(x >= 0)
    np.testing.assert_allclose(x.mean(0), alpha / alpha.sum(), atol=0.03)


def test_multivariate_normal_covariance():
    mean = np.array([1.0, -2.0, 0.5])
    a = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.7]])
    cov = a @ a.T
    x = np.asarray(random.multivariate_normal(KEY, jnp.asarray(mean), jnp.asarray(cov),
                                              (4000,)))
    np.testing.assert_allclose(x.mean(0), mean, atol=0.1)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.12)


def test_reproducible_and_key_sensitive():
    a, b = random.normal(KEY, (8,)), random.normal(KEY, (8,))
    np.testing.assert_array_equal(a, b)
    c = random.normal(random.PRNGKey(8), (8,))
    assert not np.any(np.asarray(a) == np.asarray(c))


def test_split_and_fold_in_streams_are_uncorrelated():
    k1, k2 = random.split(KEY)
    streams = [random.uniform(k, (N,)) for k in (KEY, k1, k2, random.fold_in(KEY, 1234),
                                                random.fold_in(KEY, 1235))]
    corr = np.corrcoef(np.stack([np.asarray(s) for s in streams]))
    off_diagonal = corr[~np.eye(len(streams), dtype=bool)]
    assert np.max(np.abs(off_diagonal)) < 4 / math.sqrt(N)
    keys = np.asarray(random.split(KEY, 1000))
    assert len({tuple(k) for k in keys.tolist()}) == 1000


def test_fold_in_of_i_is_the_ith_split_key_as_in_jax():
    # Both hash the counter (0, i) under the key (JAX 0.10.2 gives the same coincidence).
    np.testing.assert_array_equal(random.fold_in(KEY, 1), random.split(KEY)[1])


def test_a_prefix_of_a_larger_draw_is_not_a_different_stream():
    # Element i hashes counter i, so shapes with the same size give the same numbers.
    a = np.asarray(random.bits(KEY, (6,)))
    np.testing.assert_array_equal(a.reshape(2, 3), random.bits(KEY, (2, 3)))


@pytest.mark.parametrize("sample, dtype", [
    (lambda k: random.uniform(k, (2, 3)), np.float32),
    (lambda k: random.uniform(k, (2, 3), jnp.float16), np.float16),
    (lambda k: random.normal(k, (2, 3), jnp.float16), np.float16),
    (lambda k: random.bits(k, (2, 3)), np.uint32),
    (lambda k: random.bits(k, (2, 3), jnp.uint8), np.uint8),
    (lambda k: random.randint(k, (2, 3), 0, 5), np.int32),
    (lambda k: random.randint(k, (2, 3), 0, 5, jnp.int8), np.int8),
    (lambda k: random.bernoulli(k, 0.5, (2, 3)), np.bool_),
    (lambda k: random.poisson(k, 1.0, (2, 3)), np.int32),
    (lambda k: random.gamma(k, jnp.ones((2, 3))), np.float32),
])
def test_dtype_and_shape(sample, dtype):
    out = sample(KEY)
    assert out.shape == (2, 3) and out.dtype == dtype


def test_float64_samplers_with_x64(x64):
    x = np.asarray(random.normal(KEY, (N,), jnp.float64))
    assert x.dtype == np.float64 and ks_distance(x, _phi) < KS_LIMIT
    u = np.asarray(random.uniform(KEY, (4,), jnp.float64))
    assert u.dtype == np.float64 and len(set(u.tolist())) == 4
    assert random.bits(KEY, (3,)).dtype == np.uint64


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_multivariate_normal_methods_agree_in_distribution(method):
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    x = np.asarray(random.multivariate_normal(KEY, jnp.zeros(2), jnp.asarray(cov), (4000,),
                                              method=method))
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.12)
