"""funcjax.numpy.linalg and funcjax.scipy.linalg against numpy and scipy (hypothesis over
shapes, batch axes and dtypes; eager and jit), their derivatives against finite differences
(complex too), singular and non-square input."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from linalg_cases import general, hermitian_pd, tol, well_conditioned

import funcjax
import funcjax.numpy as jnp
import funcjax.scipy.linalg as jsl
from funcjax.test_util import check_grads

DTYPES = ["float32", "complex64"]


def _close(got, want, dtype):
    got = np.asarray(got)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=tol(dtype) * 10, atol=tol(dtype) * 10)


# (funcjax function, numpy/scipy reference, matrix maker, needs a right-hand side)
CASES = {
    "solve": (jnp.linalg.solve, np.linalg.solve, well_conditioned, True),
    "inv": (jnp.linalg.inv, np.linalg.inv, well_conditioned, False),
    "det": (jnp.linalg.det, np.linalg.det, well_conditioned, False),
    "slogdet": (lambda a: tuple(jnp.linalg.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)),
                well_conditioned, False),
    "eigvalsh": (jnp.linalg.eigvalsh, np.linalg.eigvalsh, hermitian_pd, False),
    "cholesky": (jnp.linalg.cholesky, np.linalg.cholesky, hermitian_pd, False),
    "svdvals": (lambda a: jnp.linalg.svd(a, compute_uv=False),
                lambda a: np.linalg.svd(a, compute_uv=False), general, False),
    "pinv": (jnp.linalg.pinv, lambda a: np.linalg.pinv(a, rcond=1e-5), well_conditioned, False),
    "matrix_power_3": (lambda a: jnp.linalg.matrix_power(a, 3),
                       lambda a: np.linalg.matrix_power(a, 3), general, False),
    "matrix_power_-2": (lambda a: jnp.linalg.matrix_power(a, -2),
                        lambda a: np.linalg.matrix_power(a, -2), well_conditioned, False),
    "matrix_rank": (jnp.linalg.matrix_rank, np.linalg.matrix_rank, general, False),
    "norm_2": (lambda a: jnp.linalg.norm(a, 2, axis=(-2, -1)),
               lambda a: np.linalg.norm(a, 2, axis=(-2, -1)), general, False),
    "norm_-2": (lambda a: jnp.linalg.norm(a, -2, axis=(-2, -1)),
                lambda a: np.linalg.norm(a, -2, axis=(-2, -1)), general, False),
    "norm_nuc": (lambda a: jnp.linalg.norm(a, "nuc", axis=(-2, -1)),
                 lambda a: np.linalg.norm(a, "nuc", axis=(-2, -1)), general, False),
    "cond": (jnp.linalg.cond, np.linalg.cond, well_conditioned, False),
    "cho_solve": (lambda a, b: jsl.cho_solve(jsl.cho_factor(a), b),
                  lambda a, b: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), b),
                  hermitian_pd, True),
    "lu_solve": (lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b),
                 lambda a, b: scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), b),
                 well_conditioned, True),
    "lu_solve_T": (lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans=1),
                   lambda a, b: scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), b, trans=1),
                   well_conditioned, True),
    "lu_solve_C": (lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans=2),
                   lambda a, b: scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), b, trans=2),
                   well_conditioned, True),
    "solve_triangular": (lambda a, b: jsl.solve_triangular(a, b, lower=True, trans="C"),
                         lambda a, b: scipy.linalg.solve_triangular(a, b, lower=True, trans="C"),
                         well_conditioned, True),
    "expm": (jsl.expm, scipy.linalg.expm, general, False),
    "scipy_lu": (lambda a: jsl.lu(a), lambda a: scipy.linalg.lu(a), general, False),
}
_UNBATCHED = {"cho_solve", "lu_solve", "lu_solve_T", "lu_solve_C", "solve_triangular", "expm",
              "scipy_lu"}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=4)
@given(n=st.integers(1, 5), batch=st.sampled_from(
    [(), (2,)]), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2 ** 16))
def test_against_numpy_and_scipy(name, n, batch, dtype, seed):
    fn, ref, make, rhs = CASES[name]
    batch = () if name in _UNBATCHED else batch
    rng = np.random.default_rng(seed)
    args = [make(rng, batch + (n, n), dtype)]
    if rhs:
        args.append(general(rng, batch + (n, 2), dtype))
    want = ref(*[a.astype(np.complex128 if dtype == "complex64" else np.float64)
                 for a in args])
    for got in (fn(*args), funcjax.jit(fn)(*args)):
        for g, w in zip(funcjax.tree_util.tree_leaves(got), funcjax.tree_util.tree_leaves(
                want)):
            _close(g, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_decompositions_reconstruct(dtype):
    rng = np.random.default_rng(0)
    a = general(rng, (2, 4, 3), dtype)
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    _close(np.asarray(u) * np.asarray(s)[..., None, :] @ vh, a, dtype)
    q, r = jnp.linalg.qr(a)
    _close(np.asarray(q) @ r, a, dtype)
    h = hermitian_pd(rng, (3, 3), dtype)
    w, v = jnp.linalg.eigh(h)
    _close(np.asarray(v) * np.asarray(w)[None, :] @ np.conj(np.asarray(v)).T, h, dtype)
    sq = general(rng, (3, 3), dtype)
    w, v = jnp.linalg.eig(sq)
    _close(sq @ np.asarray(v), np.asarray(v) * np.asarray(w)[None, :], dtype)
    x, resid, rank, sv = jnp.linalg.lstsq(a[0], general(rng, (4,), dtype))
    want = np.linalg.lstsq(a[0], np.asarray(general(np.random.default_rng(0), (4,), dtype)),
                           rcond=None)
    assert int(rank) == 3 and np.asarray(sv).shape == (3,)
    assert np.asarray(x).shape == want[0].shape and np.asarray(resid).shape == (1,)
    _close(jsl.block_diag(np.eye(2, dtype=dtype), np.ones((1, 3), dtype), 5.0),
           scipy.linalg.block_diag(np.eye(2), np.ones((1, 3)), 5.0), dtype)


DERIVATIVE_CASES = {
    "solve": (jnp.linalg.solve, True),
    "inv": (jnp.linalg.inv, False),
    "det": (jnp.linalg.det, False),
    "slogdet": (lambda a: jnp.linalg.slogdet(a)[1], False),
    "pinv": (jnp.linalg.pinv, False),
    "lstsq": (lambda a, b: jnp.linalg.lstsq(a, b)[0], True),
    "norm_nuc": (lambda a: jnp.linalg.norm(a, "nuc"), False),
    "norm_2": (lambda a: jnp.linalg.norm(a, 2), False),
    "cho_solve": (lambda a, b: jsl.cho_solve(jsl.cho_factor(a @ jnp.conj(a).T + 4 * jnp.eye(
        3)), b), True),
    "lu_solve": (lambda a, b: jsl.lu_solve(jsl.lu_factor(a), b, trans=2), True),
    "solve_triangular": (lambda a, b: jsl.solve_triangular(a, b, trans=1), True),
    "expm": (jsl.expm, False),
    "matrix_power": (lambda a: jnp.linalg.matrix_power(a, -3), False),
}


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
@pytest.mark.parametrize("name", sorted(DERIVATIVE_CASES))
def test_derivatives(x64, name, dtype):
    fn, rhs = DERIVATIVE_CASES[name]
    rng = np.random.default_rng(1)
    args = (well_conditioned(rng, (3, 3), dtype),) + ((general(rng, (3, 2), dtype),)
                                                      if rhs else ())
    if dtype.startswith("complex") and name in ("det", "slogdet", "norm_2"):
        fn = {"det": lambda a: jnp.abs(jnp.linalg.det(a)) ** 2}.get(name, fn)
    check_grads(fn, args, order=1)


def test_expm_derivative_with_squarings_under_jit(x64):
    a = 3 * general(np.random.default_rng(2), (3, 3), "float64")  # norm above theta_13
    f = lambda x: jsl.expm(x).sum()  # noqa: E731
    check_grads(jsl.expm, (a,), order=1)
    np.testing.assert_allclose(funcjax.jit(funcjax.grad(f))(a), funcjax.grad(f)(a), rtol=1e-9)


def test_derivatives_where_the_matrix_loses_rank(x64):
    """JAX defines these: det's derivative at a singular matrix is the (transposed)
    adjugate; pinv's along a rank-preserving path; eigenvalue sums at repeated eigenvalues."""
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(funcjax.grad(jnp.linalg.det)(singular),
                               [[4.0, -2.0], [-2.0, 1.0]])
    check_grads(jnp.linalg.det, (np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0, 1, 1]]),), 1)
    path = lambda t: jnp.linalg.pinv(jnp.outer(np.array([1.0, 2.0, 0.5]) + t * np.array(  # noqa
        [0.3, -1, 2.0]), np.array([1.0, -1.0]) + t * np.array([0.2, 0.7])))
    check_grads(path, (0.1,), order=1)
    check_grads(lambda x: jnp.sum(jnp.linalg.eigvalsh(x) ** 3), (np.diag([1.0, 1.0, 2.0]),), 1)
    check_grads(lambda x: jnp.linalg.svd(x, compute_uv=False).sum(), (np.diag([2.0, 2.0]),), 1)


