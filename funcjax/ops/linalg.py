"""Matrix factorisations as primitives: cholesky, triangular_solve, lu, and getrf/getrs
(solve's factorisation and substitutions).

Each acts on the last two axes and is batched over the leading ones, like ``jax.lax.linalg``.
The impls call LAPACK (numpy's, or the OpenBLAS numpy bundles for ``getrf``/``trsm``); a
factorisation that fails (a matrix that is not positive definite) gives NaNs as in JAX, not an
exception. The derivative rules are the standard ones written with triangular solves. The
helpers at the top (matrix products, adjoints, triangle masks) serve the spectral
decompositions in ``linalg_spectral`` too.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import Zero, defjvp_zero, instantiate_tangent, tangent_aval
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops import lapack
from funcjax.ops.lazy import lax
from funcjax.ops.typing import describe


# -- matrix helpers for the rules (all act on the last two axes) -----------------------------
def mm(a, b):
    """Batched matrix product ``a @ b`` (equal batch shapes)."""
    nb = len(a.shape) - 2
    batch = tuple(range(nb))
    return lax.dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def T(x):
    """Swaps the last two axes."""
    perm = list(range(len(x.shape)))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return lax.transpose(x, perm)


def conj(x):
    return lax.conj(x) if dtypes.is_complex(x.dtype) else x


def H(x):
    """The conjugate transpose (the adjoint)."""
    return conj(T(x))


def real(x):
    return lax.real(x) if dtypes.is_complex(x.dtype) else x


def _index_grids(shape):
    rows = lax.broadcasted_iota(np.int32, shape, len(shape) - 2)
    cols = lax.broadcasted_iota(np.int32, shape, len(shape) - 1)
    return rows, cols


def tril(x, k=0):
    """The part on and below the ``k``-th diagonal; zeros above."""
    rows, cols = _index_grids(x.shape)
    keep = lax.le(cols, lax.add(rows, lax.full(rows.shape, k, np.int32)))
    return lax.select(keep, x, lax.full(x.shape, 0, x.dtype))


def triu(x, k=0):
    rows, cols = _index_grids(x.shape)
    keep = lax.ge(cols, lax.add(rows, lax.full(rows.shape, k, np.int32)))
    return lax.select(keep, x, lax.full(x.shape, 0, x.dtype))


def eye_like(shape, dtype):
    """Identity matrices (broadcast over the batch axes) of the given full shape."""
    rows, cols = _index_grids(shape)
    return lax.convert_element_type(lax.eq(rows, cols), dtype)


def diag_part(x):
    """The diagonal of each matrix: shape ``batch + (min(m, n),)``."""
    m, n = x.shape[-2:]
    k = min(m, n)
    if m != n:
        x = lax.slice(x, (0,) * len(x.shape), tuple(x.shape[:-2]) + (k, k))
    return lax.reduce_sum(lax.mul(x, eye_like(x.shape, x.dtype)), (len(x.shape) - 1,))


def diag_matrix(v):
    """Matrices with ``v`` (shape ``batch + (n,)``) on the diagonal."""
    n = v.shape[-1]
    shape = tuple(v.shape) + (n,)
    full_v = lax.broadcast_in_dim(v, shape, tuple(range(len(v.shape) - 1)) + (len(shape) - 1,))
    return lax.mul(full_v, eye_like(shape, v.dtype))


def symmetrize_lower(x):
    """The Hermitian matrix whose lower triangle is ``x``'s (what LAPACK reads of it: the
    real part of the diagonal)."""
    strict = tril(x, -1)
    diagonal = diag_matrix(lax.convert_element_type(real(diag_part(x)), x.dtype))
    return lax.add(lax.add(strict, H(strict)), diagonal)


def symmetrized(x):
    """``(x + x^H) / 2``: what the symmetric routines factor with symmetrize_input."""
    return lax.mul(lax.add(x, H(x)), lax.full(x.shape, 0.5, x.dtype))


def check_matrix(name, aval, square=False):
    if aval.ndim < 2:
        raise ValueError(f"{name}: needs a matrix (or a stack of matrices in the last two "
                         f"axes), got {aval.str_short()} of shape {aval.shape}")
    if square and aval.shape[-1] != aval.shape[-2]:
        raise ValueError(f"{name}: needs square matrices in the last two axes, got shape "
                         f"{aval.shape}")
    if aval.dtype.kind not in "fc" or aval.dtype == np.float16:
        raise TypeError(f"{name}: needs float32/float64/complex64/complex128 matrices, got "
                        f"{aval.str_short()}; convert with .astype(...) first")


def batch_unary(prim):
    """Batch rule of a primitive of one matrix operand: the batch axis goes first."""
    def rule(axis_data, args, dims, **params):
        (x,), (d,) = args, dims
        out = prim.bind(move_batch_axis(x, d, 0, axis_data.size), **params)
        return out, ([0] * len(out) if prim.multiple_results else 0)
    return rule


def matrix_cost(flops_of):
    """Cost rule from ``flops_of(m, n)`` of one matrix, times the batch size."""
    def rule(in_avals, out_avals, **params):
        a = in_avals[0]
        batch = int(np.prod(a.shape[:-2], dtype=np.int64))
        return cost.Cost(flops=int(batch * flops_of(*a.shape[-2:])))
    return rule


# -- cholesky --------------------------------------------------------------------------------
def _cholesky(a, *, symmetrize_input):
    """Lower Cholesky factors (LAPACK potrf) of ``a``, or of ``(a + a^H) / 2`` with
    symmetrize_input (JAX's default; only its lower triangle is read, so compiled code builds
    just that triangle, in the factor's buffer). A matrix that is not positive definite gives
    NaNs on and below the diagonal, as in JAX."""
    return lapack.potrf(lapack.symmetrized(a) if symmetrize_input else a)


def _cholesky_type(a, *, symmetrize_input):
    check_matrix("cholesky", a, square=True)
    return ShapedArray(a.shape, a.dtype)


cholesky_p = define_primitive("cholesky", _cholesky, _cholesky_type)


def _cholesky_jvp(primals, tangents, *, symmetrize_input):
    (a,), (a_dot,) = primals, tangents
    L = cholesky_p.bind(a, symmetrize_input=symmetrize_input)
    # dL = L phi(L^-1 dA L^-H), phi: the lower triangle with half the diagonal; dA is the
    # Hermitian matrix the factorisation reads: the symmetrized tangent or its lower triangle.
    a_dot = instantiate_tangent(a_dot)
    a_dot = symmetrized(a_dot) if symmetrize_input else symmetrize_lower(a_dot)
    tmp = triangular_solve(L, a_dot, left_side=True, lower=True)
    tmp = triangular_solve(L, tmp, left_side=False, lower=True, transpose_a=True,
                           conjugate_a=True)
    half = lax.mul(diag_matrix(diag_part(tmp)), lax.full(tmp.shape, 0.5, tmp.dtype))
    return L, mm(L, lax.sub(tril(tmp), half))


cholesky_p.def_jvp(_cholesky_jvp)
cholesky_p.def_batch(batch_unary(cholesky_p))
cholesky_p.def_cost(matrix_cost(lambda m, n: n ** 3 / 3))


# -- triangular_solve ------------------------------------------------------------------------
_TS_PARAMS = ("left_side", "lower", "transpose_a", "conjugate_a", "unit_diagonal")


def triangular_solve(a, b, *, left_side=False, lower=False, transpose_a=False,
                     conjugate_a=False, unit_diagonal=False):
    return triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                   transpose_a=bool(transpose_a),
                                   conjugate_a=bool(conjugate_a),
                                   unit_diagonal=bool(unit_diagonal))


def _triangular_solve(a, b, **params):
    return lapack.trsm(a, b, **params)


def _triangular_solve_type(a, b, *, left_side, **params):
    check_matrix("triangular_solve", a, square=True)
    check_matrix("triangular_solve", b)
    if a.dtype != b.dtype:
        raise TypeError(f"triangular_solve: a and b must have one dtype, got {describe([a, b])}")
    k = b.shape[-2] if left_side else b.shape[-1]
    if a.shape[:-2] != b.shape[:-2] or a.shape[-1] != k:
        side = "rows" if left_side else "columns"
        raise ValueError(f"triangular_solve: a of shape {a.shape} does not fit b of shape "
                         f"{b.shape}: batch axes must be equal and b needs {a.shape[-1]} "
                         f"{side} (left_side={left_side})")
    return ShapedArray(b.shape, b.dtype)


triangular_solve_p = define_primitive("triangular_solve", _triangular_solve,
                                      _triangular_solve_type)


def op_a(a, transpose_a, conjugate_a):
    a = T(a) if transpose_a else a
    return conj(a) if conjugate_a else a


def _triangular_solve_jvp(primals, tangents, **params):
    (a, b), (a_dot, b_dot) = primals, tangents
    x = triangular_solve_p.bind(a, b, **params)
    out = Zero(tangent_aval(aval_of(x)))
    if type(b_dot) is not Zero:
        out = triangular_solve_p.bind(a, b_dot, **params)
    if type(a_dot) is not Zero:
        # Only a's triangle (without the diagonal if unit) enters the solve.
        k = (-1 if params["lower"] else 1) if params["unit_diagonal"] else 0
        a_dot = tril(a_dot, k) if params["lower"] else triu(a_dot, k)
        a_dot = op_a(a_dot, params["transpose_a"], params["conjugate_a"])
        rhs = mm(a_dot, x) if params["left_side"] else mm(x, a_dot)
        term = triangular_solve_p.bind(a, lax.neg(rhs), **params)
        out = term if type(out) is Zero else lax.add(out, term)
    return x, out


def _triangular_solve_transpose(ct, a, b, **params):
    if is_undefined_primal(a):
        raise not_linear("triangular_solve", "its matrix a")
    ct = instantiate_tangent(ct)
    flipped = dict(params, transpose_a=not params["transpose_a"])
    return [None, triangular_solve_p.bind(a, ct, **flipped)]


def _triangular_solve_batch(axis_data, args, dims, **params):
    a, b = (move_batch_axis(x, d, 0, axis_data.size) for x, d in zip(args, dims))
    return triangular_solve_p.bind(a, b, **params), 0


triangular_solve_p.def_jvp(_triangular_solve_jvp)
triangular_solve_p.def_transpose(_triangular_solve_transpose)
triangular_solve_p.def_batch(_triangular_solve_batch)


def _triangular_solve_cost(in_avals, out_avals, **params):
    a, b = in_avals
    return cost.Cost(flops=int(b.size * a.shape[-1]))


triangular_solve_p.def_cost(_triangular_solve_cost)


# -- lu --------------------------------------------------------------------------------------
def pivots_to_permutation(pivots, m):
    """The row order ``perm`` with ``a[perm] == L @ U`` from LAPACK's sequential row swaps."""
    perm = np.broadcast_to(np.arange(m, dtype=np.int32), pivots.shape[:-1] + (m,)).copy()
    count = int(np.prod(pivots.shape[:-1], dtype=np.int64))  # -1 is ambiguous for size 0
    flat, piv = perm.reshape(count, m), pivots.reshape(count, pivots.shape[-1])
    for t in range(flat.shape[0]):
        for i, j in enumerate(piv[t]):
            flat[t, i], flat[t, j] = flat[t, j], flat[t, i]
    return perm


def _pivots_to_permutation_type(pivots, *, permutation_size):
    if pivots.ndim < 1 or pivots.dtype != np.int32:
        raise TypeError(f"lu_pivots_to_permutation: pivots must be an int32 array of at least "
                        f"one axis, got {pivots.str_short()}")
    if permutation_size < pivots.shape[-1]:
        raise ValueError(f"lu_pivots_to_permutation: permutation_size={permutation_size} is "
                         f"smaller than the number of pivots, {pivots.shape[-1]}")
    return ShapedArray(pivots.shape[:-1] + (permutation_size,), np.int32)


lu_pivots_to_permutation_p = define_primitive(
    "lu_pivots_to_permutation",
    lambda pivots, *, permutation_size: pivots_to_permutation(pivots, permutation_size),
    _pivots_to_permutation_type)
defjvp_zero(lu_pivots_to_permutation_p)
lu_pivots_to_permutation_p.def_batch(batch_unary(lu_pivots_to_permutation_p))
lu_pivots_to_permutation_p.def_cost(cost.free)


def _lu(a):
    lu, pivots = lapack.getrf(a)
    return [lu, pivots, pivots_to_permutation(pivots, a.shape[-2])]


def _lu_type(a):
    check_matrix("lu", a)
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    return [ShapedArray(a.shape, a.dtype), ShapedArray(batch + (min(m, n),), np.int32),
            ShapedArray(batch + (m,), np.int32)]


lu_p = define_primitive("lu", _lu, _lu_type, multiple_results=True)


def permutation_matrix(perm, dtype):
    """``P`` with ``P @ a == a[perm]``."""
    m = perm.shape[-1]
    shape = tuple(perm.shape) + (m,)
    cols = lax.broadcasted_iota(np.int32, shape, len(shape) - 1)
    rows = lax.broadcast_in_dim(perm, shape, tuple(range(len(shape) - 1)))
    return lax.convert_element_type(lax.eq(rows, cols), dtype)


def _lu_jvp(primals, tangents):
    (a,), (a_dot,) = primals, tangents
    lu, pivots, perm = lu_p.bind(a)
    m, n = a.shape[-2:]
    if m != n:
        raise NotImplementedError(f"lu: the derivative is implemented for square matrices "
                                  f"only, got shape {a.shape}")
    # P a = L U  =>  L^-1 P da U^-1 = L^-1 dL + dU U^-1 (strictly lower + upper).
    x = mm(permutation_matrix(perm, a.dtype), instantiate_tangent(a_dot))
    x = triangular_solve(lu, x, left_side=True, lower=True, unit_diagonal=True)
    x = triangular_solve(lu, x, left_side=False, lower=False)
    l_mat = lax.add(tril(lu, -1), eye_like(lu.shape, lu.dtype))
    lu_dot = lax.add(mm(l_mat, tril(x, -1)), mm(triu(x), triu(lu)))
    zeros = [Zero(tangent_aval(aval_of(p))) for p in (pivots, perm)]
    return [lu, pivots, perm], [lu_dot] + zeros


lu_p.def_jvp(_lu_jvp)
lu_p.def_batch(batch_unary(lu_p))
lu_p.def_cost(matrix_cost(lambda m, n: 2 * m * n * min(m, n) / 3))


# -- getrf / getrs: what solve is made of ----------------------------------------------------
# LAPACK reads a row-major buffer column-major, that is as the transposed matrix. ``getrf``
# factors the buffer as it is, so its factors are LAPACK's ``a^T = P L U`` in LAPACK's own
# layout, and ``getrs`` solves ``a x = b`` from them with trans='T': no transposing copies.
# Only getrs reads these factors, so they stay internal (``lu`` gives JAX's row-major ones),
# and differentiation treats them as constants: getrs's rule differentiates with respect to
# ``a``, its first operand, so solve's derivative costs no second factorisation.
def _getrf_type(a):
    check_matrix("solve", a, square=True)
    return [ShapedArray(a.shape, a.dtype), ShapedArray(a.shape[:-1], np.int32)]


getrf_p = define_primitive("getrf", lambda a: list(lapack.getrf_columns(a)), _getrf_type,
                           multiple_results=True)


defjvp_zero(getrf_p)  # see above: the factors are constants to differentiation
getrf_p.def_batch(batch_unary(getrf_p))
getrf_p.def_cost(matrix_cost(lambda m, n: 2 * n ** 3 / 3))


def getrs(a, lu, pivots, b, *, transpose=False):
    """``a^-1 b`` (``a^-T b`` with ``transpose``) from ``lu, pivots = getrf(a)``. The value
    depends on a through its factors only; ``a`` itself is an operand for the derivative
    rules, which differentiate with respect to a and b (the factors count as constants)."""
    return getrs_p.bind(a, lu, pivots, b, transpose=bool(transpose))


def _getrs_type(a, lu, pivots, b, *, transpose):
    check_matrix("solve", a, square=True)
    check_matrix("solve", b)
    if len({a.dtype, lu.dtype, b.dtype}) != 1 or pivots.dtype != np.int32:
        raise TypeError(f"solve: a, its factors and b must have one dtype (and int32 pivots), "
                        f"got {describe([a, lu, pivots, b])}")
    n = a.shape[-1]
    if lu.shape != a.shape or pivots.shape != a.shape[:-1] or b.shape[:-2] != a.shape[:-2] \
            or b.shape[-2] != n:
        raise ValueError(f"solve: a of shape {a.shape} (factors {lu.shape}, pivots "
                         f"{pivots.shape}) does not fit b of shape {b.shape}: batch axes must "
                         f"be equal and b needs {n} rows")
    return ShapedArray(b.shape, b.dtype)


getrs_p = define_primitive(
    "getrs", lambda a, lu, pivots, b, *, transpose: lapack.getrs(lu, pivots, b, transpose),
    _getrs_type)


def _getrs_jvp(primals, tangents, *, transpose):
    # x = a^-1 b  =>  dx = a^-1 (db - da x), solved with the same factors.
    (a, lu, pivots, b), (a_dot, _, _, b_dot) = primals, tangents
    x = getrs(a, lu, pivots, b, transpose=transpose)
    rhs = b_dot
    if type(a_dot) is not Zero:
        term = lax.neg(mm(T(a_dot) if transpose else a_dot, x))
        rhs = term if type(rhs) is Zero else lax.add(rhs, term)
    if type(rhs) is Zero:
        return x, Zero(tangent_aval(aval_of(x)))
    return x, getrs(a, lu, pivots, rhs, transpose=transpose)


def _getrs_transpose(ct, a, lu, pivots, b, *, transpose):
    if any(is_undefined_primal(x) for x in (a, lu, pivots)):
        raise not_linear("solve", "its matrix a")
    ct = instantiate_tangent(ct)
    return [None, None, None, getrs(a, lu, pivots, ct, transpose=not transpose)]


def _getrs_batch(axis_data, args, dims, *, transpose):
    a, lu, pivots, b = args
    if dims[:3] == (not_mapped,) * 3:
        # One matrix for every right-hand side: the batch joins b's columns.
        nd = len(b.shape)
        b = move_batch_axis(b, dims[3], nd - 2, axis_data.size)  # (..., n, size, k)
        cols = b.shape[:-2] + (b.shape[-2] * b.shape[-1],)
        x = getrs(a, lu, pivots, lax.reshape(b, cols), transpose=transpose)
        return lax.reshape(x, b.shape), nd - 2
    a, lu, pivots, b = (move_batch_axis(x, d, 0, axis_data.size) for x, d in zip(args, dims))
    return getrs(a, lu, pivots, b, transpose=transpose), 0


getrs_p.def_jvp(_getrs_jvp)
getrs_p.def_transpose(_getrs_transpose)
getrs_p.def_batch(_getrs_batch)
getrs_p.def_cost(lambda in_avals, out_avals, **params: cost.Cost(
    flops=int(2 * in_avals[3].size * in_avals[3].shape[-2])))
