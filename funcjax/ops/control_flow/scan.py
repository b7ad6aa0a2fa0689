"""``scan``: a loop with a trip count known when tracing (``lax.scan``, ``lax.map``).

Operands are ``consts, init, xs``; the param ``jaxpr`` maps ``consts + carry + x slices`` to
``carry + y slices``, and ``ys`` come out stacked along a new leading axis of size ``length``.
Other params: ``reverse`` (walk the slices last to first), ``unroll`` (a hint for compiled
code), ``num_consts`` and ``num_carry``. Because the trip count is static, reverse mode can
store one set of residuals per iteration, stacked like ``ys``.
"""

import numpy as np

from funcjax.core.primitive import Primitive
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.interpreters.batching import batch_jaxpr, move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import Zero, instantiate_tangent, jvp_jaxpr, tangent_aval
from funcjax.ops.control_flow.common import (
    avals_of,
    carry_fixed_point,
    carry_name,
    check_carry_types,
    fill,
    interleave,
    reorder,
    same_types,
    split,
    stacked,
    stage_loop_body,
    type_name,
    type_names,
    unstacked,
)

scan_p = Primitive("scan", multiple_results=True)


@scan_p.def_impl
def _scan_impl(*args, jaxpr, length, reverse, unroll, num_consts, num_carry):
    consts, carry, xs = split(args, num_consts, num_carry)
    ys = []
    for i in range(length):
        t = length - 1 - i if reverse else i
        out = eval_closed_jaxpr(jaxpr, *consts, *carry, *[x[t] for x in xs])
        carry = out[:num_carry]
        ys.append(out[num_carry:])
    if reverse:
        ys.reverse()
    y_avals = jaxpr.out_avals[num_carry:]
    return carry + [np.stack([np.asarray(y[k]) for y in ys]) if ys else
                    np.zeros((0,) + a.shape, a.dtype) for k, a in enumerate(y_avals)]


@scan_p.def_abstract_eval
def _scan_type(*args, jaxpr, length, reverse, unroll, num_consts, num_carry):
    consts, carry, xs = split(args, num_consts, num_carry)
    for x in xs:
        if x.ndim == 0 or x.shape[0] != length:
            raise TypeError(f"scan: every scanned-over operand needs a leading axis of size "
                            f"length={length}, got {type_name(x)}")
    expected = consts + carry + [unstacked(x) for x in xs]
    if not same_types(jaxpr.in_avals, expected):
        raise TypeError(f"scan: the body takes ({type_names(jaxpr.in_avals)}) but is given "
                        f"({type_names(expected)})")
    carry_out, ys = split(jaxpr.out_avals, num_carry)
    if not same_types(carry_out, carry):
        raise TypeError("scan: the body gives a carry of another type than it takes")
    return carry + [stacked(y, length) for y in ys]


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, **params):
    consts, carry, xs = split(primals, num_consts, num_carry)
    nonzero = [type(t) is not Zero for t in tangents]
    const_nz, _, xs_nz = split(nonzero, num_consts, num_carry)
    carry_nz = carry_fixed_point(
        lambda nz: jvp_jaxpr(jaxpr, const_nz + nz + xs_nz, False)[1][:num_carry],
        split(nonzero, num_consts, num_carry)[1])
    n_ys = len(jaxpr.out_avals) - num_carry
    body, out_nz = jvp_jaxpr(jaxpr, const_nz + carry_nz + xs_nz, carry_nz + [False] * n_ys)
    ys_nz = out_nz[num_carry:]
    # jvp_jaxpr lists all primals, then all tangents; scan wants each group's tangents right
    # after the group's primals, so that they are consts, carry and xs too.
    body = reorder(body,
                   inputs=interleave(len(consts), len(carry), len(xs), sum(const_nz),
                                     sum(carry_nz), sum(xs_nz)),
                   outputs=interleave(num_carry, n_ys, sum(carry_nz), sum(ys_nz)))
    const_t, carry_t, xs_t = split(
        [instantiate_tangent(t) for t, nz in zip(tangents, const_nz + carry_nz + xs_nz) if nz],
        sum(const_nz), sum(carry_nz))
    outs = scan_p.bind(*consts, *const_t, *carry, *carry_t, *xs, *xs_t, jaxpr=body,
                       num_consts=len(consts) + len(const_t),
                       num_carry=num_carry + len(carry_t), **params)
    carry_out, carry_t_out, ys, ys_t = split(outs, num_carry, len(carry_t), n_ys)
    return carry_out + ys, (_tangents(carry_nz, carry_t_out, carry_out)
                            + _tangents(ys_nz, ys_t, ys))


