"""``funcjax.numpy.linalg`` decompositions and what is built on them: solve, inv, det,
slogdet, pinv, lstsq, matrix_power, matrix_rank, cond.

Everything acts on the last two axes with numpy's broadcasting over the leading ones. Results
follow JAX: a singular matrix gives inf/nan from solve and inv, 0 from det and ``(0, -inf)``
from slogdet; nothing raises on values. Derivatives come from the primitives' rules, except
for det and pinv, whose custom rules stay finite where the matrix loses rank (JAX's results).
"""

import collections

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy._util import asarray, broadcast_shapes, broadcast_to_shape
from funcjax.ops import linalg as la
from funcjax.ops.custom import custom_jvp
from funcjax.ops.linalg import H, diag_part, mm

__all__ = ["cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "eig", "eigvals", "solve",
           "inv", "det", "slogdet", "pinv", "lstsq", "matrix_power", "matrix_rank",
           "EighResult", "SVDResult", "QRResult", "SlogdetResult", "EigResult"]

EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
EigResult = collections.namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
SVDResult = collections.namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = collections.namedtuple("QRResult", ["Q", "R"])
SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])


def _matrix(name, a, square=True):
    """``a`` as an inexact array of matrices; non-square input to a square-only routine is a
    ValueError naming the shape."""
    a = asarray(a)
    if a.ndim < 2 or (square and a.shape[-1] != a.shape[-2]):
        want = "[..., n, n]" if square else "[..., m, n]"
        raise ValueError(f"{name}: the argument must have shape {want}, got {tuple(a.shape)}")
    dtype = dtypes.to_inexact(a.dtype)
    if dtype == dtypes.float16:
        dtype = dtypes.float32
    return lax.convert_element_type(a, dtype)


def _eye(n, dtype, batch=()):
    return la.eye_like(tuple(batch) + (n, n), dtype)


def _full(x, value, dtype=None):
    return lax.full(np.shape(x), value, dtype or x.dtype)


def _scale_columns(x, v):
    """``x @ diag(v)`` for matrices x and vectors v of the same batch."""
    v = lax.convert_element_type(v, x.dtype)
    return lax.mul(x, lax.broadcast_in_dim(v, x.shape, tuple(range(v.ndim - 1)) + (x.ndim - 1,)))


# -- decompositions --------------------------------------------------------------------------
def cholesky(a, *, upper=False, symmetrize_input=True):
    """The lower (or upper) Cholesky factor; NaNs for a matrix that is not positive
    definite."""
    a = _matrix("cholesky", a)
    factor = lax.linalg.cholesky(a, symmetrize_input=symmetrize_input)
    return H(factor) if upper else factor


def qr(a, mode="reduced"):
    """``(Q, R)`` ('reduced' or 'complete'), or R alone for mode='r'."""
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    a = _matrix("qr", a, square=False)
    q, r = lax.linalg.qr(a, full_matrices=mode == "complete")
    return r if mode == "r" else QRResult(q, r)


def eigh(a, UPLO=None, symmetrize_input=True):  # noqa: N803 - numpy's name
    """``(eigenvalues, eigenvectors)`` of Hermitian matrices, eigenvalues ascending."""
    a = _matrix("eigh", a)
    lower = UPLO in (None, "L")
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    v, w = lax.linalg.eigh(a, lower=lower, symmetrize_input=symmetrize_input)
    return EighResult(w, v)


def eigvalsh(a, UPLO="L"):  # noqa: N803
    return eigh(a, UPLO).eigenvalues


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``(U, S, Vh)`` with ``a == U @ diag(S) @ Vh`` (S descending), or S alone."""
    a = _matrix("svd", a, square=False)
    if not compute_uv:
        return lax.linalg.svd(a, compute_uv=False)
    return SVDResult(*lax.linalg.svd(a, full_matrices=full_matrices))


def svdvals(x, /):
    return svd(x, compute_uv=False)


def eig(a):
    """``(eigenvalues, eigenvectors)`` of general matrices (complex; no derivative)."""
    a = _matrix("eig", a)
    return EigResult(*lax.linalg.eig(a))


def eigvals(a):
    return lax.linalg.eig(_matrix("eigvals", a), compute_right_eigenvectors=False)[0]


# -- solving ---------------------------------------------------------------------------------
def solve(a, b):
    """``x`` with ``a @ x == b``; b is a vector (1-D) or a stack of matrices, broadcast
    against a's batch axes as numpy 2 does."""
    a = _matrix("solve", a)
    b = asarray(b)
    dtype, _ = dtypes.result_type((a.dtype, False), (b.dtype, b.weak_type))
    a, b = lax.convert_element_type(a, dtype), lax.convert_element_type(b, dtype)
    n = a.shape[-1]
    vector = b.ndim == 1
    if vector:
        b = lax.expand_dims(b, (1,))
    if b.ndim < 2 or b.shape[-2] != n:
        raise ValueError(f"solve: b of shape {tuple(b.shape) if not vector else (n,)} does not "
                         f"fit a of shape {tuple(a.shape)}: b needs {n} rows")
    batch = broadcast_shapes("solve", a.shape[:-2], b.shape[:-2])
    a = broadcast_to_shape(a, batch + a.shape[-2:])
    b = broadcast_to_shape(b, batch + b.shape[-2:])
    # LAPACK's getrf + getrs; the derivative goes through getrs's rule (one factorisation).
    lu, pivots = la.getrf_p.bind(a)
    x = la.getrs(a, lu, pivots, b)
    return lax.squeeze(x, (x.ndim - 1,)) if vector else x


