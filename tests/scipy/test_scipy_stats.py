"""funcjax.scipy.stats against scipy.stats (eager and jit), gradients against differences."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as ss

import funcjax
from funcjax.scipy import stats as fs

# (funcjax function, scipy function, sampler of arguments)
CONTINUOUS = {
    "norm.logpdf": lambda r: (r.normal(size=5) * 3, r.normal(), r.uniform(0.5, 2)),
    "norm.pdf": lambda r: (r.normal(size=5) * 3, r.normal(), r.uniform(0.5, 2)),
    "norm.cdf": lambda r: (r.normal(size=5) * 3, r.normal(), r.uniform(0.5, 2)),
    "norm.logcdf": lambda r: (r.normal(size=5) * 8, r.normal(), r.uniform(0.5, 2)),
    "norm.sf": lambda r: (r.normal(size=5) * 3, r.normal(), r.uniform(0.5, 2)),
    "norm.logsf": lambda r: (r.normal(size=5) * 8, r.normal(), r.uniform(0.5, 2)),
    "norm.ppf": lambda r: (r.uniform(0.01, 0.99, 5), r.normal(), r.uniform(0.5, 2)),
    "norm.isf": lambda r: (r.uniform(0.01, 0.99, 5), r.normal(), r.uniform(0.5, 2)),
    "t.logpdf": lambda r: (r.normal(size=5) * 3, r.uniform(0.5, 9), r.normal(),
                           r.uniform(0.5, 2)),
    "t.pdf": lambda r: (r.normal(size=5) * 3, r.uniform(0.5, 9)),
    "beta.logpdf": lambda r: (r.uniform(0.01, 0.99, 5), r.uniform(0.5, 5), r.uniform(0.5, 5)),
    "beta.pdf": lambda r: (r.uniform(0.01, 0.99, 5), r.uniform(0.5, 5), r.uniform(0.5, 5)),
    "gamma.logpdf": lambda r: (r.uniform(0.01, 9, 5), r.uniform(0.5, 5), r.uniform(-0.5, 0),
                               r.uniform(0.5, 2)),
    "gamma.pdf": lambda r: (r.uniform(0.01, 9, 5), r.uniform(0.5, 5)),
    "gamma.cdf": lambda r: (r.uniform(0.01, 9, 5), r.uniform(0.5, 5), r.uniform(-0.5, 0),
                            r.uniform(0.5, 2)),
    "gamma.sf": lambda r: (r.uniform(0.01, 9, 5), r.uniform(0.5, 5)),
}
DISCRETE = {
    "poisson.logpmf": lambda r: (r.integers(0, 12, 5).astype(float), r.uniform(0.5, 6)),
    "poisson.pmf": lambda r: (r.integers(0, 12, 5).astype(float), r.uniform(0.5, 6)),
    "poisson.cdf": lambda r: (r.integers(-1, 12, 5) + r.uniform(0, 0.9, 5), r.uniform(0.5, 6)),
    "bernoulli.logpmf": lambda r: (r.integers(0, 2, 5).astype(float), r.uniform(0.05, 0.95)),
    "bernoulli.pmf": lambda r: (r.integers(0, 2, 5).astype(float), r.uniform(0.05, 0.95)),
    "bernoulli.cdf": lambda r: (r.integers(-1, 3, 5).astype(float), r.uniform(0.05, 0.95)),
    "bernoulli.ppf": lambda r: (r.uniform(0, 1, 5), r.uniform(0.05, 0.95)),
}


def _pair(name):
    dist, fn = name.split(".")
    return getattr(getattr(fs, dist), fn), getattr(getattr(ss, dist), fn)


@pytest.mark.parametrize("name", sorted(CONTINUOUS) + sorted(DISCRETE))
@settings(max_examples=10)
@given(seed=st.integers(0, 2 ** 20))
def test_matches_scipy_eager_and_jit(x64, name, seed):
    ours, theirs = _pair(name)
    args = (CONTINUOUS | DISCRETE)[name](np.random.default_rng(seed))
    expected = theirs(*args)
    np.testing.assert_allclose(np.asarray(ours(*args)), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(funcjax.jit(ours)(*args)), expected, rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_gradient_in_x_matches_differences(x64, name):
    ours, theirs = _pair(name)
    x, *rest = CONTINUOUS[name](np.random.default_rng(3))
    grads = np.asarray(funcjax.vmap(funcjax.grad(lambda v: ours(v, *rest)))(x))
    h = 1e-6
    fd = (theirs(x + h, *rest) - theirs(x - h, *rest)) / (2 * h)
    np.testing.assert_allclose(grads, fd, rtol=1e-5, atol=1e-8)


def test_outside_the_support_is_minus_infinity():
    assert np.asarray(fs.beta.logpdf(1.5, 2.0, 3.0)) == -np.inf
    assert np.asarray(fs.gamma.logpdf(-1.0, 2.0)) == -np.inf
    assert np.asarray(fs.poisson.logpmf(2.5, 2.0)) == -np.inf
    assert np.asarray(fs.bernoulli.logpmf(2.0, 0.3)) == -np.inf


@settings(max_examples=10)
@given(seed=st.integers(0, 2 ** 20), n=st.integers(1, 4))
def test_multivariate_normal_matches_scipy(x64, seed, n):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    cov = a @ a.T + n * np.eye(n)
    x, mean = rng.standard_normal((3, n)), rng.standard_normal(n)
    expected = ss.multivariate_normal.logpdf(x, mean, cov)
    np.testing.assert_allclose(np.asarray(fs.multivariate_normal.logpdf(x, mean, cov)),
                               expected, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(funcjax.jit(fs.multivariate_normal.pdf)(
        x, mean, cov)), np.exp(expected), rtol=1e-10)
    g = funcjax.grad(lambda m: fs.multivariate_normal.logpdf(x, m, cov).sum())(mean)
    np.testing.assert_allclose(np.asarray(g), np.linalg.solve(cov, (x - mean).sum(0)),
                               rtol=1e-9)


def test_multivariate_normal_bad_cov_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cov has shape \(2, 2\) but x has 3"):
        fs.multivariate_normal.logpdf(np.zeros(3), np.zeros(3), np.eye(2))
