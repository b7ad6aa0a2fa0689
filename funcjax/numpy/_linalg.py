"""Products of funcjax.numpy: matmul, dot and friends, all one ``dot_general`` each."""

from funcjax import lax
from funcjax.numpy._util import asarray, broadcast_shapes, broadcast_to_shape, promote_dtypes


def matmul(a, b, /):
    a, b = promote_dtypes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and "
                         f"{b.shape}; use * for scalars")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = lax.expand_dims(a, (0,))
    if b_vec:
        b = lax.expand_dims(b, (1,))
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape[-1]} (last axis of the "
                         f"first operand, shape {a.shape}) vs {b.shape[-2]} (second-to-last "
                         f"axis of the second operand, shape {b.shape})")
    batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
    a = broadcast_to_shape(a, batch + a.shape[-2:])
    b = broadcast_to_shape(b, batch + b.shape[-2:])
    nb = len(batch)
    out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    if a_vec:
        out = lax.squeeze(out, (out.ndim - 2,))
    if b_vec:
        out = lax.squeeze(out, (out.ndim - 1,))
    return out


def dot(a, b):
    a, b = promote_dtypes(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if b.ndim == 1:
        return lax.dot_general(a, b, (((a.ndim - 1,), (0,)), ((), ())))
    return lax.dot_general(a, b, (((a.ndim - 1,), (b.ndim - 2,)), ((), ())))


def vdot(a, b):
    from funcjax.numpy._shape import ravel
    return dot(ravel(asarray(a)), ravel(asarray(b)))
