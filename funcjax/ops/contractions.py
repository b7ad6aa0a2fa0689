"""dot_general: contraction over paired axes with optional batch axes (matmul, einsum, ...).

``dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))``. The result's
axes are: batch axes, then lhs free axes, then rhs free axes, as in XLA.
"""

import math

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import batched_axis, move_batch_axis, not_mapped
from funcjax.interpreters.jvp import defjvp
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import NUMBER, check_axes, check_kinds, describe


def free_axes(ndim, contract, batch):
    return [d for d in range(ndim) if d not in contract and d not in batch]


def _permuted(x, perm):
    return x if perm == list(range(x.ndim)) else x.transpose(perm)


def _dot_general(lhs, rhs, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    if lhs.ndim == rhs.ndim == 2 and tuple(lc) == (1,) and tuple(rc) == (0,) and not lb and \
            lhs.dtype == rhs.dtype != np.dtype(bool) and \
            preferred_element_type in (None, lhs.dtype):
        return np.matmul(lhs, rhs)  # a matrix product (the most common case), as below
    lf, rf = free_axes(lhs.ndim, lc, lb), free_axes(rhs.ndim, rc, rb)
    size = lambda x, axes: math.prod([x.shape[a] for a in axes])  # noqa: E731
    # (batch, free, contract) @ (batch, contract, free) hits BLAS through np.matmul.
    a = _permuted(lhs, list(lb) + lf + list(lc)).reshape(size(lhs, lb), size(lhs, lf),
                                                        size(lhs, lc))
    b = _permuted(rhs, list(rb) + list(rc) + rf).reshape(size(rhs, rb), size(rhs, rc),
                                                        size(rhs, rf))
    out_dtype = np.dtype(preferred_element_type or lhs.dtype)
    if out_dtype == np.dtype(bool):
        out = np.matmul(a.astype(np.int32), b.astype(np.int32)) != 0
    else:
        out = np.matmul(a.astype(out_dtype, copy=False), b.astype(out_dtype, copy=False))
    shape = [lhs.shape[d] for d in lb] + [lhs.shape[d] for d in lf] + [rhs.shape[d] for d in rf]
    return out.reshape(shape)


def _dot_general_type(lhs, rhs, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    check_kinds("dot_general", [lhs, rhs], NUMBER + "b")
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"dot_general requires operands of one dtype, got {describe([lhs, rhs])}"
                        "; funcjax.numpy.matmul and dot promote first")
    check_axes("dot_general", tuple(lc) + tuple(lb), lhs.ndim)
    check_axes("dot_general", tuple(rc) + tuple(rb), rhs.ndim)
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise TypeError(f"dot_general: contracting {lc}/{rc} and batch {lb}/{rb} axes must "
                        "pair up one to one")
    for what, la, ra in (("contracting", lc, rc), ("batch", lb, rb)):
        for i, j in zip(la, ra):
            if lhs.shape[i] != rhs.shape[j]:
                raise TypeError(f"dot_general: {what} axis {i} of lhs {lhs.str_short()} has "
                                f"size {lhs.shape[i]} but axis {j} of rhs {rhs.str_short()} "
                                f"has size {rhs.shape[j]}")
    shape = ([lhs.shape[d] for d in lb] + [lhs.shape[d] for d in free_axes(lhs.ndim, lc, lb)]
             + [rhs.shape[d] for d in free_axes(rhs.ndim, rc, rb)])
    out_dtype = dtypes.canonicalize(preferred_element_type or lhs.dtype)
    return ShapedArray(shape, out_dtype, lhs.weak_type and rhs.weak_type)


dot_general_p = define_primitive("dot_general", _dot_general, _dot_general_type)
defjvp(dot_general_p, lambda t, lhs, rhs, **params: dot_general_p.bind(t, rhs, **params),
       lambda t, lhs, rhs, **params: dot_general_p.bind(lhs, t, **params))


def _contract_back(ct, other, aval, mine, theirs, ct_free, other_free):
    """The cotangent of one operand: contract ``ct`` with the other operand over the other's
    free axes (batch axes stay batch axes), then put the axes back in the operand's order.

    ``mine`` and ``theirs`` are the ``(contract, batch)`` axes of this operand and the other.
    """
    (my_c, my_b), (their_c, their_b) = mine, theirs
    nb = len(my_b)
    dims = ((tuple(ct_free), tuple(other_free)), (tuple(range(nb)), tuple(their_b)))
    if np.dtype(ct.dtype) != np.dtype(other.dtype):
        # A preferred_element_type wider than the operands: contract in the wider type.
        other = lax.convert_element_type(other, ct.dtype)
    # out's axes: batch, this operand's free axes, then the other's contracting axes in
    # increasing order, each standing for the axis of this operand it was paired with.
    my_free = free_axes(aval.ndim, my_c, my_b)
    paired = [my_c[list(their_c).index(a)] for a in sorted(their_c)]
    source = list(my_b) + my_free + paired
    swapped = list(my_b) + paired + my_free
    if source != sorted(source) and swapped == sorted(swapped):
        # other x ct lands in this operand's order: no transpose (dW = x^T ct, not (ct^T x)^T,
        # which would cost a strided pass over dW)
        out = dot_general_p.bind(other, ct, dimension_numbers=(dims[0][::-1], dims[1][::-1]),
                                 preferred_element_type=None)
        source = swapped
    else:
        out = dot_general_p.bind(ct, other, dimension_numbers=dims, preferred_element_type=None)
    out = lax.transpose(out, np.argsort(source))
    return lax.convert_element_type(out, aval.dtype)


def _dot_general_transpose(ct, lhs, rhs, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    if is_undefined_primal(lhs) and is_undefined_primal(rhs):
        raise not_linear("dot_general", "both of its operands at once")
    nb = len(lb)
    if is_undefined_primal(lhs):
        n_lfree = len(free_axes(lhs.aval.ndim, lc, lb))
        ct_free = range(nb + n_lfree, ct.ndim)
        rhs_free = free_axes(np.ndim(rhs), rc, rb)
        return [_contract_back(ct, rhs, lhs.aval, (lc, lb), (rc, rb), ct_free, rhs_free), None]
    n_lfree = len(free_axes(np.ndim(lhs), lc, lb))
    ct_free = range(nb, nb + n_lfree)
    lhs_free = free_axes(np.ndim(lhs), lc, lb)
    return [None, _contract_back(ct, lhs, rhs.aval, (rc, rb), (lc, lb), ct_free, lhs_free)]


dot_general_p.def_transpose(_dot_general_transpose)


def _dot_general_batch(axis_data, args, dims, *, dimension_numbers, preferred_element_type=None):
    (lhs, rhs), (lhs_dim, rhs_dim) = args, dims
    (lc, rc), (lb, rb) = dimension_numbers
    params = dict(preferred_element_type=preferred_element_type)
    if lhs_dim is not not_mapped and rhs_dim is not not_mapped:
        # Both batched: the vmapped axis becomes one more batch dimension of the contraction.
        lhs = move_batch_axis(lhs, lhs_dim, 0, axis_data.size)
        rhs = move_batch_axis(rhs, rhs_dim, 0, axis_data.size)
        shift = lambda axes: tuple(a + 1 for a in axes)
        dn = ((shift(lc), shift(rc)), ((0,) + shift(lb), (0,) + shift(rb)))
        return dot_general_p.bind(lhs, rhs, dimension_numbers=dn, **params), 0
    # One side batched: the vmapped axis is one more free axis of that side.
    if rhs_dim is not_mapped:
        lc, lb = [tuple(batched_axis(a, lhs_dim) for a in axes) for axes in (lc, lb)]
        out_dim = len(lb) + free_axes(np.ndim(lhs), lc, lb).index(lhs_dim)
    else:
        rc, rb = [tuple(batched_axis(a, rhs_dim) for a in axes) for axes in (rc, rb)]
        lhs_free = np.ndim(lhs) - len(lc) - len(lb)
        out_dim = len(lb) + lhs_free + free_axes(np.ndim(rhs), rc, rb).index(rhs_dim)
    out = dot_general_p.bind(lhs, rhs, dimension_numbers=((lc, rc), (lb, rb)), **params)
    return out, out_dim


dot_general_p.def_batch(_dot_general_batch)
def _dot_general_cost(in_avals, out_avals, *, dimension_numbers, **params):
    """A multiply and an add per output element per contracted position."""
    (lhs_contract, _), _ = dimension_numbers
    depth = int(np.prod([in_avals[0].shape[d] for d in lhs_contract], dtype=np.int64))
    return cost.Cost(flops=2 * out_avals[0].size * depth)


dot_general_p.def_cost(_dot_general_cost)
