"""ctypes bindings to the LAPACK and BLAS routines numpy does not expose (``getrf``, ``trsm``).

numpy's wheel bundles OpenBLAS with ILP64, ``scipy_``-prefixed symbols; calling it directly
gives the same library numpy's own linalg uses, and no new dependency. Every call goes one
matrix at a time over the leading (batch) axes, on contiguous row-major copies.
"""

import ctypes
import functools
import glob
import math
import os

import numpy as np

_ROW_MAJOR = 101
_NO_TRANS, _TRANS, _CONJ_TRANS = 111, 112, 113
_UPPER, _LOWER = 121, 122
_NON_UNIT, _UNIT = 131, 132
_LEFT, _RIGHT = 141, 142
PREFIX = {np.dtype(np.float32): "s", np.dtype(np.float64): "d",
           np.dtype(np.complex64): "c", np.dtype(np.complex128): "z"}  # routine name prefixes
_i64, _i32, _ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p


@functools.cache
def library_path():
    """The OpenBLAS shared library bundled with numpy, or None if this numpy has none."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for pattern in ("numpy.libs/libscipy_openblas64_*.so*", "numpy/.libs/libscipy_openblas64_*"):
        found = sorted(glob.glob(os.path.join(root, pattern)))
        if found:
            return found[0]
    return None


@functools.cache
def _lib():
    path = library_path()
    if path is None:
        raise RuntimeError("funcjax's LU factorisation and triangular solve call the OpenBLAS "
                           "bundled with numpy's wheel, and this numpy has none (a numpy built "
                           "from source?). Install numpy from PyPI wheels.")
    return ctypes.CDLL(path)


@functools.cache
def _fn(name, restype, argtypes):
    fn = getattr(_lib(), name)
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


def _stacked(shape):
    """``shape`` as (number of matrices, m, n); spelled out, as -1 is ambiguous for size 0."""
    return (math.prod(shape[:-2]),) + tuple(shape[-2:])


def _matrices(x):
    """A contiguous copy of ``x`` as a stack of matrices (LAPACK writes in place)."""
    return np.array(x, order="C", copy=True).reshape(_stacked(x.shape))


def getrf(a):
    """LU with partial pivoting of each matrix: ``(lu, pivots)``; pivots are 0-based int32
    row swaps. A singular matrix factors anyway (a zero on U's diagonal), as in LAPACK."""
    m, n = a.shape[-2:]
    k = min(m, n)
    lu = _matrices(a)
    piv = np.zeros((lu.shape[0], k), np.int64)
    fn = _fn(f"scipy_LAPACKE_{PREFIX[a.dtype]}getrf64_", _i64, (_i32, _i64, _i64, _ptr, _i64,
                                                                 _ptr))
    if m and n:
        for t in range(lu.shape[0]):
            fn(_ROW_MAJOR, m, n, lu[t].ctypes.data, n, piv[t].ctypes.data)
    return lu.reshape(a.shape), (piv - 1).astype(np.int32).reshape(a.shape[:-2] + (k,))


def trsm(a, b, *, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    """Solves op(a) x = b (left) or x op(a) = b for each matrix; only a's triangle is read.
    A zero on the diagonal gives inf/nan, as a division by zero does."""
    dtype = b.dtype
    if conjugate_a and not transpose_a:
        a, conjugate_a = np.conj(a), False
    a = np.ascontiguousarray(a, dtype).reshape(_stacked(a.shape))
    x = _matrices(b)
    m, n = b.shape[-2:]
    if x.size == 0:
        return x.reshape(b.shape)
    trans = (_CONJ_TRANS if conjugate_a else _TRANS) if transpose_a else _NO_TRANS
    complex_ = dtype.kind == "c"
    scalar = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
    alpha_type = _ptr if complex_ else scalar[dtype]
    fn = _fn(f"scipy_cblas_{PREFIX[dtype]}trsm64_", None,
             (_i32, _i32, _i32, _i32, _i32, _i64, _i64, alpha_type, _ptr, _i64, _ptr, _i64))
    one = np.ones((), dtype)
    alpha = one.ctypes.data if complex_ else 1.0
    lda = a.shape[-1]
    for t in range(x.shape[0]):
        fn(_ROW_MAJOR, _LEFT if left_side else _RIGHT, _LOWER if lower else _UPPER, trans,
           _UNIT if unit_diagonal else _NON_UNIT, m, n, alpha, a[t].ctypes.data, lda,
           x[t].ctypes.data, n)
    return x.reshape(b.shape)


def symmetrized(a):
    """``(a + a^H) / 2``, halving real and imaginary parts separately (as compiled code
    does)."""
    swapped = np.swapaxes(a, -1, -2)
    total = a + (np.conj(swapped) if a.dtype.kind == "c" else swapped)
    parts = total.view(real_dtype(a.dtype))
    parts *= parts.dtype.type(0.5)
    return total


def potrf(a):
    """Lower Cholesky factors of each (Hermitian) matrix, reading its lower triangle; a matrix
    that is not positive definite gives NaNs on and below the diagonal (as JAX).

    LAPACK is column-major: the row-major buffer is the transposed matrix, whose upper
    triangle is our lower one, so ``uplo='U'`` on it factors in place with no transposing
    copies: ``a^T = U^H U`` makes the row-major reading of U, ``U^T``, the lower factor."""
    n = a.shape[-1]
    if a.size == 0:
        return np.zeros(a.shape, a.dtype)
    x = _matrices(a)
    info = _i64(0)
    size = _i64(n)
    uplo = ctypes.c_char(b"U")
    fn = _fn(f"scipy_{PREFIX[a.dtype]}potrf_64_", None,
             (ctypes.c_void_p, ctypes.c_void_p, _ptr, ctypes.c_void_p, ctypes.c_void_p,
              ctypes.c_size_t))
    for t in range(x.shape[0]):
        fn(ctypes.byref(uplo), ctypes.byref(size), x[t].ctypes.data, ctypes.byref(size),
           ctypes.byref(info), 1)
        if info.value != 0:
            x[t] = np.nan
    return np.tril(x).reshape(a.shape)


# -- Fortran LAPACK: eigh, svd, qr -------------------------------------------------------------
# These compute in the input's own precision (numpy's linalg computes float32 in float64) and
# are the very calls compiled code makes (``backend/llvm/lower_linalg``), so jit and eager
# agree to the bit. A row-major buffer is read by LAPACK as the transposed matrix: each call
# works on a transposed copy (``_column_major``) and transposes its results back.
def fortran_symbol(name):
    return f"scipy_{name}_64_"


def real_dtype(dtype):
    return np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype


def fortran(name, *args):
    """Calls LAPACK routine ``name`` (``"dsyevd"``) with Fortran conventions: ints and
    one-letter strings by reference (hidden string lengths last), arrays by address."""
    refs, chars = [], 0
    for a in args:
        if isinstance(a, str):
            refs.append(ctypes.byref(ctypes.c_char(a.encode())))
            chars += 1
        elif isinstance(a, int):
            refs.append(ctypes.byref(_i64(a)))
        else:
            refs.append(ctypes.c_void_p(a.ctypes.data))
    fn = getattr(_lib(), fortran_symbol(name))
    fn.restype = None
    fn(*refs, *[ctypes.c_size_t(1)] * chars)


def orgqr_name(dtype):
    return PREFIX[dtype] + ("ungqr" if dtype.kind == "c" else "orgqr")


@functools.cache
def work_sizes(name, dtype, *dims):
    """The workspace sizes LAPACK asks for (``lwork=-1`` queries): ``geqrf`` (m, n) and
    ``orgqr`` (m, n, k) give (lwork,); ``syevd`` (n,) and ``gesdd`` (m, n, jobz) give
    (lwork, lrwork, liwork)."""
    dtype = np.dtype(dtype)
    p, cplx = PREFIX[dtype], dtype.kind == "c"
    work, rwork, iwork = np.zeros(2, dtype), np.zeros(2, real_dtype(dtype)), np.zeros(2, np.int64)
    info, dummy = np.zeros(1, np.int64), np.zeros(4, dtype)
    if name == "geqrf":
        m, n = dims
        fortran(p + "geqrf", m, n, dummy, max(m, 1), dummy, work, -1, info)
        return (max(int(work[0].real), 1),)
    if name == "orgqr":
        m, n, k = dims
        fortran(orgqr_name(dtype), m, n, k, dummy, max(m, 1), dummy, work, -1, info)
        return (max(int(work[0].real), 1),)
    if name == "syevd":
        (n,) = dims
        if cplx:
            fortran(p + "heevd", "V", "L", n, dummy, n, rwork, work, -1, rwork, -1, iwork, -1,
                    info)
            return int(work[0].real), int(rwork[0]), int(iwork[0])
        fortran(p + "syevd", "V", "L", n, dummy, n, work, work, -1, iwork, -1, info)
        return int(work[0]), 1, int(iwork[0])
    if name == "gesdd":
        m, n, jobz = dims
        k, mx = min(m, n), max(m, n)
        ldu, ldvt = (m, n if jobz == "A" else k) if jobz != "N" else (1, 1)
        args = (jobz, m, n, dummy, m, rwork, dummy, ldu, dummy, ldvt, work, -1)
        fortran(p + "gesdd", *args, *([rwork] if cplx else []), iwork, info)
        lrwork = (7 * k if jobz == "N" else
                  max(5 * k * k + 5 * k, 2 * mx * k + 2 * k * k + k)) if cplx else 1
        return max(int(work[0].real), 1), lrwork, 8 * k
    raise ValueError(f"work_sizes: unknown routine {name!r}")


def _column_major(x):
    """A C-contiguous copy of ``x.T`` (always a copy: LAPACK overwrites it) that LAPACK reads
    as ``x``."""
    return np.array(x.T, order="C", copy=True)


def _each_matrix(a, outs, fn):
    """Runs ``fn(matrix, *out_slices)`` for each matrix of ``a``; ``outs`` are arrays with
    ``a``'s batch axes first."""
    flat = a.reshape(_stacked(a.shape))
    flat_outs = [o.reshape((flat.shape[0],) + o.shape[len(a.shape) - 2:]) for o in outs]
    for t in range(flat.shape[0]):
        fn(flat[t], *[o[t] for o in flat_outs])
    return outs


def syevd(a, *, lower=True):
    """Eigenvectors and eigenvalues (ascending) of each Hermitian matrix: ``[v, w]``."""
    dtype, n = a.dtype, a.shape[-1]
    v, w = np.empty(a.shape, dtype), np.empty(a.shape[:-1], real_dtype(dtype))
    if n == 0:
        return [v, w]
    lwork, lrwork, liwork = work_sizes("syevd", dtype, n)
    work, rwork = np.empty(lwork, dtype), np.empty(lrwork, real_dtype(dtype))
    iwork, info = np.empty(liwork, np.int64), np.zeros(1, np.int64)
    uplo = "L" if lower else "U"

    def one(x, v_t, w_t):
        col = _column_major(x)
        if dtype.kind == "c":
            fortran(PREFIX[dtype] + "heevd", "V", uplo, n, col, n, w_t, work, lwork, rwork,
                    lrwork, iwork, liwork, info)
        else:
            fortran(PREFIX[dtype] + "syevd", "V", uplo, n, col, n, w_t, work, lwork, iwork,
                    liwork, info)
        v_t[...] = col.T
    return _each_matrix(a, [v, w], one)


def gesdd(a, *, full_matrices, compute_uv):
    """Singular values (descending) and, with ``compute_uv``, ``u`` and ``vh``: ``[s, u, vh]``
    or ``[s]``."""
    dtype, (m, n) = a.dtype, a.shape[-2:]
    k, batch = min(m, n), a.shape[:-2]
    jobz = ("A" if full_matrices else "S") if compute_uv else "N"
    ku, kv = (m, n) if full_matrices else (k, k)
    s = np.empty(batch + (k,), real_dtype(dtype))
    outs = [s] + ([np.zeros(batch + (m, ku), dtype), np.zeros(batch + (kv, n), dtype)]
                  if compute_uv else [])
    if m == 0 or n == 0:
        for u in outs[1:]:
            u[...] = np.eye(*u.shape[-2:], dtype=dtype)
        return outs
    lwork, lrwork, liwork = work_sizes("gesdd", dtype, n, m, jobz)
    work, rwork = np.empty(lwork, dtype), np.empty(lrwork, real_dtype(dtype))
    iwork, info = np.empty(liwork, np.int64), np.zeros(1, np.int64)
    dummy = np.empty(1, dtype)

    def one(x, s_t, *uv):  # LAPACK reads x as x^T = V S U^T: see lower_linalg._svd
        col = np.array(x, order="C", copy=True)
        vectors = [uv[1], n, uv[0], ku] if compute_uv else [dummy, 1, dummy, 1]
        fortran(PREFIX[dtype] + "gesdd", jobz, n, m, col, n, s_t, *vectors, work, lwork,
                *([rwork] if dtype.kind == "c" else []), iwork, info)
    return _each_matrix(a, outs, one)


def geqrf_orgqr(a, *, full_matrices):
    """The QR factors of each matrix: ``[q, r]``."""
    dtype, (m, n) = a.dtype, a.shape[-2:]
    k, batch = min(m, n), a.shape[:-2]
    kq = m if full_matrices else k
    q, r = np.zeros(batch + (m, kq), dtype), np.zeros(batch + (kq, n), dtype)
    if m == 0 or n == 0:
        q[...] = np.eye(m, kq, dtype=dtype)
        return [q, r]
    (lw1,), (lw2,) = work_sizes("geqrf", dtype, m, n), work_sizes("orgqr", dtype, m, kq, k)
    work, tau, info = np.empty(max(lw1, lw2), dtype), np.empty(k, dtype), np.zeros(1, np.int64)

    def one(x, q_t, r_t):
        col = np.zeros((max(n, kq), m), dtype)
        col[:n] = x.T
        fortran(PREFIX[dtype] + "geqrf", m, n, col, m, tau, work, lw1, info)
        r_t[:k] = np.triu(col[:n, :k].T)
        fortran(orgqr_name(dtype), m, kq, k, col, m, tau, work, lw2, info)
        q_t[...] = col[:kq].T
    return _each_matrix(a, [q, r], one)


def getrf_columns(a):
    """``?getrf`` on each row-major matrix as it is: LAPACK reads it as ``a^T`` and leaves
    ``a^T = P L U`` in its own (column-major) layout, with 0-based int32 pivots. ``getrs``
    solves with these factors; they are not ``getrf``'s row-major ones."""
    n = a.shape[-1]
    lu = _matrices(a)
    piv, info = np.zeros((lu.shape[0], n), np.int64), np.zeros(1, np.int64)
    for t in range(lu.shape[0] if n else 0):
        fortran(PREFIX[a.dtype] + "getrf", n, n, lu[t], n, piv[t], info)
    return lu.reshape(a.shape), (piv - 1).astype(np.int32).reshape(a.shape[:-1])


def getrs(lu, pivots, b, transpose=False):
    """Solves ``a x = b`` (``a^T x = b`` with ``transpose``) for each matrix, from
    ``getrf_columns(a)``. LAPACK's factors are of ``a^T``, hence trans='T' for ``a``. A
    singular matrix gives inf/nan (a division by its zero pivot), as in JAX. A single
    right-hand side is already column-major; k of them go through a transposed copy."""
    n, k = b.shape[-2:]
    x = _matrices(b)
    if x.size == 0:
        return x.reshape(b.shape)
    lu = np.ascontiguousarray(lu).reshape(_stacked(lu.shape))
    ipiv, info = pivots.reshape(len(lu), n).astype(np.int64) + 1, np.zeros(1, np.int64)
    name, trans = PREFIX[b.dtype] + "getrs", "N" if transpose else "T"
    for t in range(x.shape[0]):
        col = x[t] if k == 1 else _column_major(x[t])
        fortran(name, trans, n, k, lu[t], n, ipiv[t], col, n, info)
        if k != 1:
            x[t] = col.T
    return x.reshape(b.shape)
