"""The log-gamma based scipy.special functions against scipy (eager and jit), with a
derivative check and the bad-input errors."""

import numpy as np
import pytest
from scipy import special as ss

import funcjax
from funcjax.scipy import special as fs

X = np.array([-2.5, -2.0, -1.5, -0.5, 0.0, 0.5, 3.0, 7.25])
Y = np.array([1.0, 2.0, 0.0, 1.0, 3.0, 0.5, 2.0, 0.1])
CASES = {
    "gammasgn": (lambda f: f(X), X),
    "poch": (lambda f: f(np.abs(X) + 0.5, Y), None),
    "factorial": (lambda f: f(X), None),
    "comb": (lambda f: f(np.array([5.0, 5.0, 10.0, 3.0]), np.array([2.0, 7.0, 3.5, -1.0])), None),
    "kl_div": (lambda f: f(np.array([0.0, 1.0, 1.0, -1.0, 2.0]),
                           np.array([1.0, 2.0, 0.0, 1.0, 0.5])), None),
    "rel_entr": (lambda f: f(np.array([0.0, 1.0, 1.0, -1.0, 2.0]),
                             np.array([1.0, 2.0, 0.0, 1.0, 0.5])), None),
    "boxcox": (lambda f: f(np.abs(X) + 0.1, np.array([0.0, 1.5] * 4)), None),
    "boxcox1p": (lambda f: f(np.abs(X), np.array([0.0, -0.7] * 4)), None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_scipy_eager_and_jit(x64, name):
    call, _ = CASES[name]
    expected = call(getattr(ss, name))
    np.testing.assert_allclose(np.asarray(call(getattr(fs, name))), expected, rtol=1e-10)
    jitted = call(lambda *a: funcjax.jit(getattr(fs, name))(*a))
    np.testing.assert_allclose(np.asarray(jitted), expected, rtol=1e-10)


def test_loggamma_bernoulli_comb_repetition_and_gradients(x64):
    np.testing.assert_allclose(np.asarray(fs.loggamma(X[5:])), ss.loggamma(X[5:]), rtol=1e-12)
    assert np.isnan(np.asarray(fs.loggamma(X[:4]))).all()
    np.testing.assert_allclose(np.asarray(fs.bernoulli(12)), ss.bernoulli(12), rtol=1e-10)
    np.testing.assert_allclose(float(fs.comb(5.0, 2.0, repetition=True)),
                               ss.comb(5, 2, repetition=True), rtol=1e-10)
    g = funcjax.grad(lambda z: fs.poch(z, 2.5))(1.7)
    fd = (ss.poch(1.7 + 1e-6, 2.5) - ss.poch(1.7 - 1e-6, 2.5)) / 2e-6
    np.testing.assert_allclose(float(g), fd, rtol=1e-7)
    with pytest.raises(ValueError, match="bernoulli: n must be >= 0"):
        fs.bernoulli(-1)
    with pytest.raises(NotImplementedError, match="exact=True"):
        fs.factorial(3, exact=True)


def test_erfcx_across_its_branches(x64):
    x = np.array([-3.0, -0.5, 0.0, 0.7, 4.9, 5.1, 11.9, 12.1, 30.0, 1e4])
    for f in (fs.erfcx, funcjax.jit(fs.erfcx)):
        np.testing.assert_allclose(np.asarray(f(x)), ss.erfcx(x), rtol=1e-13)
        np.testing.assert_allclose(np.asarray(f(x.astype(np.float32))), ss.erfcx(x), rtol=2e-6)
    moderate = x[:8]
    grad = funcjax.vmap(funcjax.grad(fs.erfcx))(moderate)
    np.testing.assert_allclose(np.asarray(grad),
                               2 * moderate * ss.erfcx(moderate) - 2 / np.sqrt(np.pi),
                               rtol=1e-11, atol=1e-14)
