"""betainc, zeta and polygamma against scipy (eager and jit), their derivatives against
central differences of scipy's functions, vmap against a loop, and the beta distribution's
cdf/sf."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special as ss
from scipy import stats as sst

import funcjax
from funcjax.scipy import special as fs
from funcjax.scipy import stats as fst


def _values(lo, hi):
    return hnp.arrays(np.float64, 4, elements=st.floats(lo, hi))


@settings(max_examples=20, deadline=None)
@given(a=_values(0.1, 40), b=_values(0.1, 40), x=_values(0, 1))
def test_betainc_matches_scipy(x64, a, b, x):
    expected = ss.betainc(a, b, x)
    np.testing.assert_allclose(np.asarray(fs.betainc(a, b, x)), expected, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(funcjax.jit(fs.betainc)(a, b, x)), expected,
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("a, b, x", [(2.0, 3.0, 0.3), (0.7, 5.0, 0.05), (12.0, 4.5, 0.8)])
def test_betainc_derivatives(x64, a, b, x):
    grads = funcjax.grad(fs.betainc, argnums=(0, 1, 2))(a, b, x)
    h = 1e-6
    for i, g in enumerate(grads):
        up, down = [a, b, x], [a, b, x]
        up[i] += h
        down[i] -= h
        fd = (ss.betainc(*up) - ss.betainc(*down)) / (2 * h)
        np.testing.assert_allclose(float(g), fd, rtol=1e-6)
    jitted = funcjax.jit(funcjax.grad(fs.betainc, argnums=(0, 1, 2)))(a, b, x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(grads), rtol=1e-10)
    _, tangent = funcjax.jvp(fs.betainc, (a, b, x), (1.0, -2.0, 0.5))
    np.testing.assert_allclose(float(tangent), grads[0] - 2 * grads[1] + 0.5 * grads[2],
                               rtol=1e-10)


def test_betainc_vmap_and_invalid_arguments(x64):
    a, b, x = np.array([0.5, 3.0]), np.array([2.0, 0.4]), np.array([0.25, 0.9])
    batched = funcjax.vmap(fs.betainc)(a, b, x)
    np.testing.assert_allclose(np.asarray(batched),
                               [float(fs.betainc(*args)) for args in zip(a, b, x)])
    assert np.isnan(np.asarray(fs.betainc(np.array([-1.0, 1.0, 1.0]), 1.0,
                                          np.array([0.5, 1.5, -0.1])))).all()


@settings(max_examples=20, deadline=None)
@given(s=_values(1.05, 30), q=_values(0.05, 50))
def test_zeta_matches_scipy(x64, s, q):
    np.testing.assert_allclose(np.asarray(fs.zeta(s, q)), ss.zeta(s, q), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(funcjax.jit(fs.zeta)(s, q)), ss.zeta(s, q),
                               rtol=1e-10)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_polygamma_matches_scipy_and_differentiates(x64, n):
    x = np.array([0.2, 1.0, 3.7, 25.0])
    np.testing.assert_allclose(np.asarray(fs.polygamma(n, x)), ss.polygamma(n, x), rtol=1e-9)
    grad = funcjax.vmap(funcjax.grad(lambda v: fs.polygamma(n, v)))(x)
    np.testing.assert_allclose(np.asarray(grad), ss.polygamma(n + 1, x), rtol=1e-8)
    with pytest.raises(ValueError, match="polygamma: the order n must be >= 0"):
        fs.polygamma(-1, x)


def test_beta_distribution_cdf_and_sf(x64):
    x = np.array([-0.2, 0.0, 0.15, 0.5, 0.93, 1.0, 1.4])
    for name in ("cdf", "sf"):
        for a, b in ((2.0, 3.0), (0.5, 0.5), (8.0, 1.5)):
            np.testing.assert_allclose(np.asarray(getattr(fst.beta, name)(x, a, b)),
                                       getattr(sst.beta, name)(x, a, b), rtol=1e-9, atol=1e-14)
    inner = x[2:5]
    np.testing.assert_allclose(np.asarray(fst.beta.logcdf(inner, 2.0, 3.0, loc=0.1, scale=0.9)),
                               sst.beta.logcdf(inner, 2.0, 3.0, loc=0.1, scale=0.9), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(fst.beta.logsf(inner, 2.0, 3.0)),
                               sst.beta.logsf(inner, 2.0, 3.0), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(fst.gamma.logsf(x[2:], 2.5)),
                               sst.gamma.logsf(x[2:], 2.5), rtol=1e-9)
    g = funcjax.grad(lambda v: fst.beta.cdf(v, 2.0, 3.0))(0.4)
    np.testing.assert_allclose(float(g), sst.beta.pdf(0.4, 2.0, 3.0), rtol=1e-12)
