"""The rest of issue 14's list against numpy/scipy (hypothesis over shapes, dtypes and options;
eager and jit): qr, eigh, svd (full, reduced, values), eig/eigvals, lstsq, norm with every ord,
scipy's eigh/svd/block_diag. Factors are compared where they are unique: through
reconstruction, |R|, singular values and sorted eigenvalues."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from linalg_cases import general, hermitian_pd

import funcjax
import funcjax.numpy as jnp
import funcjax.scipy.linalg as jsl

DTYPES = ["float32", "float64", "complex64", "complex128"]


def _tol(dtype):
    return 2e-4 if np.dtype(dtype).itemsize * (1 + (np.dtype(dtype).kind != "c")) <= 8 \
        else 1e-10


def _both(fn, *args):
    """The eager and the jitted result."""
    return [fn(*args), funcjax.jit(fn)(*args)]


def _H(x):
    return np.conj(np.swapaxes(np.asarray(x), -1, -2))


shapes = st.sampled_from([(3, 3), (5, 3), (3, 5), (2, 4, 2), (2, 2, 4)])


@settings(max_examples=4, deadline=None)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), mode=st.sampled_from(
    ["reduced", "complete", "r"]), seed=st.integers(0, 2 ** 16))
def test_qr(x64, shape, dtype, mode, seed):
    a = general(np.random.default_rng(seed), shape, dtype)
    want_r = np.linalg.qr(a, mode=mode)
    want_r = want_r if mode == "r" else want_r[1]
    for got in _both(lambda x: jnp.linalg.qr(x, mode=mode), a):
        r = np.asarray(got if mode == "r" else got[1])
        np.testing.assert_allclose(np.abs(r), np.abs(want_r), rtol=_tol(dtype) * 10,
                                   atol=_tol(dtype) * 10)
        if mode != "r":
            q = np.asarray(got[0])
            np.testing.assert_allclose(q @ r, a, rtol=_tol(dtype) * 10, atol=_tol(dtype) * 10)
            np.testing.assert_allclose(_H(q) @ q, np.broadcast_to(np.eye(q.shape[-1]),
                                                                   _H(q).shape[:-1] +
                                                                   (q.shape[-1],)),
                                       atol=_tol(dtype) * 10)


@settings(max_examples=4, deadline=None)
@given(n=st.integers(1, 5), batch=st.sampled_from([(), (2,)]), dtype=st.sampled_from(DTYPES),
       uplo=st.sampled_from(["L", "U"]), seed=st.integers(0, 2 ** 16))
def test_eigh(x64, n, batch, dtype, uplo, seed):
    a = hermitian_pd(np.random.default_rng(seed), batch + (n, n), dtype)
    for w, v in _both(lambda x: tuple(jnp.linalg.eigh(x, UPLO=uplo)), a):
        w, v = np.asarray(w), np.asarray(v)
        np.testing.assert_allclose(w, np.linalg.eigvalsh(a, UPLO=uplo), rtol=_tol(dtype) * 10)
        np.testing.assert_allclose((v * w[..., None, :]) @ _H(v), a, rtol=_tol(dtype) * 10,
                                   atol=_tol(dtype) * 100)


@settings(max_examples=4, deadline=None)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), full=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_svd(x64, shape, dtype, full, seed):
    a = general(np.random.default_rng(seed), shape, dtype)
    k = min(shape[-2:])
    for u, s, vh in _both(lambda x: tuple(jnp.linalg.svd(x, full_matrices=full)), a):
        u, s, vh = map(np.asarray, (u, s, vh))
        np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), rtol=_tol(dtype) * 10)
        assert u.shape[-1] == (shape[-2] if full else k) and vh.shape[-2] == (
            shape[-1] if full else k)
        np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a,
                                   rtol=_tol(dtype) * 10, atol=_tol(dtype) * 10)


@settings(max_examples=4, deadline=None)
@given(n=st.integers(1, 4), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_eig_and_eigvals(x64, n, dtype, seed):
    a = general(np.random.default_rng(seed), (n, n), dtype)
    want = np.sort_complex(np.linalg.eigvals(a))
    w, v = jnp.linalg.eig(a)
    np.testing.assert_allclose(np.sort_complex(np.asarray(w)), want, rtol=_tol(dtype) * 100,
                               atol=_tol(dtype) * 100)
    np.testing.assert_allclose(a @ np.asarray(v), np.asarray(v) * np.asarray(w),
                               atol=_tol(dtype) * 100)
    np.testing.assert_allclose(np.sort_complex(np.asarray(jnp.linalg.eigvals(a))), want,
                               rtol=_tol(dtype) * 100, atol=_tol(dtype) * 100)


@settings(max_examples=4, deadline=None)
@given(m=st.integers(3, 5), n=st.integers(1, 3), dtype=st.sampled_from(DTYPES),
       vector=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_lstsq(x64, m, n, dtype, vector, seed):
    rng = np.random.default_rng(seed)
    a, b = general(rng, (m, n), dtype), general(rng, (m,) if vector else (m, 2), dtype)
    want = np.linalg.lstsq(a, b, rcond=None)
    for got in _both(lambda a, b: tuple(jnp.linalg.lstsq(a, b)), a, b):
        np.testing.assert_allclose(np.asarray(got[0]), want[0], rtol=_tol(dtype) * 100,
                                   atol=_tol(dtype) * 100)
        # residuals are always computed, as JAX does (numpy leaves them empty when m <= n)
        x = want[0].reshape(n, -1)
        resid = np.sum(np.abs(b.reshape(m, -1) - a @ x) ** 2, axis=0)
        np.testing.assert_allclose(np.asarray(got[1]), resid, rtol=_tol(dtype) * 100,
                                   atol=_tol(dtype) * 100)
        assert int(got[2]) == want[2]
        np.testing.assert_allclose(np.asarray(got[3]), want[3], rtol=_tol(dtype) * 10)


MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]
VECTOR_ORDS = [None, 0, 1, 2, 3, -1, -2, np.inf, -np.inf]


@pytest.mark.parametrize("ord", MATRIX_ORDS, ids=str)
@settings(max_examples=2, deadline=None)
@given(dtype=st.sampled_from(DTYPES), batch=st.sampled_from([(), (2,)]),
       seed=st.integers(0, 2 ** 16))
def test_matrix_norm_every_ord(x64, ord, dtype, batch, seed):
    a = general(np.random.default_rng(seed), batch + (3, 4), dtype)
    want = np.linalg.norm(a, ord, axis=(-2, -1))
    for got in _both(lambda x: jnp.linalg.norm(x, ord, axis=(-2, -1)), a):
        np.testing.assert_allclose(np.asarray(got), want, rtol=_tol(dtype) * 10)


@pytest.mark.parametrize("ord", VECTOR_ORDS, ids=str)
@settings(max_examples=2, deadline=None)
@given(dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_vector_norm_every_ord(x64, ord, dtype, seed):
    a = general(np.random.default_rng(seed), (2, 5), dtype)
    want = np.linalg.norm(a, ord, axis=-1)
    for got in _both(lambda x: jnp.linalg.norm(x, ord, axis=-1), a):
        np.testing.assert_allclose(np.asarray(got), want, rtol=_tol(dtype) * 10)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_scipy_eigh_svd_block_diag(x64, dtype):
    rng = np.random.default_rng(5)
    h, g = hermitian_pd(rng, (4, 4), dtype), general(rng, (4, 3), dtype)
    w, v = jsl.eigh(h)
    np.testing.assert_allclose(np.asarray(w), scipy.linalg.eigh(h, eigvals_only=True),
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(v) * np.asarray(w) @ _H(v), h, atol=1e-10)
    u, s, vh = jsl.svd(g, full_matrices=False)
    np.testing.assert_allclose(np.asarray(s), scipy.linalg.svd(g, compute_uv=False),
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(u) * np.asarray(s) @ np.asarray(vh), g, atol=1e-10)
    parts = (g, 2j * np.eye(2) if dtype == "complex128" else np.eye(2), 5.0)
    for got in _both(jsl.block_diag, *parts):
        np.testing.assert_array_equal(np.asarray(got), scipy.linalg.block_diag(*parts))