def inv(a):
    """The inverse; a singular matrix gives inf/nan entries (no exception), as in JAX."""
    a = _matrix("inv", a)
    return solve(a, _eye(a.shape[-1], a.dtype, a.shape[:-2]))


def _lu_parts(a):
    lu, pivots, _ = lax.linalg.lu(a)
    diag = diag_part(lu)
    swaps = lax.ne(pivots, lax.broadcasted_iota(np.int32, pivots.shape, pivots.ndim - 1))
    odd = lax.rem(lax.reduce_sum(lax.convert_element_type(swaps, np.int32), (swaps.ndim - 1,)),
                  lax.full(swaps.shape[:-1], 2, np.int32))
    parity = lax.sub(_full(odd, 1, a.dtype),
                     lax.mul(_full(odd, 2, a.dtype), lax.convert_element_type(odd, a.dtype)))
    return diag, parity


def _det(a):
    diag, parity = _lu_parts(a)
    return lax.mul(parity, lax.reduce_prod(diag, (diag.ndim - 1,)))


_det_custom = custom_jvp(_det)


@_det_custom.defjvp
def _det_jvp(primals, tangents):
    """d det = tr(adj(a) da), with the adjugate from the SVD so that it stays finite (and
    right) for singular matrices: adj(U S V^H) = det(U) det(V^H) V adj(S) U^H."""
    (a,), (a_dot,) = primals, tangents
    u, s, vh = lax.linalg.svd(a, full_matrices=False)
    n = s.shape[-1]
    # adj(S)_ii = prod of the other singular values, via an n x n mask (no division by 0).
    s_rows = lax.broadcast_in_dim(s, s.shape + (n,), tuple(range(s.ndim - 1)) + (s.ndim,))
    others = lax.select(lax.eq(_eye(n, np.int32, s.shape[:-1]), _full(s_rows, 1, np.int32)),
                        _full(s_rows, 1), s_rows)
    adj_s = lax.reduce_prod(others, (others.ndim - 1,))
    phase = lax.mul(lax.stop_gradient(_det(u)), lax.stop_gradient(_det(vh)))
    adj = mm(_scale_columns(H(vh), adj_s), H(u))
    adj = lax.mul(adj, lax.broadcast_in_dim(phase, adj.shape, tuple(range(phase.ndim))))
    tangent = lax.reduce_sum(lax.mul(adj, la.T(a_dot)), (a.ndim - 2, a.ndim - 1))
    return _det(a), tangent


def det(a):
    """The determinant (0 for a singular matrix; its derivative, the adjugate, is defined
    there too)."""
    return _det_custom(_matrix("det", a))


def slogdet(a):
    """``(sign, log|det|)``: ``(0, -inf)`` for a singular matrix. For complex input the sign
    is a unit complex number."""
    a = _matrix("slogdet", a)
    diag, parity = _lu_parts(a)
    mag = lax.abs(diag)
    last = (diag.ndim - 1,)
    logdet = lax.reduce_sum(lax.log(mag), last)
    zero = lax.eq(mag, _full(mag, 0))
    unit = lax.div(diag, lax.convert_element_type(lax.select(zero, _full(mag, 1), mag), a.dtype))
    sign = lax.mul(parity, lax.reduce_prod(unit, last))
    singular = lax.reduce_or(zero, last)
    return SlogdetResult(lax.select(singular, _full(sign, 0), sign), logdet)


