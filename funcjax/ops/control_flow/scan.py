"""``scan``: a loop with a trip count known when tracing (``lax.scan``, ``lax.map``).

Operands are ``consts, init, xs``; the param ``jaxpr`` maps ``consts + carry + x slices`` to
``carry + y slices``, and ``ys`` come out stacked along a new leading axis of size ``length``.
Other params: ``reverse`` (walk the slices last to first), ``unroll`` (a hint for compiled
code), ``num_consts`` and ``num_carry``. Because the trip count is static, reverse mode can
store one set of residuals per iteration, stacked like ``ys``.
"""

import numpy as np

from funcjax.core import cost
from funcjax.core.primitive import Primitive
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.core.trace import Tracer, constants_compute_now
from funcjax.interpreters.batching import batch_jaxpr, move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import (
    Zero,
    instantiate_tangent,
    jvp_jaxpr,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.interpreters.memo import jaxpr_transformation
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.interpreters.transpose import UndefinedPrimal, backward_pass, is_undefined_primal
from funcjax.ops.control_flow.common import (
    avals_of,
    carry_fixed_point,
    check_carry_types,
    fill,
    interleave,
    merge_by_flags,
    reorder,
    same_types,
    split,
    stacked,
    stage_flat,
    stage_loop_body,
    type_name,
    type_names,
    unstacked,
)
from funcjax.ops.control_flow.eager import body_size, compiled_loop

scan_p = Primitive("scan", multiple_results=True)


@scan_p.def_impl
def _scan_impl(*args, jaxpr, length, reverse, unroll, num_consts, num_carry):
    params = dict(jaxpr=jaxpr, length=length, reverse=reverse, unroll=unroll,
                  num_consts=num_consts, num_carry=num_carry)
    program = compiled_loop(scan_p, args, params, length * body_size(jaxpr))
    if program is not None:
        return program(*args)
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
    # The output carry has the body's weak types (a weak initial carry can come out strong).
    return carry_out + [stacked(y, length) for y in ys]


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
def _scan_cost(in_avals, out_avals, *, jaxpr, length, **params):
    return cost.jaxpr_cost(jaxpr) * length


scan_p.def_cost(_scan_cost)


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
    check_carry_types("scan body", f, init_tree, avals_of(init_flat), carry_tree,
                      carry_avals)
    outs = scan_p.bind(*consts, *init_flat, *xs_flat, jaxpr=closed, length=length,
                       reverse=bool(reverse), unroll=int(unroll), num_consts=len(consts),
                       num_carry=len(init_flat))
    carry, ys = split(outs, len(init_flat))
    return tree_unflatten(carry_tree, carry), tree_unflatten(out_tree.children[1], ys)


def map(f, xs, *, batch_size=None):  # noqa: A001 - JAX's name
    """``f`` applied to each slice of ``xs`` along its leading axis, one after another; with
    ``batch_size``, ``f`` is vmapped over chunks of that many slices (and over the remainder)."""
    if batch_size is None:
        return scan(lambda _, x: ((), f(x)), (), xs)[1]
    if int(batch_size) < 1:
        raise ValueError(f"lax.map: batch_size must be a positive int, got {batch_size!r}")
    from funcjax import lax
    from funcjax.api_vmap import vmap
    leaves, tree = tree_flatten(xs)
    n = _scan_length(leaves, None)
    chunks, rest = divmod(n, int(batch_size))
    head = [lax.slice_in_dim(x, 0, chunks * batch_size) for x in leaves]
    head = [lax.reshape(x, (chunks, batch_size) + aval_of(x).shape[1:]) for x in head]
    ys = scan(lambda _, x: ((), vmap(f)(tree_unflatten(tree, x))), (), head)[1]
    y_leaves, y_tree = tree_flatten(ys)
    y_leaves = [lax.reshape(y, (chunks * batch_size,) + aval_of(y).shape[2:]) for y in y_leaves]
    if rest:
        tail = vmap(f)(tree_unflatten(tree, [lax.slice_in_dim(x, n - rest, n) for x in leaves]))
        y_leaves = [lax.concatenate([y, t], 0) for y, t in zip(y_leaves, tree_flatten(tail)[0])]
    return tree_unflatten(y_tree, y_leaves)


# -- reverse mode ----------------------------------------------------------------------------
def _scan_partial_eval(trace, args, unknowns, *, jaxpr, num_consts, num_carry, **params):
    """Splits the body into a known scan, run now, and an unknown scan, staged. Residuals that
    change from iteration to iteration are stacked along the scan axis (extra ``ys`` of the
    known scan, ``xs`` of the unknown one), except slices of the known ``xs``, which are passed
    on as they are; loop-invariant residuals are computed once and become consts."""
    const_uk, carry_uk, xs_uk = split(unknowns, num_consts, num_carry)
    carry_uk = carry_fixed_point(
        lambda uk: partial_eval_jaxpr(jaxpr, const_uk + uk + xs_uk, False)[2][:num_carry],
        carry_uk)
    n_ys = len(jaxpr.out_avals) - num_carry
    known, unknown, out_uk, num_res = partial_eval_jaxpr(
        jaxpr, const_uk + carry_uk + xs_uk, carry_uk + [False] * n_ys)
    (k_consts, u_consts), (k_init, u_init), (k_xs, u_xs) = (
        ([x for x, u in zip(group, uks) if not u], [x for x, u in zip(group, uks) if u])
        for group, uks in zip(split(args, num_consts, num_carry), (const_uk, carry_uk, xs_uk)))
    invariant, inv_values = _loop_invariant_residuals(known, len(k_consts), num_res, k_consts)
    n_known_outs = len(known.out_avals) - num_res
    variant = [i for i, inv in enumerate(invariant) if not inv]
    res_vars = known.jaxpr.outvars[n_known_outs:]
    x_vars = known.jaxpr.invars[len(k_consts) + len(k_init):]
    stacked = {i: x for i in variant for v, x in zip(x_vars, k_xs) if res_vars[i] is v}
    computed = [i for i in variant if i not in stacked]
    known = reorder(known, outputs=list(range(n_known_outs)) + [n_known_outs + i
                                                                for i in computed])
    k_outs = scan_p.bind(*k_consts, *k_init, *k_xs, jaxpr=known, num_consts=len(k_consts),
                         num_carry=len(k_init), **params)
    k_carry, k_ys, k_res = split(k_outs, len(k_init), n_known_outs - len(k_init))
    stacked.update(zip(computed, k_res))
    # The unknown body takes (residuals, consts, carry, xs); scan wants the invariant residuals
    # among the consts and the stacked ones among the xs.
    first_x = num_res + len(u_consts) + len(u_init)
    order = ([i for i in range(num_res) if invariant[i]] + list(range(num_res, first_x))
             + variant + list(range(first_x, len(unknown.in_avals))))
    u_outs = trace.stage(
        scan_p, inv_values + u_consts + u_init + [stacked[i] for i in variant] + u_xs,
        dict(params, jaxpr=reorder(unknown, inputs=order),
             num_consts=len(inv_values) + len(u_consts), num_carry=len(u_init)))
    u_carry, u_ys = split(u_outs, len(u_init))
    return (merge_by_flags(carry_uk, u_carry, k_carry)
            + merge_by_flags(out_uk[num_carry:], u_ys, k_ys))


_constant_outputs = {}  # id(jaxpr) -> (jaxpr, its outputs): loop-invariant residuals of no input


def _loop_invariant_residuals(known, num_consts, num_res, consts):
    """Which residuals of the known body depend on its consts only, and their values."""
    inv_known, _, varying, _ = partial_eval_jaxpr(
        known, [False] * num_consts + [True] * (len(known.in_avals) - num_consts), False)
    # Without inputs the values are constants of this (memoised) jaxpr: an eager loop retraced
    # per call would evaluate them again each time, so where they compute now they are kept.
    now = not consts and constants_compute_now()
    fixed = _constant_outputs.get(id(inv_known)) if now else None
    if fixed is None or fixed[0] is not inv_known:
        fixed = inv_known, eval_closed_jaxpr(inv_known, *consts)[:varying.count(False)]
        if now and not any(isinstance(v, Tracer) for v in fixed[1]):
            if len(_constant_outputs) > 256:
                _constant_outputs.clear()
            _constant_outputs[id(inv_known)] = fixed
    fixed = fixed[1]
    by_output = merge_by_flags([not v for v in varying], fixed, [None] * varying.count(True))
    invariant = [not v for v in varying[len(varying) - num_res:]]
    residuals = by_output[len(varying) - num_res:]
    return invariant, [r for r, inv in zip(residuals, invariant) if inv]


def _scan_transpose(ct, *args, jaxpr, num_consts, num_carry, length, reverse, **params):
    """A scan running the other way that carries the carry's cotangent and accumulates the
    linear consts' cotangents; residual consts and stacked residuals feed it as before."""
    consts, _, xs = split(args, num_consts, num_carry)
    const_lin = [is_undefined_primal(c) for c in consts]
    xs_lin = [is_undefined_primal(x) for x in xs]
    res_consts = [c for c in consts if not is_undefined_primal(c)]
    res_xs = [x for x in xs if not is_undefined_primal(x)]
    in_consts = jaxpr.in_avals[:num_consts]
    lin_const_avals = [tangent_aval(a) for a, lin in zip(in_consts, const_lin) if lin]
    ct_carry, ct_ys = split(ct, num_carry)
    ct_carry = [instantiate_tangent(c) for c in ct_carry]
    ct_ys = [instantiate_tangent(c) for c in ct_ys]  # a Zero's aval is already stacked
    ct_consts = [zeros_like_aval(a) for a in lin_const_avals]
    body_avals = (avals_of(res_consts) + lin_const_avals + avals_of(ct_carry)
                  + [unstacked(aval_of(x)) for x in res_xs + ct_ys])
    outs = scan_p.bind(*res_consts, *ct_consts, *ct_carry, *res_xs, *ct_ys,
                       jaxpr=_transposed_body(jaxpr, const_lin, xs_lin, num_carry, body_avals),
                       num_consts=len(res_consts), num_carry=len(ct_consts) + num_carry,
                       length=length, reverse=not reverse, **params)
    ct_consts, ct_init, ct_xs = split(outs, len(ct_consts), num_carry)
    return (merge_by_flags(const_lin, ct_consts, [None] * len(res_consts)) + ct_init
            + merge_by_flags(xs_lin, ct_xs, [None] * len(res_xs)))


@jaxpr_transformation
def _transposed_body(jaxpr, const_lin, xs_lin, num_carry, body_avals):
    """The body of the transposed scan (staged once per body and linearity pattern)."""
    from funcjax import lax
    num_consts = len(const_lin)
    in_consts, _, x_avals = split(jaxpr.in_avals, num_consts, num_carry)
    # The carry's cotangent flows from the carry out back into it: it has the carry out's type
    # (a weak initial carry can come out strong), as in JAX.
    carry_avals = jaxpr.out_avals[:num_carry]
    lin_const_avals = [tangent_aval(a) for a, lin in zip(in_consts, const_lin) if lin]
    n_res_consts, n_res_xs = list(const_lin).count(False), list(xs_lin).count(False)

    def body(*args):
        res_c, acc, ct_carry, res_x, ct_y = split(
            args, n_res_consts, len(lin_const_avals), num_carry, n_res_xs)
        primals = (merge_by_flags(const_lin, [UndefinedPrimal(a) for a in lin_const_avals],
                                  res_c)
                   + [UndefinedPrimal(a) for a in carry_avals]
                   + merge_by_flags(xs_lin, [UndefinedPrimal(a) for a, lin in
                                             zip(x_avals, xs_lin) if lin], res_x))
        cts = backward_pass(jaxpr.jaxpr, jaxpr.consts, primals, list(ct_carry) + list(ct_y))
        c_cts, carry_cts, x_cts = split([instantiate_tangent(c) if c is not None else None
                                         for c in cts], num_consts, num_carry)
        acc = [lax.add(a, c) for a, c in zip(acc, [c for c in c_cts if c is not None])]
        return acc + carry_cts + [c for c in x_cts if c is not None]

    return stage_flat(body, list(body_avals), "transpose of a scan body")


scan_p.def_partial_eval(_scan_partial_eval)
scan_p.def_transpose(_scan_transpose)
