"""Orthogonal and spectral decompositions as primitives: qr, eigh, svd and eig.

Batched over the leading axes; impls call LAPACK (``lapack``: geqrf/orgqr, syevd/heevd,
gesdd in the input's own precision; numpy's ``eig``). The jvp rules are the standard
ones. Where eigenvalues (or singular values) repeat, eigenvector tangents are undefined and
come out inf/nan, as in JAX; the eigenvalue tangents stay finite. ``eig`` (non-symmetric) has
no derivative, as in JAX, and says so.
"""

import numpy as np

from funcjax.core import dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.jvp import instantiate_tangent
from funcjax.ops import lapack
from funcjax.ops.lazy import lax
from funcjax.ops.linalg import (
    H,
    batch_unary,
    check_matrix,
    diag_matrix,
    diag_part,
    eye_like,
    matrix_cost,
    mm,
    real,
    symmetrize_lower,
    symmetrized,
    triangular_solve,
    tril,
)


def _cast(x, dtype):
    return lax.convert_element_type(x, dtype)


def _row(v):
    """A vector of shape ``batch + (n,)`` as row matrices ``batch + (1, n)``."""
    return lax.expand_dims(v, (len(v.shape) - 1,))


def _col(v):
    return lax.expand_dims(v, (len(v.shape),))


def _bcast(x, shape):
    return lax.broadcast_in_dim(x, shape, tuple(range(len(shape))))


# -- qr --------------------------------------------------------------------------------------
def _qr(a, *, full_matrices):
    return lapack.geqrf_orgqr(a, full_matrices=full_matrices)


def _qr_type(a, *, full_matrices):
    check_matrix("qr", a)
    m, n = a.shape[-2:]
    k = m if full_matrices else min(m, n)
    return [ShapedArray(a.shape[:-2] + (m, k), a.dtype),
            ShapedArray(a.shape[:-2] + (k, n), a.dtype)]


qr_p = define_primitive("qr", _qr, _qr_type, multiple_results=True)


def _qr_jvp(primals, tangents, *, full_matrices):
    (a,), (a_dot,) = primals, tangents
    q, r = qr_p.bind(a, full_matrices=full_matrices)
    m, n = a.shape[-2:]
    if m < n or (full_matrices and m > n):
        raise NotImplementedError(
            f"qr: the derivative needs a tall or square matrix with the reduced factors "
            f"(full_matrices=False when m > n); got shape {a.shape} with "
            f"full_matrices={full_matrices}")
    dx = instantiate_tangent(a_dot)
    # With C = Q^H dA R^-1: dQ = Q (dO - C) + dA R^-1 and dR = (C - dO) R, where dO is the
    # skew-Hermitian matrix whose strictly lower part is C's.
    dx_rinv = triangular_solve(r, dx, left_side=False, lower=False)
    c = mm(H(q), dx_rinv)
    low = tril(c, -1)
    do = lax.sub(low, H(low))
    if dtypes.is_complex(a.dtype):  # the imaginary part of C's diagonal belongs to dO
        im = lax.sub(c, _cast(real(c), a.dtype))
        do = lax.add(do, lax.mul(im, eye_like(c.shape, a.dtype)))
    dq = lax.add(mm(q, lax.sub(do, c)), dx_rinv)
    dr = mm(lax.sub(c, do), r)
    return [q, r], [dq, dr]


qr_p.def_jvp(_qr_jvp)
qr_p.def_batch(batch_unary(qr_p))
qr_p.def_cost(matrix_cost(lambda m, n: 4 * m * n * min(m, n)))


# -- eigh ------------------------------------------------------------------------------------
def _eigh(a, *, lower=True, symmetrize_input=False):
    """Eigen-decomposition of the Hermitian matrix ``a``'s lower (or upper) triangle stands
    for, or with symmetrize_input (JAX's default) of ``(a + a^H) / 2``, whose upper triangle
    LAPACK reads: compiled code builds just that triangle, in LAPACK's layout."""
    if symmetrize_input:
        return lapack.syevd(lapack.symmetrized(a), lower=False)
    return lapack.syevd(a, lower=lower)


def _eigh_type(a, *, lower=True, symmetrize_input=False):
    check_matrix("eigh", a, square=True)
    return [ShapedArray(a.shape, a.dtype),
            ShapedArray(a.shape[:-1], dtypes.real_dtype(a.dtype))]


eigh_p = define_primitive("eigh", _eigh, _eigh_type, multiple_results=True)


def _eigh_jvp(primals, tangents, *, lower=True, symmetrize_input=False):
    (a,), (a_dot,) = primals, tangents
    v, w = eigh_p.bind(a, lower=lower, symmetrize_input=symmetrize_input)
    a_dot = instantiate_tangent(a_dot)
    if symmetrize_input:
        a_dot = symmetrized(a_dot)
    else:
        a_dot = symmetrize_lower(a_dot) if lower else H(symmetrize_lower(H(a_dot)))
    vdav = mm(H(v), mm(a_dot, v))
    w_dot = real(diag_part(vdav))
    # F[i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it.
    shape = v.shape
    eye = eye_like(shape, w.dtype)
    gaps = lax.sub(_bcast(_row(w), shape), _bcast(_col(w), shape))
    f = lax.sub(lax.div(lax.full(shape, 1, w.dtype), lax.add(gaps, eye)), eye)
    v_dot = mm(v, lax.mul(_cast(f, a.dtype), vdav))
    return [v, w], [v_dot, w_dot]


