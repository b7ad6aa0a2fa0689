"""``funcjax.scipy.linalg``: SciPy's factor-then-solve API, expm and block_diag.

Factorisations return what SciPy returns (``cho_factor``'s ``(c, lower)``, ``lu_factor``'s
``(lu, piv)``) so that code written for SciPy runs unchanged; all of it is differentiable.
"""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.namespace import public_dir
from funcjax.core.trace import Tracer
from funcjax.numpy import linalg as _jla
from funcjax.numpy._linalg_solve import _matrix
from funcjax.numpy._util import asarray
from funcjax.ops import linalg as _la
from funcjax.ops.linalg import mm, permutation_matrix

__all__ = ["cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu", "lu_factor",
           "lu_solve", "solve", "inv", "det", "expm", "block_diag", "eigh", "svd"]


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor, upper by default as in SciPy."""
    return _jla.cholesky(a, upper=not lower)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``(c, lower)`` for ``cho_solve``; c is the triangular factor, zeros elsewhere."""
    return cholesky(a, lower=lower), lower


def _as_matrix_rhs(name, a, b):
    b = asarray(b)
    shape = tuple(b.shape)
    dtype, _ = dtypes.result_type((a.dtype, False), (b.dtype, b.weak_type))
    a, b = lax.convert_element_type(a, dtype), lax.convert_element_type(b, dtype)
    vector = b.ndim == a.ndim - 1
    if vector:
        b = lax.expand_dims(b, (b.ndim,))
    if b.ndim != a.ndim or b.shape[-2] != a.shape[-1] or b.shape[:-2] != a.shape[:-2]:
        raise ValueError(f"{name}: b of shape {shape} does not fit a of shape "
                         f"{tuple(a.shape)}: b needs {a.shape[-1]} rows")
    return a, b, vector