def _pinv(a, rtol):
    u, s, vh = lax.linalg.svd(a, full_matrices=False)
    cutoff = lax.mul(lax.reduce_max(s, (s.ndim - 1,)), _full(s[..., 0], rtol))
    keep = lax.gt(s, lax.broadcast_in_dim(cutoff, s.shape, tuple(range(s.ndim - 1))))
    safe = lax.select(keep, s, _full(s, 1))
    s_inv = lax.select(keep, lax.div(_full(s, 1), safe), _full(s, 0))
    return mm(_scale_columns(H(vh), s_inv), H(u))


_pinv_custom = custom_jvp(_pinv, nondiff_argnums=(1,))


@_pinv_custom.defjvp
def _pinv_jvp(rtol, primals, tangents):
    """dP = -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P (Golub and Pereyra), which
    holds wherever the rank is locally constant, rank-deficient matrices included."""
    (a,), (a_dot,) = primals, tangents
    p = _pinv(a, rtol)
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    da_h = H(a_dot)
    term1 = lax.neg(mm(mm(p, a_dot), p))
    term2 = mm(mm(mm(p, H(p)), da_h), lax.sub(_eye(m, a.dtype, batch), mm(a, p)))
    term3 = mm(mm(lax.sub(_eye(n, a.dtype, batch), mm(p, a)), da_h), mm(H(p), p))
    return p, lax.add(lax.add(term1, term2), term3)


def _default_rtol(a):
    return 10.0 * max(a.shape[-2:]) * float(np.finfo(dtypes.real_dtype(a.dtype)).eps)


def pinv(a, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse (singular values below ``rtol * max(s)`` count as 0;
    the default rtol is ``10 * max(m, n) * eps`` as in JAX)."""
    a = _matrix("pinv", a, square=False)
    return _pinv_custom(a, float(_default_rtol(a) if rtol is None else rtol))


def lstsq(a, b, rcond=None):
    """``(x, residuals, rank, s)``: the least-squares solution of ``a @ x ~= b`` through the
    pseudo-inverse. Residuals are ``|b - a x|^2`` per column, always computed (JAX's
    default)."""
    a = _matrix("lstsq", a, square=False)
    b = asarray(b)
    dtype, _ = dtypes.result_type((a.dtype, False), (b.dtype, b.weak_type))
    a, b = lax.convert_element_type(a, dtype), lax.convert_element_type(b, dtype)
    if a.ndim != 2 or b.ndim not in (1, 2) or b.shape[0] != a.shape[0]:
        raise ValueError(f"lstsq: needs a of shape (m, n) and b of shape (m,) or (m, k), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    m, n = a.shape
    eps = float(np.finfo(dtypes.real_dtype(dtype)).eps)
    rcond = eps * max(m, n) if rcond is None or rcond < 0 else float(rcond)
    vector = b.ndim == 1
    b2 = lax.expand_dims(b, (1,)) if vector else b
    x = mm(_pinv_custom(a, rcond), b2)
    r = lax.sub(b2, mm(a, x))
    resid = lax.reduce_sum(lax.real(lax.mul(lax.conj(r), r)) if dtypes.is_complex(dtype)
                           else lax.mul(r, r), (0,))
    s = svd(a, compute_uv=False)
    rank = lax.reduce_sum(lax.convert_element_type(
        lax.gt(s, _full(s, rcond * 1.0) * lax.reduce_max(s, (0,))), np.int32), (0,))
    return (lax.squeeze(x, (1,)) if vector else x), resid, rank, s


def matrix_power(a, n):
    """``a`` multiplied by itself ``n`` times (an int); negative n powers the inverse."""
    a = asarray(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise TypeError(f"matrix_power: the last 2 dimensions must be square, got shape "
                        f"{tuple(a.shape)}")
    if not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: the exponent must be an integer, got {n!r}")
    if n == 0:
        return lax.convert_element_type(_eye(a.shape[-1], np.int32, a.shape[:-2]), a.dtype)
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:  # binary powering: log2(n) squarings
        if n & 1:
            result = base if result is None else mm(result, base)
        n >>= 1
        if n:
            base = mm(base, base)
    return result


def matrix_rank(M, rtol=None):  # noqa: N803 - numpy's name
    """The number of singular values above ``rtol * max(s)`` (default ``max(m, n) * eps``)."""
    M = _matrix("matrix_rank", M, square=False)
    s = svd(M, compute_uv=False)
    rtol = max(M.shape[-2:]) * float(np.finfo(dtypes.real_dtype(M.dtype)).eps) \
        if rtol is None else rtol
    top = lax.reduce_max(s, (s.ndim - 1,))
    tol = lax.mul(top, _full(top, rtol))
    big = lax.gt(s, lax.broadcast_in_dim(tol, s.shape, tuple(range(s.ndim - 1))))
    return lax.reduce_sum(lax.convert_element_type(big, np.int32), (s.ndim - 1,))