def test_singular_matrices_give_inf_and_nan_as_jax():
    zero = np.zeros((2, 2), np.float32)
    x = np.asarray(jnp.linalg.solve(zero, np.ones(2, np.float32)))
    # JAX gives [nan, inf]; funcjax [nan, nan] (getrs substitutes a^T's factors, U^T first).
    assert not np.isfinite(x).any()
    assert not np.isfinite(np.asarray(jnp.linalg.inv(zero))).any()
    assert float(jnp.linalg.det(zero)) == 0.0
    sign, logdet = jnp.linalg.slogdet(zero)
    assert float(sign) == 0.0 and float(logdet) == -np.inf
    np.testing.assert_array_equal(jnp.linalg.cholesky(-np.eye(2)),
                                  [[np.nan, 0], [np.nan, np.nan]])  # as JAX
    assert not np.isfinite(np.asarray(funcjax.jit(jnp.linalg.inv)(zero))).any()


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh",
                                  "eig", "eigvals", "solve"])
def test_non_square_input_is_a_value_error_naming_the_shape(name):
    fn = getattr(jnp.linalg, name)
    args = (np.ones((2, 3)), np.ones(2)) if name == "solve" else (np.ones((2, 3)),)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        fn(*args)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        jsl.expm(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"matrix_power.*\(2, 3\)"):
        jnp.linalg.matrix_power(np.ones((2, 3)), 2)


