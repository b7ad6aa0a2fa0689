"""ctypes bindings to the LAPACK and BLAS routines numpy does not expose (``getrf``, ``trsm``).

numpy's wheel bundles OpenBLAS with ILP64, ``scipy_``-prefixed symbols; calling it directly
gives the same library numpy's own linalg uses, and no new dependency. Every call goes one
matrix at a time over the leading (batch) axes, on contiguous row-major copies.
"""

import ctypes
import functools
import glob
import os

import numpy as np

_ROW_MAJOR = 101
_NO_TRANS, _TRANS, _CONJ_TRANS = 111, 112, 113
_UPPER, _LOWER = 121, 122
_NON_UNIT, _UNIT = 131, 132
_LEFT, _RIGHT = 141, 142
_PREFIX = {np.dtype(np.float32): "s", np.dtype(np.float64): "d",
           np.dtype(np.complex64): "c", np.dtype(np.complex128): "z"}
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


def _matrices(x):
    """A contiguous copy of ``x`` as a stack of matrices (LAPACK writes in place)."""
    return np.array(x, order="C", copy=True).reshape((-1,) + x.shape[-2:])


def getrf(a):
    """LU with partial pivoting of each matrix: ``(lu, pivots)``; pivots are 0-based int32
    row swaps. A singular matrix factors anyway (a zero on U's diagonal), as in LAPACK."""
    m, n = a.shape[-2:]
    k = min(m, n)
    lu = _matrices(a)
    piv = np.zeros((lu.shape[0], k), np.int64)
    fn = _fn(f"scipy_LAPACKE_{_PREFIX[a.dtype]}getrf64_", _i64, (_i32, _i64, _i64, _ptr, _i64,
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
    a = np.ascontiguousarray(a, dtype).reshape((-1,) + a.shape[-2:])
    x = _matrices(b)
    m, n = b.shape[-2:]
    if x.size == 0:
        return x.reshape(b.shape)
    trans = (_CONJ_TRANS if conjugate_a else _TRANS) if transpose_a else _NO_TRANS
    complex_ = dtype.kind == "c"
    scalar = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
    alpha_type = _ptr if complex_ else scalar[dtype]
    fn = _fn(f"scipy_cblas_{_PREFIX[dtype]}trsm64_", None,
             (_i32, _i32, _i32, _i32, _i32, _i64, _i64, alpha_type, _ptr, _i64, _ptr, _i64))
    one = np.ones((), dtype)
    alpha = one.ctypes.data if complex_ else 1.0
    lda = a.shape[-1]
    for t in range(x.shape[0]):
        fn(_ROW_MAJOR, _LEFT if left_side else _RIGHT, _LOWER if lower else _UPPER, trans,
           _UNIT if unit_diagonal else _NON_UNIT, m, n, alpha, a[t].ctypes.data, lda,
           x[t].ctypes.data, n)
    return x.reshape(b.shape)


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
    fn = _fn(f"scipy_{_PREFIX[a.dtype]}potrf_64_", None,
             (ctypes.c_void_p, ctypes.c_void_p, _ptr, ctypes.c_void_p, ctypes.c_void_p,
              ctypes.c_size_t))
    for t in range(x.shape[0]):
        fn(ctypes.byref(uplo), ctypes.byref(size), x[t].ctypes.data, ctypes.byref(size),
           ctypes.byref(info), 1)
        if info.value != 0:
            x[t] = np.nan
    return np.tril(x).reshape(a.shape)
