"""The decomposition primitives of funcjax.lax.linalg: derivatives against finite differences
(fwd) and jvp-vs-vjp (rev), real and complex; jit against eager; batching over leading axes
against a Python loop."""

import numpy as np
import pytest
from linalg_cases import general, hermitian_pd, well_conditioned

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.test_util import check_grads

DTYPES = ["float64", "complex128"]


def _triangular_cases():
    for left in (True, False):
        for lower in (True, False):
            for transpose, conjugate in ((False, False), (True, False), (True, True),
                                         (False, True)):
                yield dict(left_side=left, lower=lower, transpose_a=transpose,
                           conjugate_a=conjugate, unit_diagonal=lower and transpose)


PRIMITIVE_FUNS = {
    "cholesky": (lambda x: lax.linalg.cholesky(x), hermitian_pd, (4, 4)),
    "lu": (lambda x: lax.linalg.lu(x)[0], well_conditioned, (4, 4)),
    "qr_reduced": (lambda x: lax.linalg.qr(x, full_matrices=False), general, (5, 3)),
    "qr_square": (lambda x: lax.linalg.qr(x), general, (3, 3)),
    "eigh": (lambda x: lax.linalg.eigh(x), hermitian_pd, (4, 4)),
    "svd_values": (lambda x: lax.linalg.svd(x, compute_uv=False), general, (4, 3)),
    "svd_wide": (lambda x: lax.linalg.svd(x, compute_uv=False), general, (2, 4)),
}


def _phase_free(name, fn):
    """Eigen- and singular vectors of complex matrices are defined up to a phase per column;
    differentiate phase-free products of them."""
    if name == "eigh":
        return lambda x: (lambda v, w: (v * w[None, :]) @ jnp.conj(v).T)(*fn(x))
    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(PRIMITIVE_FUNS))
def test_derivatives_against_finite_differences(x64, name, dtype):
    fn, make, shape = PRIMITIVE_FUNS[name]
    a = make(np.random.default_rng(0), shape, dtype)
    check_grads(fn if dtype == "float64" else _phase_free(name, fn), (a,), order=1)