def test_mismatched_right_hand_side_is_an_error():
    with pytest.raises(ValueError, match=r"solve.*\(3, 3\)"):
        jnp.linalg.solve(np.eye(3), np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"cho_solve.*\(2,\).*\(3, 3\)"):
        jsl.cho_solve((np.eye(3), True), np.ones(2))


def test_scipy_wrappers_against_scipy():
    rng = np.random.default_rng(3)
    h = hermitian_pd(rng, (4, 4), "float64")
    g = general(rng, (4, 3), "float64")
    b = general(rng, (4,), "float64")
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731 - funcjax computes in f32 here
    np.testing.assert_allclose(jsl.eigh(h, eigvals_only=True), scipy.linalg.eigh(
        h, eigvals_only=True), rtol=1e-5)
    np.testing.assert_allclose(jsl.svd(g, compute_uv=False), scipy.linalg.svd(
        g, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(jsl.cholesky(h), f32(scipy.linalg.cholesky(h)), rtol=1e-5)
    np.testing.assert_allclose(jsl.cholesky(h, lower=True), f32(scipy.linalg.cholesky(
        h, lower=True)), rtol=1e-5)
    for assume_a in ("gen", "pos"):
        np.testing.assert_allclose(jsl.solve(h, b, assume_a=assume_a),
                                   f32(scipy.linalg.solve(h, b, assume_a=assume_a)), rtol=1e-4)
    np.testing.assert_allclose(jsl.inv(h), f32(scipy.linalg.inv(h)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(jsl.det(h), f32(scipy.linalg.det(h)), rtol=1e-4)
    p, lower, upper = jsl.lu(g)
    np.testing.assert_allclose(np.asarray(p) @ lower @ upper, g, rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="generalized"):
        jsl.eigh(h, h)
    with pytest.raises(NotImplementedError, match="left eigenvectors"):
        funcjax.lax.linalg.eig(h, compute_left_eigenvectors=True)
