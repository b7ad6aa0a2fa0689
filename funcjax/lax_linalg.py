"""``funcjax.lax.linalg``: the decomposition primitives with ``jax.lax.linalg``'s signatures."""

from funcjax.core.namespace import public_dir
from funcjax.ops import linalg as _la
from funcjax.ops import linalg_spectral as _sp

__all__ = ["cholesky", "triangular_solve", "lu", "lu_pivots_to_permutation", "qr", "eigh",
           "svd", "eig"]


def cholesky(x, *, symmetrize_input=True):
    """The lower Cholesky factor; NaNs where a matrix is not positive definite."""
    return _la.cholesky_p.bind(x, symmetrize_input=bool(symmetrize_input))


def triangular_solve(a, b, *, left_side=False, lower=False, transpose_a=False,
                     conjugate_a=False, unit_diagonal=False):
    """Solves ``op(a) x = b`` (left_side) or ``x op(a) = b`` with triangular ``a``."""
    return _la.triangular_solve(a, b, left_side=left_side, lower=lower,
                                transpose_a=transpose_a, conjugate_a=conjugate_a,
                                unit_diagonal=unit_diagonal)


def lu(x):
    """``(lu, pivots, permutation)``: ``x[permutation] == L @ U`` with unit-lower L."""
    return tuple(_la.lu_p.bind(x))


def lu_pivots_to_permutation(pivots, permutation_size):
    """The row order LAPACK's sequential row swaps ``pivots`` produce."""
    return _la.lu_pivots_to_permutation_p.bind(pivots, permutation_size=int(permutation_size))


def qr(x, *, full_matrices=True):
    return tuple(_sp.qr_p.bind(x, full_matrices=bool(full_matrices)))


def eigh(x, *, lower=True, symmetrize_input=True):
    """``(v, w)``: eigenvectors (columns) and ascending eigenvalues of Hermitian matrices."""
    return tuple(_sp.eigh_p.bind(x, lower=bool(lower), symmetrize_input=bool(symmetrize_input)))


def svd(x, *, full_matrices=True, compute_uv=True):
    """``(u, s, vh)`` with ``x == u @ diag(s) @ vh``, or ``s`` alone."""
    out = _sp.svd_p.bind(x, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    return (out[1], out[0], out[2]) if compute_uv else out[0]


def eig(x, *, compute_left_eigenvectors=False, compute_right_eigenvectors=True):
    """``[w, vr]`` (or ``[w]``): eigenvalues and right eigenvectors of general matrices
    (eager and jit; no derivative). Left eigenvectors are not computed."""
    if compute_left_eigenvectors:
        raise NotImplementedError("eig: left eigenvectors are not computed by funcjax; pass "
                                  "compute_left_eigenvectors=False")
    return _sp.eig_p.bind(x, compute_eigenvectors=bool(compute_right_eigenvectors))


__dir__ = public_dir(globals())
