"""The decompositions under jit call LAPACK from compiled code (backend/llvm/lower_linalg):
the same routines as the eager impls, so jit equals eager to the bit, in every dtype, for
tall, wide and batched inputs and every option."""

import functools
import itertools

import numpy as np
import pytest
from linalg_cases import general, hermitian_pd, well_conditioned

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.test_util import check_grads

DTYPES = ["float32", "float64", "complex64", "complex128"]

CASES = {
    "cholesky": (lambda x: lax.linalg.cholesky(x), hermitian_pd, (2, 5, 5)),
    "cholesky_not_pd": (lambda x: lax.linalg.cholesky(-x), hermitian_pd, (2, 4, 4)),
    # not Hermitian: symmetrized in tiles inside the lowering (37 = 2 tiles and a part)
    "cholesky_symmetrized": (lambda x: lax.linalg.cholesky(x + 0.01 * x[..., ::-1, :]),
                             hermitian_pd, (2, 37, 37)),
    "cholesky_lower_only": (lambda x: lax.linalg.cholesky(x + 0.01 * x[..., ::-1, :],
                                                          symmetrize_input=False),
                            hermitian_pd, (2, 6, 6)),
    "lu_tall": (lambda x: lax.linalg.lu(x), general, (2, 6, 4)),
    "lu_wide": (lambda x: lax.linalg.lu(x), general, (4, 7)),
    "lu_singular": (lambda x: lax.linalg.lu(x * 0.0), general, (3, 3)),
    "qr_tall_full": (lambda x: lax.linalg.qr(x), general, (2, 6, 4)),
    "qr_tall_reduced": (lambda x: lax.linalg.qr(x, full_matrices=False), general, (6, 4)),
    "qr_wide": (lambda x: lax.linalg.qr(x), general, (2, 3, 5)),
    "eigh_lower": (lambda x: lax.linalg.eigh(x), hermitian_pd, (2, 5, 5)),
    "eigh_upper": (lambda x: lax.linalg.eigh(x, lower=False), hermitian_pd, (4, 4)),
    "eigh_symmetrized": (lambda x: lax.linalg.eigh(x + 0.01 * x[..., ::-1, :]), hermitian_pd,
                         (2, 37, 37)),
    "eigh_upper_only": (lambda x: lax.linalg.eigh(x + 0.01 * x[..., ::-1, :], lower=False,
                                                  symmetrize_input=False), hermitian_pd, (5, 5)),
    "svd_tall_full": (lambda x: lax.linalg.svd(x), general, (2, 6, 4)),
    "svd_wide_reduced": (lambda x: lax.linalg.svd(x, full_matrices=False), general, (4, 6)),
    "svd_values": (lambda x: lax.linalg.svd(x, compute_uv=False), general, (2, 5, 3)),
    "solve_vector": (lambda x: jnp.linalg.solve(x, x[0] * 2.0 + 1.0), well_conditioned, (5, 5)),
    "solve_matrix": (lambda x: jnp.linalg.solve(x, x[..., :3] + 1.0), well_conditioned,
                     (2, 5, 5)),
    "solve_broadcast": (lambda x: jnp.linalg.solve(x[0], x[..., :2]), well_conditioned,
                        (3, 4, 4)),
    "solve_singular": (lambda x: jnp.linalg.solve(x * 0.0, x[..., :2]), general, (2, 3, 3)),
    "inv": (lambda x: jnp.linalg.inv(x), well_conditioned, (2, 4, 4)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_equals_eager_exactly(x64, name, dtype):
    fn, make, shape = CASES[name]
    a = make(np.random.default_rng(len(name)), shape, dtype)
    eager, compiled = fn(a), funcjax.jit(fn)(a)
    for e, c in zip(funcjax.tree_util.tree_leaves(eager),
                    funcjax.tree_util.tree_leaves(compiled)):
        assert np.asarray(e).dtype == np.asarray(c).dtype
        np.testing.assert_array_equal(np.asarray(c), np.asarray(e))


@pytest.mark.parametrize("dtype", DTYPES)
def test_triangular_solve_every_variant_jit_equals_eager(x64, dtype):
    rng = np.random.default_rng(1)
    a = well_conditioned(rng, (2, 4, 4), dtype)
    for left, lower, transpose_a, conjugate_a, unit in itertools.product([True, False],
                                                                       repeat=5):
        b = general(rng, (2, 4, 3) if left else (2, 3, 4), dtype)
        f = functools.partial(lax.linalg.triangular_solve, left_side=left, lower=lower,
                              transpose_a=transpose_a, conjugate_a=conjugate_a,
                              unit_diagonal=unit)
        np.testing.assert_array_equal(np.asarray(funcjax.jit(f)(a, b)), np.asarray(f(a, b)))


def test_decompositions_in_float32_keep_float32_accuracy():
    """float32 is computed in float32 (numpy's linalg would use float64): still accurate."""
    rng = np.random.default_rng(2)
    a = hermitian_pd(rng, (16, 16), "float32")
    w, v = funcjax.jit(lambda x: lax.linalg.eigh(x))(a)[::-1]
    np.testing.assert_allclose(np.asarray(w), np.linalg.eigvalsh(a.astype(np.float64)),
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(v) @ np.diag(w) @ np.asarray(v).T, a, rtol=1e-4,
                               atol=1e-4)
    s = funcjax.jit(lambda x: lax.linalg.svd(x, compute_uv=False))(a)
    np.testing.assert_allclose(np.asarray(s), np.linalg.svd(a.astype(np.float64),
                                                             compute_uv=False), rtol=1e-5)


@pytest.mark.parametrize("name,symbol", [
    ("cholesky", "potrf"), ("lu_tall", "getrf"), ("qr_tall_full", "geqrf"),
    ("eigh_lower", "heevd"), ("svd_tall_full", "gesdd"), ("solve_vector", "getrs"),
    ("solve_matrix", "getrf")])
def test_compiled_code_calls_lapack_without_a_host_call(name, symbol):
    fn, make, shape = CASES[name]
    a = make(np.random.default_rng(0), shape, "complex64")
    text = funcjax.jit(fn).lower(a).compile().as_text()
    assert f"scipy_c{symbol}_64_" in text
    assert "funcjax_host" not in text


def test_exported_library_links_lapack(tmp_path):
    """export_library links numpy's OpenBLAS for LAPACK calls, as for gemm."""
    import ctypes

    from funcjax.backend.llvm.export_library import c_compiler
    if c_compiler() is None:
        pytest.skip("no C compiler")
    a = hermitian_pd(np.random.default_rng(4), (4, 4), "float32")

    def f(x):
        return lax.linalg.eigh(x)[1] + lax.linalg.cholesky(x)[0, 0]

    funcjax.jit(f).lower(a).compile().export_library(tmp_path / "libf.so")
    lib = ctypes.CDLL(str(tmp_path / "libf.so"))
    out = np.zeros(4, np.float32)
    assert lib.f((ctypes.c_void_p * 1)(a.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data)) == 0
    np.testing.assert_array_equal(out, np.asarray(f(a)))


def test_solve_derivatives_reuse_one_factorisation(x64):
    """solve differentiates through getrs's rule: grad, jvp and second derivatives agree with
    finite differences, and grad factors the matrix once (as JAX's custom_linear_solve)."""
    rng = np.random.default_rng(3)
    a, b = well_conditioned(rng, (2, 3, 3), "float64"), general(rng, (2, 3, 2), "float64")
    check_grads(jnp.linalg.solve, (a, b), order=2)
    check_grads(jnp.linalg.solve, (a[0], b[0, :, 0]), order=1)
    za, zb = well_conditioned(rng, (3, 3), "complex128"), general(rng, (3,), "complex128")
    check_grads(jnp.linalg.solve, (za, zb), order=1)
    f = lambda x, y: jnp.sum(jnp.sin(jnp.linalg.solve(x, y)))  # noqa: E731
    g = funcjax.grad(f, argnums=(0, 1))
    for e, c in zip(g(a, b), funcjax.jit(g)(a, b)):
        np.testing.assert_allclose(np.asarray(c), np.asarray(e), rtol=1e-12, atol=1e-12)
    names = [e.primitive.name for e in funcjax.make_jaxpr(g)(a, b).jaxpr.eqns]
    assert names.count("getrf") == 1 and "lu" not in names


def test_cholesky_and_eigh_derivatives_with_and_without_symmetrizing(x64):
    """A non-Hermitian input: symmetrize_input differentiates (a + a^H) / 2, without it the
    triangle read; both against finite differences, jvp against vjp."""
    rng = np.random.default_rng(5)
    for dtype in ("float64", "complex128"):
        a = hermitian_pd(rng, (3, 3), dtype)
        a = a + 0.1 * a[::-1]
        for sym in (True, False):
            f = functools.partial(lax.linalg.cholesky, symmetrize_input=sym)
            check_grads(f, (a,), order=2 if dtype == "float64" else 1)
            check_grads(funcjax.jit(f), (a,), order=1)
            for lower in (True, False):
                values = lambda x: lax.linalg.eigh(  # noqa: E731
                    x, lower=lower, symmetrize_input=sym)[1]  # noqa: B023
                check_grads(values, (a,), order=1)


def test_solve_vmap_matches_a_loop(x64):
    rng = np.random.default_rng(4)
    a, b = well_conditioned(rng, (3, 4, 4), "float32"), general(rng, (3, 4), "float32")
    for in_axes, args in [((0, 0), (a, b)), ((None, 0), (a[0], b)), ((0, None), (a, b[0]))]:
        got = funcjax.jit(funcjax.vmap(jnp.linalg.solve, in_axes))(*args)
        want = [np.linalg.solve(a[i] if in_axes[0] == 0 else a[0],
                                b[i] if in_axes[1] == 0 else b[0]) for i in range(3)]
        np.testing.assert_allclose(np.asarray(got), np.stack(want), rtol=1e-5, atol=1e-5)


def test_empty_matrices_as_numpy(x64):
    """0 x 0 matrices and empty batches: numpy's results (det 1, slogdet (1, 0)), eager and
    jit; stacking them used to trip over reshape(-1, ...) of size 0."""
    for shape in [(0, 0), (2, 0, 0), (0, 3, 3)]:
        a = np.zeros(shape)
        b = np.zeros(shape[:-1] + (2,))
        for fn, ref in [(jnp.linalg.solve, np.linalg.solve), (jnp.linalg.inv, np.linalg.inv),
                        (jnp.linalg.det, np.linalg.det),
                        (lambda x, *_: jnp.linalg.slogdet(x)[1],
                         lambda x, *_: np.linalg.slogdet(x)[1])]:
            args = (a, b) if fn is jnp.linalg.solve else (a,)
            want = ref(*args)
            for got in (fn(*args), funcjax.jit(fn)(*args)):
                np.testing.assert_array_equal(np.asarray(got), want)