def test_second_derivatives(x64):
    rng = np.random.default_rng(1)
    check_grads(lambda x: lax.linalg.cholesky(x), (hermitian_pd(rng, (3, 3), "float64"),), 2)
    check_grads(lambda x: lax.linalg.eigh(x)[1], (hermitian_pd(rng, (3, 3), "float64"),), 2)
    check_grads(lambda x: lax.linalg.svd(x, compute_uv=False), (general(rng, (3, 2), "f8"),), 2)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_singular_vectors_derivative(x64, shape):
    a = general(np.random.default_rng(2), shape, "float64")
    check_grads(lambda x: lax.linalg.svd(x, full_matrices=False), (a,), order=1)
    z = general(np.random.default_rng(3), shape, "complex128")
    check_grads(lambda x: (lambda u, s, vh: (u * s[None, :]) @ vh)(
        *lax.linalg.svd(x, full_matrices=False)), (z,), order=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_triangular_solve_every_variant(x64, dtype):
    rng = np.random.default_rng(4)
    a = well_conditioned(rng, (3, 3), dtype)
    for params in _triangular_cases():
        b = general(rng, (3, 2) if params["left_side"] else (2, 3), dtype)
        fn = lambda a, b: lax.linalg.triangular_solve(a, b, **params)  # noqa: B023
        check_grads(fn, (a, b), order=1)
        # the value: op(tri(a)) x = b (or x op(tri(a)) = b)
        tri = np.tril(a) if params["lower"] else np.triu(a)
        if params["unit_diagonal"]:
            tri = tri - np.diag(np.diag(tri)) + np.eye(3)
        op = tri.T if params["transpose_a"] else tri
        op = np.conj(op) if params["conjugate_a"] else op
        x = np.asarray(fn(a, b))
        np.testing.assert_allclose(op @ x if params["left_side"] else x @ op, b, atol=1e-10)


def test_triangular_solve_transpose_identity(x64):
    """<L v, w> == <v, L^T w> for the map b -> a^-1 b."""
    rng = np.random.default_rng(5)
    a = well_conditioned(rng, (4, 4), "float64")
    v, w = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    solve = lambda b: lax.linalg.triangular_solve(a, b, left_side=True, lower=True)  # noqa
    (ltw,) = funcjax.linear_transpose(solve, v)(w)
    np.testing.assert_allclose(np.sum(np.asarray(solve(v)) * w), np.sum(v * np.asarray(ltw)))


JIT_CASES = {
    "cholesky": (lambda x: lax.linalg.cholesky(x), hermitian_pd, (2, 4, 4)),
    "triangular_solve": (lambda x: lax.linalg.triangular_solve(x, x[..., :2] * 2.0,
                                                               left_side=True, lower=True),
                         well_conditioned, (3, 3)),
    "lu": (lambda x: lax.linalg.lu(x), well_conditioned, (2, 3, 3)),
    "lu_pivots": (lambda x: lax.linalg.lu_pivots_to_permutation(lax.linalg.lu(x)[1], 3),
                  general, (3, 3)),
    "qr": (lambda x: lax.linalg.qr(x), general, (4, 3)),
    "eigh": (lambda x: lax.linalg.eigh(x), hermitian_pd, (3, 3)),
    "svd": (lambda x: lax.linalg.svd(x), general, (2, 3, 4)),
    "eig": (lambda x: lax.linalg.eig(x), general, (3, 3)),
}


@pytest.mark.parametrize("dtype", ["float32", "complex64"])
@pytest.mark.parametrize("name", sorted(JIT_CASES))
def test_jit_matches_eager(name, dtype):
    fn, make, shape = JIT_CASES[name]
    a = make(np.random.default_rng(6), shape, dtype)
    eager, compiled = fn(a), funcjax.jit(fn)(a)
    for e, c in zip(funcjax.tree_util.tree_leaves(eager),
                    funcjax.tree_util.tree_leaves(compiled)):
        assert np.asarray(e).dtype == np.asarray(c).dtype
        np.testing.assert_array_equal(np.asarray(c), np.asarray(e))


def test_grad_under_jit_matches_eager():
    a = hermitian_pd(np.random.default_rng(7), (3, 3), "float32")
    f = lambda x: (lax.linalg.cholesky(x) ** 2).sum() + lax.linalg.eigh(x)[1].sum()  # noqa
    want = funcjax.grad(f)(a)  # off-diagonal entries are float32 rounding noise (~1e-8)
    np.testing.assert_allclose(funcjax.jit(funcjax.grad(f))(a), want, rtol=1e-6,
                               atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("name", ["cholesky", "lu", "qr", "eigh", "svd"])
def test_leading_batch_axes_match_a_loop(name):
    fn, make, shape = JIT_CASES[name]
    a = make(np.random.default_rng(8), (2, 3) + shape[-2:], "float64")
    batched = funcjax.tree_util.tree_leaves(fn(a))
    for i in range(2):
        for j in range(3):
            single = funcjax.tree_util.tree_leaves(fn(a[i, j]))
            for b, s in zip(batched, single):
                np.testing.assert_allclose(np.asarray(b)[i, j], s, rtol=1e-12, atol=1e-12)


def test_vmap_of_jvp_matches_loop(x64):
    rng = np.random.default_rng(9)
    a = hermitian_pd(rng, (3, 4, 4), "float64")
    t = general(rng, (3, 4, 4), "float64")
    jvp = lambda x, t: funcjax.jvp(lambda y: lax.linalg.eigh(y)[1], (x,), (t,))[1]  # noqa
    out = funcjax.vmap(jvp)(a, t)
    for k in range(3):
        np.testing.assert_allclose(out[k], jvp(a[k], t[k]), rtol=1e-12)


def test_not_positive_definite_gives_nan_not_an_error():
    nan_low = np.array([[np.nan, 0], [np.nan, np.nan]])  # JAX's result for -I
    out = np.asarray(lax.linalg.cholesky(np.stack([-np.eye(2), np.eye(2)]).astype("f")))
    np.testing.assert_array_equal(out[0], nan_low)
    np.testing.assert_array_equal(out[1], np.eye(2))
    np.testing.assert_array_equal(funcjax.jit(lax.linalg.cholesky)(-np.eye(2, dtype="f")),
                                  nan_low)


def test_bad_input_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"cholesky.*square.*\(2, 3\)"):
        lax.linalg.cholesky(np.ones((2, 3), "f"))
    with pytest.raises(ValueError, match=r"triangular_solve.*\(3, 3\).*\(2, 2\)"):
        lax.linalg.triangular_solve(np.eye(3, dtype="f"), np.ones((2, 2), "f"), left_side=True)
    with pytest.raises(TypeError, match=r"eigh.*i32\[2,2\]"):
        lax.linalg.eigh(np.eye(2, dtype=np.int32))
    with pytest.raises(NotImplementedError, match="eig.*no derivative"):
        funcjax.jvp(lambda x: lax.linalg.eig(x)[0], (np.eye(2, dtype="f"),),
                    (np.eye(2, dtype="f"),))
    with pytest.raises(NotImplementedError, match="qr.*full_matrices"):
        funcjax.jvp(lambda x: lax.linalg.qr(x), (np.ones((3, 2), "f"),), (np.ones((3, 2), "f"),))


def test_cost_rules_count_cubic_work():
    jaxpr = funcjax.make_jaxpr(lambda x: lax.linalg.eigh(x))(np.eye(8, dtype="f"))
    from funcjax.core.cost import jaxpr_cost
    small = jaxpr_cost(jaxpr).flops
    big = jaxpr_cost(funcjax.make_jaxpr(lambda x: lax.linalg.eigh(x))(
        np.eye(16, dtype="f"))).flops
    assert big > 6 * small > 0