def _unvector(x, vector):
    return lax.squeeze(x, (x.ndim - 1,)) if vector else x


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solves ``a x = b`` from ``cho_factor(a)``."""
    c, lower = c_and_lower
    c, b, vector = _as_matrix_rhs("cho_solve", _matrix("cho_solve", c), b)
    # a = L L^H (lower) or U^H U: solve with the factor, then with its adjoint.
    y = _la.triangular_solve(c, b, left_side=True, lower=lower, transpose_a=not lower,
                             conjugate_a=not lower)
    x = _la.triangular_solve(c, y, left_side=True, lower=lower, transpose_a=lower,
                             conjugate_a=lower)
    return _unvector(x, vector)


_TRANS = {0: (False, False), "N": (False, False), 1: (True, False), "T": (True, False),
          2: (True, True), "C": (True, True)}


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """Solves ``op(a) x = b`` reading only a's lower (or upper) triangle; ``trans`` 0/'N',
    1/'T' or 2/'C' picks op."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                         f"{trans!r}")
    transpose, conjugate = _TRANS[trans]
    a, b, vector = _as_matrix_rhs("solve_triangular", _matrix("solve_triangular", a), b)
    x = _la.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=transpose,
                             conjugate_a=conjugate, unit_diagonal=unit_diagonal)
    return _unvector(x, vector)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``(lu, piv)``: L (unit diagonal, not stored) and U packed in one matrix, and
    LAPACK's 0-based row swaps."""
    lu_, piv, _ = lax.linalg.lu(_matrix("lu_factor", a))
    return lu_, piv


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solves ``op(a) x = b`` from ``lu_factor(a)``."""
    lu_, piv = lu_and_piv
    if trans not in _TRANS:
        raise ValueError(f"lu_solve: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    transpose, conjugate = _TRANS[trans]
    lu_, b, vector = _as_matrix_rhs("lu_solve", _matrix("lu_solve", lu_), b)
    perm = lax.linalg.lu_pivots_to_permutation(piv, lu_.shape[-1])
    p = permutation_matrix(perm, lu_.dtype)
    solve = lambda x, **kw: _la.triangular_solve(lu_, x, left_side=True, transpose_a=transpose,  # noqa
                                                 conjugate_a=conjugate, **kw)
    if not transpose:  # a = P^T L U
        x = solve(solve(mm(p, b), lower=True, unit_diagonal=True), lower=False)
    else:  # op(a) = op(U) op(L) P
        x = mm(_la.T(p), solve(solve(b, lower=False), lower=True, unit_diagonal=True))
    return _unvector(x, vector)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True):
    """``(p, l, u)`` with ``a = p @ l @ u`` (or ``(p @ l, u)`` with ``permute_l``)."""
    a = _matrix("lu", a, square=False)
    lu_, _, perm = lax.linalg.lu(a)
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = a.shape[:-2]
    lower = lax.slice(lu_, (0,) * a.ndim, batch + (m, k))
    lower = lax.add(_la.tril(lower, -1), _la.eye_like(batch + (m, k), a.dtype))
    upper = _la.triu(lax.slice(lu_, (0,) * a.ndim, batch + (k, n)))
    p = _la.T(permutation_matrix(perm, a.dtype))
    return (mm(p, lower), upper) if permute_l else (p, lower, upper)


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a="gen"):
    """Solves ``a x = b``; ``assume_a='pos'`` uses a Cholesky factorisation."""
    if assume_a == "pos":
        return cho_solve(cho_factor(a, lower=lower), b)
    if assume_a not in ("gen", "sym", "her"):
        raise ValueError(f"solve: assume_a must be 'gen', 'sym', 'her' or 'pos', got "
                         f"{assume_a!r}")
    a = _matrix("solve", a)
    b = asarray(b)
    if b.ndim == a.ndim - 1:
        return lax.squeeze(_jla.solve(a, lax.expand_dims(b, (b.ndim,))), (b.ndim,))
    return _jla.solve(a, b)


def inv(a, overwrite_a=False, check_finite=True):
    return _jla.inv(a)


def det(a, overwrite_a=False, check_finite=True):
    return _jla.det(a)


def eigh(a, b=None, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         turbo=True, eigvals=None, type=1, check_finite=True):  # noqa: A002 - SciPy's name
    """``(w, v)`` (or w alone) of a Hermitian matrix; the generalized problem (b) is not
    supported."""
    if b is not None:
        raise NotImplementedError("eigh: the generalized eigenproblem (b=...) is not "
                                  "supported; solve b^-1/2 a b^-1/2 with cholesky instead")
    w, v = _jla.eigh(a, UPLO="L" if lower else "U")
    return w if eigvals_only else (w, v)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    out = _jla.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


# -- expm ------------------------------------------------------------------------------------
# Pade approximants of exp and the norms up to which they are accurate to the precision
# (Higham, "The scaling and squaring method for the matrix exponential revisited", 2005).
_PADE7 = (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0)
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA = {4: (_PADE7, 3.925724783138660), 8: (_PADE13, 5.371920351148152)}
_MAX_SQUARINGS = 16


def _pade(a, coeffs):
    """``(U, V)``: the odd and even parts of the Pade numerator at ``a``."""
    n, batch = a.shape[-1], a.shape[:-2]
    eye = _la.eye_like(batch + (n, n), a.dtype)
    c = lambda k, x: lax.mul(x, lax.full(x.shape, coeffs[k], x.dtype))  # noqa: E731
    a2 = mm(a, a)
    a4 = mm(a2, a2)
    a6 = mm(a4, a2)
    if len(coeffs) == 8:
        u = mm(a, lax.add(lax.add(c(7, a6), c(5, a4)), lax.add(c(3, a2), c(1, eye))))
        v = lax.add(lax.add(c(6, a6), c(4, a4)), lax.add(c(2, a2), c(0, eye)))
        return u, v
    u_inner = mm(a6, lax.add(lax.add(c(13, a6), c(11, a4)), c(9, a2)))
    u = mm(a, lax.add(lax.add(u_inner, c(7, a6)), lax.add(lax.add(c(5, a4), c(3, a2)),
                                                         c(1, eye))))
    v_inner = mm(a6, lax.add(lax.add(c(12, a6), c(10, a4)), c(8, a2)))
    v = lax.add(lax.add(v_inner, c(6, a6)), lax.add(lax.add(c(4, a4), c(2, a2)), c(0, eye)))
    return u, v


def expm(A, *, upper_triangular=False, max_squarings=_MAX_SQUARINGS):  # noqa: N803
    """The matrix exponential by scaling and squaring with a Pade approximant (degree 7 for
    single precision, 13 for double). The number of squarings depends on the norm; under
    tracing every one of ``max_squarings`` steps runs and keeps or skips its square."""
    a = _matrix("expm", A)
    coeffs, theta = _THETA[dtypes.real_dtype(a.dtype).itemsize]
    norm = lax.reduce_max(lax.reduce_sum(lax.abs(a), (a.ndim - 2,)), (a.ndim - 2,))
    norm = lax.reduce_max(norm, tuple(range(norm.ndim)))  # one scaling for the whole batch
    ratio = lax.div(norm, lax.full((), theta, norm.dtype))
    steps = lax.max(lax.ceil(lax.log(ratio) * (1 / np.log(2.0))), lax.full((), 0, norm.dtype))
    steps = lax.select(lax.is_finite(steps), steps, lax.full((), 0, norm.dtype))
    scale = lax.convert_element_type(lax.pow(lax.full((), 2.0, norm.dtype), steps), a.dtype)
    u, v = _pade(lax.div(a, lax.broadcast_in_dim(scale, a.shape, ())), coeffs)
    r = _jla.solve(lax.sub(v, u), lax.add(v, u))
    count = lax.convert_element_type(steps, np.int32)

    def square(i, r):
        return lax.select(lax.lt(lax.full(r.shape, i, np.int32),
                                 lax.broadcast_in_dim(count, r.shape, ())), mm(r, r), r)
    if not isinstance(count, Tracer):
        for _ in range(min(int(np.asarray(count)), max_squarings)):
            r = mm(r, r)
        return r
    return lax.fori_loop(0, max_squarings, square, r)


def block_diag(*arrs):
    """One matrix with the given matrices (0-, 1- or 2-D, as SciPy reads them) on its
    diagonal, zeros elsewhere."""
    if not arrs:
        return lax.full((1, 0), 0, dtypes.default_float())
    mats = []
    for k, x in enumerate(arrs):
        x = asarray(x)
        if x.ndim > 2:
            raise ValueError(f"block_diag: argument {k} has {x.ndim} dimensions (shape "
                             f"{tuple(x.shape)}); only 0-, 1- and 2-D arrays are allowed")
        mats.append(lax.reshape(x, (1,) * (2 - x.ndim) + tuple(x.shape)))
    dtype, _ = dtypes.result_type(*[(m.dtype, False) for m in mats])
    cols = sum(m.shape[1] for m in mats)
    rows, offset = [], 0
    zero = lax.full((), 0, dtype)
    for m in mats:
        m = lax.convert_element_type(m, dtype)
        rows.append(lax.pad(m, zero, [(0, 0, 0), (offset, cols - offset - m.shape[1], 0)]))
        offset += m.shape[1]
    return lax.concatenate(rows, 0)



__dir__ = public_dir(globals())