eigh_p.def_jvp(_eigh_jvp)
eigh_p.def_batch(batch_unary(eigh_p))
eigh_p.def_cost(matrix_cost(lambda m, n: 9 * n ** 3))


# -- svd -------------------------------------------------------------------------------------
def _svd(a, *, full_matrices, compute_uv):
    return lapack.gesdd(a, full_matrices=full_matrices, compute_uv=compute_uv)


def _svd_type(a, *, full_matrices, compute_uv):
    check_matrix("svd", a)
    m, n = a.shape[-2:]
    k, batch = min(m, n), a.shape[:-2]
    s = ShapedArray(batch + (k,), dtypes.real_dtype(a.dtype))
    if not compute_uv:
        return [s]
    ku, kv = (m, n) if full_matrices else (k, k)
    return [s, ShapedArray(batch + (m, ku), a.dtype), ShapedArray(batch + (kv, n), a.dtype)]


svd_p = define_primitive("svd", _svd, _svd_type, multiple_results=True)


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (a,), (a_dot,) = primals, tangents
    m, n = a.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            f"svd: the derivative of the singular vectors of a non-square matrix (shape "
            f"{a.shape}) needs full_matrices=False")
    s, u, vh = svd_p.bind(a, full_matrices=False, compute_uv=True)
    a_dot = instantiate_tangent(a_dot)
    v = H(vh)
    ds_mat = mm(H(u), mm(a_dot, v))
    s_dot = real(diag_part(ds_mat))
    if not compute_uv:
        return [s], [s_dot]
    k = s.shape[-1]
    shape = s.shape[:-1] + (k, k)
    s_row = _bcast(_row(s), shape)
    s_col = _bcast(_col(s), shape)
    eye = eye_like(shape, s.dtype)
    # F[i, j] = 1 / (s_j^2 - s_i^2) off the diagonal, 0 on it.
    diffs = lax.mul(lax.add(s_row, s_col), lax.sub(s_row, s_col))
    f = _cast(lax.sub(lax.div(lax.full(shape, 1, s.dtype), lax.add(diffs, eye)), eye), a.dtype)
    zero = _cast(lax.eq(s, lax.full(s.shape, 0, s.dtype)), s.dtype)
    s_inv = lax.sub(lax.div(lax.full(s.shape, 1, s.dtype), lax.add(s, zero)), zero)
    ds_s = lax.mul(_cast(s_row, a.dtype), ds_mat)   # dS diag(s)
    s_ds = lax.mul(_cast(s_col, a.dtype), ds_mat)   # diag(s) dS
    # The phase freedom of complex singular vectors: the imaginary diagonal of dS goes to dU.
    phase = lax.mul(lax.mul(lax.sub(ds_mat, H(ds_mat)), lax.full(shape, 0.5, a.dtype)),
                    _cast(diag_matrix(s_inv), a.dtype))
    du = mm(u, lax.add(lax.mul(f, lax.add(ds_s, H(ds_s))), phase))
    dv = mm(v, lax.mul(f, lax.add(s_ds, H(s_ds))))
    s_div = _cast(_row(s), a.dtype)
    if m > n:   # the part of dA V outside U's span
        dav = mm(a_dot, v)
        du = lax.add(du, lax.div(lax.sub(dav, mm(u, mm(H(u), dav))),
                                 _bcast(s_div, dav.shape)))
    if n > m:
        dahu = mm(H(a_dot), u)
        dv = lax.add(dv, lax.div(lax.sub(dahu, mm(v, mm(H(v), dahu))),
                                 _bcast(s_div, dahu.shape)))
    return [s, u, vh], [s_dot, du, H(dv)]


svd_p.def_jvp(_svd_jvp)
svd_p.def_batch(batch_unary(svd_p))
svd_p.def_cost(matrix_cost(lambda m, n: 22 * max(m, n) * min(m, n) ** 2))


# -- eig (non-symmetric; no derivative) ------------------------------------------------------
def _eig(a, *, compute_eigenvectors=True):
    w, v = np.linalg.eig(a)
    ctype = dtypes.complex_dtype(a.dtype)
    return [w.astype(ctype), v.astype(ctype)] if compute_eigenvectors else [w.astype(ctype)]


def _eig_type(a, *, compute_eigenvectors=True):
    check_matrix("eig", a, square=True)
    ctype = dtypes.complex_dtype(a.dtype)
    w = ShapedArray(a.shape[:-1], ctype)
    return [w, ShapedArray(a.shape, ctype)] if compute_eigenvectors else [w]


eig_p = define_primitive("eig", _eig, _eig_type, multiple_results=True)


def _eig_jvp(primals, tangents, **params):
    raise NotImplementedError(
        "eig: the eigendecomposition of a non-symmetric matrix has no derivative in funcjax "
        "(nor in JAX). For a symmetric/Hermitian matrix use funcjax.numpy.linalg.eigh, whose "
        "derivative is defined.")


eig_p.def_jvp(_eig_jvp)
eig_p.def_batch(batch_unary(eig_p))
eig_p.def_cost(matrix_cost(lambda m, n: 25 * n ** 3))
