"""``funcjax.numpy.linalg``: norms and condition numbers here; the decompositions and solvers
in ``_linalg_solve``."""

import numpy as np

from funcjax import lax
from funcjax.core.namespace import public_dir
from funcjax.numpy._linalg import diagonal, matmul, outer, tensordot, trace, vecdot
from funcjax.numpy._linalg_solve import *  # noqa: F403
from funcjax.numpy._linalg_solve import __all__ as _solve_all
from funcjax.numpy._linalg_solve import _matrix, inv, svd
from funcjax.numpy._shape import matrix_transpose
from funcjax.numpy._util import asarray, canonical_axes, promote_args_inexact

__all__ = ["norm", "vector_norm", "matrix_norm", "matmul", "outer", "tensordot", "trace",
           "vecdot", "diagonal", "matrix_transpose", "cond"] + _solve_all


def _reduce(fn, x, axes, keepdims):
    out = fn(x, axes)
    return lax.expand_dims(out, axes) if keepdims else out


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002 - numpy's name
    """``(sum |x|**ord) ** (1/ord)`` over ``axis`` (None: all axes), with numpy's special
    orders: inf (max), -inf (min), 0 (count of non-zeros)."""
    (x,) = promote_args_inexact("norm", x)
    x = lax.convert_element_type(x, x.dtype)
    axes = canonical_axes("norm", axis, x.ndim)
    a = lax.abs(x)
    if ord is None or ord == 2:
        return lax.sqrt(_reduce(lax.reduce_sum, lax.mul(a, a), axes, keepdims))
    if ord == np.inf:
        return _reduce(lax.reduce_max, a, axes, keepdims)
    if ord == -np.inf:
        return _reduce(lax.reduce_min, a, axes, keepdims)
    if ord == 0:
        nonzero = lax.convert_element_type(lax.ne(a, lax.full(a.shape, 0, a.dtype)), a.dtype)
        return _reduce(lax.reduce_sum, nonzero, axes, keepdims)
    if ord == 1:
        return _reduce(lax.reduce_sum, a, axes, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord={ord!r} is a matrix norm; vector norms take numbers")
    p = lax.full(a.shape, float(ord), a.dtype)
    total = _reduce(lax.reduce_sum, lax.pow(a, p), axes, keepdims)
    return lax.pow(total, lax.full(total.shape, 1.0 / ord, a.dtype))


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002 - numpy's name
    """Norms of the matrices in the last two axes: 'fro', 1, -1, inf, -inf."""
    x = asarray(x)
    if x.ndim < 2:
        raise ValueError(f"matrix_norm: needs at least 2 dimensions, got shape {x.shape}")
    return _matrix_norm(x, (x.ndim - 2, x.ndim - 1), ord, keepdims)


def _matrix_norm(x, axes, ord, keepdims):  # noqa: A002
    (x,) = promote_args_inexact("norm", x)
    x = lax.convert_element_type(x, x.dtype)
    row, col = axes
    if ord in (None, "fro"):
        return vector_norm(x, axis=axes, keepdims=keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        # 1: the largest column sum (sum over rows); inf: the largest row sum.
        inner, outer_ = (row, col) if ord in (1, -1) else (col, row)
        sums = lax.reduce_sum(lax.abs(x), (inner,))
        pick = lax.reduce_max if ord in (1, np.inf) else lax.reduce_min
        out = pick(sums, (outer_ - (outer_ > inner),))
        return lax.expand_dims(out, sorted(axes)) if keepdims else out
    if ord in (2, -2, "nuc"):
        # Singular values of the matrices in axes (row, col), moved last.
        rest = [d for d in range(x.ndim) if d not in (row, col)]
        s = svd(lax.transpose(x, rest + [row, col]), compute_uv=False)
        last = (s.ndim - 1,)
        out = (lax.reduce_max if ord == 2 else lax.reduce_min if ord == -2 else
               lax.reduce_sum)(s, last)
        return lax.expand_dims(out, sorted(axes)) if keepdims else out
    raise ValueError(f"norm: ord={ord!r} is not a matrix norm; use 'fro', 'nuc', 1, -1, 2, -2, "
                     "inf or -inf")


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - numpy's name
    """numpy's norm: a vector norm for 1 axis, a matrix norm for 2, Frobenius by default."""
    x = asarray(x)
    if axis is None:
        if ord is None:
            return vector_norm(x, axis=None, keepdims=keepdims)
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-D or 2-D array or an explicit axis, "
                             f"got shape {x.shape}")
        axis = tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(a % max(x.ndim, 1) for a in axes)
    if len(axes) == 1:
        return vector_norm(x, axis=axes, keepdims=keepdims, ord=ord)
    if len(axes) == 2:
        return _matrix_norm(x, axes, ord, keepdims)
    raise ValueError(f"norm: axis must name 1 or 2 axes, got {axis}")


def cond(x, p=None):
    """The condition number: ``s_max / s_min`` for p None or 2 (inf for a singular matrix),
    ``s_min / s_max`` for -2, otherwise ``norm(x, p) * norm(inv(x), p)``."""
    x = _matrix("cond", x, square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        last = (s.ndim - 1,)
        big, small = lax.reduce_max(s, last), lax.reduce_min(s, last)
        return lax.div(small, big) if p == -2 else lax.div(big, small)
    return lax.mul(norm(x, p, axis=(-2, -1)), norm(inv(x), p, axis=(-2, -1)))


__dir__ = public_dir(globals())
