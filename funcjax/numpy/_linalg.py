"""Products and matrix helpers of funcjax.numpy: each product is one ``dot_general``."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.numpy import _reductions
from funcjax.numpy._programs import eager_program
from funcjax.numpy._util import (
    asarray,
    broadcast_shapes,
    broadcast_to_shape,
    canonical_axis,
    check_no_out,
    promote_dtypes,
)

__all__ = ["matmul", "dot", "vdot", "vecdot", "inner", "outer", "tensordot", "kron",
           "diagonal", "diag", "trace", "cross"]


@eager_program
def matmul(a, b, /):
    """Matrix product with broadcast batch axes; 1-D operands act as vectors."""
    a, b = promote_dtypes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and "
                         f"{b.shape}; use * to multiply by a scalar")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = lax.expand_dims(a, (0,))
    if b_vec:
        b = lax.expand_dims(b, (1,))
    if a.shape[-1] != b.shape[-2]:
        raise TypeError(f"matmul: the inner dimensions differ: {a.shape[-1]} (last axis of the "
                        f"first operand, shape {a.shape}) vs {b.shape[-2]} (second-to-last "
                        f"axis of the second operand, shape {b.shape})")
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2], error=TypeError)
    a = broadcast_to_shape(a, batch + a.shape[-2:])
    b = broadcast_to_shape(b, batch + b.shape[-2:])
    nb = len(batch)
    out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    if a_vec:
        out = lax.squeeze(out, (out.ndim - 2,))
    if b_vec:
        out = lax.squeeze(out, (out.ndim - 1,))
    return out


def _check_contract(name, a, b, ia, ib):
    if a.shape[ia] != b.shape[ib]:
        raise TypeError(f"{name}: cannot contract axis {ia} of the first operand (shape "
                        f"{a.shape}) with axis {ib} of the second (shape {b.shape}): sizes "
                        f"{a.shape[ia]} and {b.shape[ib]} differ")


def dot(a, b):
    """numpy's dot: the last axis of ``a`` with the second-to-last of ``b`` (or its only)."""
    a, b = promote_dtypes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        product = lax.bitwise_and if a.dtype == np.bool_ else lax.mul
        return product(*_broadcast_pair(a, b))
    ib = 0 if b.ndim == 1 else b.ndim - 2
    _check_contract("dot", a, b, a.ndim - 1, ib)
    return lax.dot_general(a, b, (((a.ndim - 1,), (ib,)), ((), ())))


def _broadcast_pair(a, b):
    shape = broadcast_shapes("dot", a.shape, b.shape)
    return broadcast_to_shape(a, shape), broadcast_to_shape(b, shape)


def vdot(a, b):
    """Dot product of the flattened operands, conjugating ``a`` (as numpy and JAX)."""
    a, b = asarray(a), asarray(b)
    a = lax.conj(a) if dtypes.is_complex(a.dtype) else a
    return dot(lax.reshape(a, (a.size,)), lax.reshape(b, (b.size,)))


def vecdot(x1, x2, /, *, axis=-1):
    """Dot products of vectors along ``axis`` with broadcasting over the other axes,
    conjugating ``x1`` (as numpy and JAX)."""
    from funcjax.numpy._ufuncs import multiply
    x1, x2 = asarray(x1), asarray(x2)
    x1 = lax.conj(x1) if dtypes.is_complex(x1.dtype) else x1
    for x in (x1, x2):
        canonical_axis("vecdot", axis, x.ndim)
    if x1.shape[axis] != x2.shape[axis]:
        raise TypeError(f"vecdot: axis {axis} has size {x1.shape[axis]} in the first operand "
                        f"(shape {x1.shape}) but {x2.shape[axis]} in the second ({x2.shape})")
    return _reductions.sum(multiply(x1, x2), axis=axis)


def inner(a, b):
    """Contraction over the last axes of both operands."""
    a, b = promote_dtypes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        product = lax.bitwise_and if a.dtype == np.bool_ else lax.mul
        return product(*_broadcast_pair(a, b))
    _check_contract("inner", a, b, a.ndim - 1, b.ndim - 1)
    return lax.dot_general(a, b, (((a.ndim - 1,), (b.ndim - 1,)), ((), ())))