def _tangents(flags, nonzero, primals):
    return fill(flags, nonzero, lambda i: Zero(tangent_aval(aval_of(primals[i]))))


def _scan_batch(axis_data, args, dims, *, jaxpr, num_consts, num_carry, **params):
    size = axis_data.size
    const_b, carry_b, xs_b = split([d is not not_mapped for d in dims], num_consts, num_carry)
    carry_b = carry_fixed_point(
        lambda b: batch_jaxpr(jaxpr, axis_data, const_b + b + xs_b, False)[1][:num_carry],
        carry_b)
    n_ys = len(jaxpr.out_avals) - num_carry
    body, out_b = batch_jaxpr(jaxpr, axis_data, const_b + carry_b + xs_b,
                              carry_b + [False] * n_ys)
    # Inside the body a slice has its batch axis first; stacked, that is axis 1.
    where = [0] * (num_consts + num_carry) + [1] * (len(args) - num_consts - num_carry)
    args = [move_batch_axis(x, d, w, size) if b else x
            for x, d, w, b in zip(args, dims, where, const_b + carry_b + xs_b)]
    outs = scan_p.bind(*args, jaxpr=body, num_consts=num_consts, num_carry=num_carry,
                       **params)
    out_dims = [0] * num_carry + [1] * n_ys
    return outs, [d if b else not_mapped for d, b in zip(out_dims, out_b)]


scan_p.def_jvp(_scan_jvp)
scan_p.def_batch(_scan_batch)


# -- the user-facing functions ----------------------------------------------------------------
def _scan_length(xs_flat, length):
    lengths = []
    for x in xs_flat:
        shape = aval_of(x).shape
        if not shape:
            raise ValueError(f"scan got a value with no leading axis to scan along: "
                             f"{type_name(aval_of(x))}.")
        lengths.append(shape[0])
    if len(set(lengths)) > 1:
        raise ValueError(f"scan got values with different leading axis sizes: "
                         f"{', '.join(str(n) for n in lengths)}.")
    if length is None:
        if not lengths:
            raise ValueError("scan got no values to scan over and `length` not provided.")
        return lengths[0]
    if lengths and int(length) != lengths[0]:
        raise ValueError(f"scan got `length` argument of {length} which disagrees with leading "
                         f"axis sizes {lengths[0]}.")
    return int(length)


def _as_pair(out):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"scan body output must be a pair (carry, y), got {out!r}.")
    return tuple(out)


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns the final carry and
    the ``y``s stacked. ``init`` and ``xs`` are pytrees; ``xs=None`` needs ``length``."""
    xs_flat, xs_tree = tree_flatten(xs)
    length = _scan_length(xs_flat, length)
    if isinstance(unroll, bool):
        unroll = max(length, 1) if unroll else 1
    if not isinstance(unroll, (int, np.integer)) or unroll < 1:
        raise ValueError(f"scan: unroll must be a positive int or a bool, got {unroll!r}")
    init_flat, init_tree = tree_flatten(init)
    x_avals = tree_unflatten(xs_tree, [unstacked(aval_of(x)) for x in xs_flat])

    def carry_of(avals, out_tree):
        tree = out_tree.children[0]
        return avals[:tree.num_leaves], tree

    closed, consts, out_tree, init_flat = stage_loop_body(
        lambda c, x: _as_pair(f(c, x)), init_flat, init_tree, (x_avals,), carry_of,
        "lax.scan body")
    carry_avals, carry_tree = carry_of(closed.out_avals, out_tree)
    check_carry_types("scan body", carry_name(f), init_tree, avals_of(init_flat), carry_tree,
                      carry_avals)
    outs = scan_p.bind(*consts, *init_flat, *xs_flat, jaxpr=closed, length=length,
                       reverse=bool(reverse), unroll=int(unroll), num_consts=len(consts),
                       num_carry=len(init_flat))
    carry, ys = split(outs, len(init_flat))
    return tree_unflatten(carry_tree, carry), tree_unflatten(out_tree.children[1], ys)


def map(f, xs):  # noqa: A001 - JAX's name
    """``f`` applied to each slice of ``xs`` along its leading axis, one after another."""
    _, ys = scan(lambda _, x: ((), f(x)), (), xs)
    return ys