def outer(a, b):
    a, b = promote_dtypes(a, b)
    a, b = lax.reshape(a, (a.size,)), lax.reshape(b, (b.size,))
    return lax.dot_general(a, b, (((), ()), ((), ())))


def tensordot(a, b, axes=2):
    """Contracts ``axes`` (an int N: the last N of a with the first N of b; or two lists)."""
    a, b = promote_dtypes(a, b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={n} is out of range for operands of shapes "
                             f"{a.shape} and {b.shape}")
        ca, cb = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        ca, cb = axes
        ca = [ca] if isinstance(ca, (int, np.integer)) else list(ca)
        cb = [cb] if isinstance(cb, (int, np.integer)) else list(cb)
        if len(ca) != len(cb):
            raise ValueError(f"tensordot: axes {axes} pair {len(ca)} axes of the first operand "
                             f"with {len(cb)} of the second")
        ca = [canonical_axis("tensordot", x, a.ndim) for x in ca]
        cb = [canonical_axis("tensordot", x, b.ndim) for x in cb]
    for ia, ib in zip(ca, cb):
        _check_contract("tensordot", a, b, ia, ib)
    return lax.dot_general(a, b, ((tuple(ca), tuple(cb)), ((), ())))


def kron(a, b):
    """Kronecker product: every element of ``a`` scales a copy of ``b``."""
    a, b = promote_dtypes(a, b)
    nd = max(a.ndim, b.ndim)
    a = lax.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = lax.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    shape = [n for pair in zip(a.shape, b.shape) for n in pair]
    prod = lax.mul(lax.broadcast_in_dim(a, shape, range(0, 2 * nd, 2)),
                   lax.broadcast_in_dim(b, shape, range(1, 2 * nd, 2)))
    return lax.reshape(prod, [x * y for x, y in zip(a.shape, b.shape)])


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of the planes spanned by ``axis1, axis2``, as the last axis."""
    a = asarray(a)
    if a.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 dimensions, got shape {a.shape}")
    i, j = canonical_axis("diagonal", axis1, a.ndim), canonical_axis("diagonal", axis2, a.ndim)
    if i == j:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    rest = [d for d in range(a.ndim) if d not in (i, j)]
    a = lax.transpose(a, rest + [i, j])
    n, m = a.shape[-2:]
    length = max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m))
    rows = np.arange(length) + max(-offset, 0)
    cols = np.arange(length) + max(offset, 0)
    from funcjax.numpy._indexing import getitem
    return getitem(a, (Ellipsis, rows, cols))


def diag(v, k=0):
    """The ``k``-th diagonal of a matrix, or a matrix with a vector on its ``k``-th diagonal."""
    v = asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {v.shape}")
    n = v.shape[0] + abs(k)
    rows = lax.broadcasted_iota(dtypes.default_int(), (n, n), 0)
    cols = lax.broadcasted_iota(dtypes.default_int(), (n, n), 1)
    on_diag = lax.eq(lax.add(rows, lax.full((n, n), k, rows.dtype)), cols)
    # On the diagonal the value's position is the row (k >= 0) or the column (k < 0).
    padded = lax.pad(v, lax.full((), 0, v.dtype), [(0, abs(k), 0)])
    values = lax.broadcast_in_dim(padded, (n, n), (0,) if k >= 0 else (1,))
    return lax.select(on_diag, values, lax.full((n, n), 0, v.dtype))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    check_no_out("trace", out)
    return _reductions.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors along the given axes."""
    from funcjax.numpy._joining import stack
    from funcjax.numpy._shape import moveaxis
    from funcjax.numpy._ufuncs import multiply, subtract
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(asarray(a), axisa, -1), moveaxis(asarray(b), axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"cross: only 3-vectors are supported, got vector sizes "
                         f"{a.shape[-1]} and {b.shape[-1]}")
    c = [a[..., k] for k in range(3)]
    d = [b[..., k] for k in range(3)]
    out = [subtract(multiply(c[(k + 1) % 3], d[(k + 2) % 3]),
                    multiply(c[(k + 2) % 3], d[(k + 1) % 3])) for k in range(3)]
    return moveaxis(stack(out, -1), -1, axisc)
