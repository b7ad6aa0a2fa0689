"""``while``: repeat a body while a predicate holds (``lax.while_loop``, ``lax.fori_loop``).

Operands are ``cond_consts, body_consts, init``; params ``cond_jaxpr`` (consts + carry ->
bool scalar), ``body_jaxpr`` (consts + carry -> carry), ``cond_nconsts``, ``body_nconsts``.
The trip count is known only at run time, so nothing can store per-iteration residuals:
reverse-mode differentiation refuses it and points to ``scan``. ``fori_loop`` with concrete
bounds is a ``scan``, so that it can be reverse-differentiated.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.errors import FuncjaxTypeError
from funcjax.core.primitive import Primitive
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.interpreters.batching import batch_jaxpr, move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import Zero, instantiate_tangent, jvp_jaxpr, tangent_aval
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.ops.control_flow.common import (
    avals_of,
    carry_fixed_point,
    check_carry_types,
    check_scalar_bool,
    fill,
    insert_inputs,
    interleave,
    merge_by_flags,
    reorder,
    same_types,
    split,
    stage,
    stage_flat,
    stage_loop_body,
)
from funcjax.ops.control_flow.eager import body_size, compiled_loop

while_p = Primitive("while", multiple_results=True)

REVERSE_MODE_ERROR = (
    "Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
    "dynamic start/stop values: the number of iterations is only known at run time, so the "
    "values each iteration needs for its backward pass cannot be stored. Try using lax.scan, "
    "or using fori_loop with static start/stop (Python ints).")


@while_p.def_impl
def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cond_consts, body_consts, carry = split(args, cond_nconsts, body_nconsts)
    steps = 0
    while eval_closed_jaxpr(cond_jaxpr, *cond_consts, *carry)[0]:
        carry = eval_closed_jaxpr(body_jaxpr, *body_consts, *carry)
        steps += 1
        if steps == _STEPS_BEFORE_COMPILING:
            # The trip count is unknown: a loop still running after this many steps likely
            # runs many more, so the rest of it runs compiled (the carry is its whole state).
            work = (body_size(cond_jaxpr) + body_size(body_jaxpr)) * steps * 8
            program = compiled_loop(while_p, [*cond_consts, *body_consts, *map(
                np.asarray, carry)], dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                                          cond_nconsts=cond_nconsts, body_nconsts=body_nconsts),
                work)
            if program is not None:
                return program(*cond_consts, *body_consts, *map(np.asarray, carry))
    return carry


_STEPS_BEFORE_COMPILING = 64


@while_p.def_abstract_eval
def _while_type(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cond_consts, body_consts, carry = split(args, cond_nconsts, body_nconsts)
    _check_inputs("cond_jaxpr", cond_jaxpr, cond_consts + carry)
    _check_inputs("body_jaxpr", body_jaxpr, body_consts + carry)
    (pred,) = cond_jaxpr.out_avals
    check_scalar_bool("while: cond_jaxpr", pred)
    if not same_types(body_jaxpr.out_avals, carry):
        raise TypeError("while: body_jaxpr gives a carry of another type than it takes")
    return body_jaxpr.out_avals  # the body's weak types, as for scan


def _check_inputs(name, closed, avals):
    if not same_types(closed.in_avals, avals):
        raise TypeError(f"while: {name} takes {len(closed.in_avals)} inputs of other types "
                        f"than the {len(avals)} operands it is given")


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cond_consts, body_consts, carry = split(primals, cond_nconsts, body_nconsts)
    _, body_const_t, carry_t = split(tangents, cond_nconsts, body_nconsts)
    const_nz = [type(t) is not Zero for t in body_const_t]
    carry_nz = carry_fixed_point(
        lambda nz: jvp_jaxpr(body_jaxpr, const_nz + nz, False)[1],
        [type(t) is not Zero for t in carry_t])
    body, _ = jvp_jaxpr(body_jaxpr, const_nz + carry_nz, carry_nz)
    # jvp_jaxpr takes (consts, carry, const tangents, carry tangents); while wants the consts'
    # tangents among the consts and the carry's tangents in the carry.
    body = reorder(body, inputs=interleave(len(body_consts), len(carry), sum(const_nz),
                                          sum(carry_nz)))
    cond = insert_inputs(cond_jaxpr, [tangent_aval(aval_of(c)) for c, nz in
                                      zip(carry, carry_nz) if nz], len(cond_jaxpr.in_avals))
    const_t = [t for t, nz in zip(body_const_t, const_nz) if nz]
    init_t = [instantiate_tangent(t) for t, nz in zip(carry_t, carry_nz) if nz]
    outs = while_p.bind(*cond_consts, *body_consts, *const_t, *carry, *init_t,
                        cond_jaxpr=cond, body_jaxpr=body, cond_nconsts=cond_nconsts,
                        body_nconsts=len(body_consts) + len(const_t))
    n = len(carry)
    return outs[:n], fill(carry_nz, outs[n:], lambda i: Zero(tangent_aval(aval_of(outs[i]))))


def _while_batch(axis_data, args, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    size = axis_data.size
    batched = [d is not not_mapped for d in dims]
    cond_b, body_b, carry_b = split(batched, cond_nconsts, body_nconsts)
    carry_b = carry_fixed_point(
        lambda b: batch_jaxpr(body_jaxpr, axis_data, body_b + b, False)[1], carry_b)
    cond, (pred_b,) = batch_jaxpr(cond_jaxpr, axis_data, cond_b + carry_b, False)
    if pred_b and not all(carry_b):
        # Lanes finish at different iterations: every carry is batched so that lanes whose
        # predicate is false can keep their value while the others go on.
        carry_b = [True] * len(carry_b)
        cond, _ = batch_jaxpr(cond_jaxpr, axis_data, cond_b + carry_b, False)
    body, _ = batch_jaxpr(body_jaxpr, axis_data, body_b + carry_b, carry_b)
    args = [move_batch_axis(x, d, 0, size) if b else x
            for x, d, b in zip(args, dims, cond_b + body_b + carry_b)]
    cond_consts, body_consts, carry = split(args, cond_nconsts, body_nconsts)
    if pred_b:
        cond, body = _masked_loop(cond, body, cond_consts, body_consts, carry)
        body_consts = cond_consts + body_consts
    outs = while_p.bind(*cond_consts, *body_consts, *carry, cond_jaxpr=cond, body_jaxpr=body,
                        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts))
    return outs, [0 if b else not_mapped for b in carry_b]


def _masked_loop(cond, body, cond_consts, body_consts, carry):
    """A loop that runs while any lane's predicate holds; a lane whose predicate is false
    keeps its carry. The new body takes the predicate's consts before its own."""
    from funcjax import lax
    nc, nb = len(cond_consts), len(body_consts)

    def any_lane(*args):
        return [lax.reduce_or(eval_closed_jaxpr(cond, *args)[0], (0,))]

    def masked_body(*args):
        cond_consts, body_consts, carry = split(args, nc, nb)
        (active,) = eval_closed_jaxpr(cond, *cond_consts, *carry)
        new = eval_closed_jaxpr(body, *body_consts, *carry)
        return [lax.select(lax.broadcast_in_dim(active, aval_of(n).shape, (0,)), n, old)
                for n, old in zip(new, carry)]

    return (stage_flat(any_lane, avals_of(cond_consts + carry), "vmap of a while predicate"),
            stage_flat(masked_body, avals_of(cond_consts + body_consts + carry),
                       "vmap of a while body"))


while_p.def_jvp(_while_jvp)
while_p.def_batch(_while_batch)
def _while_cost(in_avals, out_avals, *, cond_jaxpr, body_jaxpr, **params):
    """One iteration's cost: the trip count is only known when the loop runs."""
    once = cost.jaxpr_cost(cond_jaxpr) + cost.jaxpr_cost(body_jaxpr)
    return once + cost.Cost(unknown_trip_counts=1)


while_p.def_cost(_while_cost)


# -- the user-facing functions ----------------------------------------------------------------
def while_loop(cond_fun, body_fun, init_val):
    """``while cond_fun(val): val = body_fun(val)``, staged as one operation. The carry keeps
    its pytree structure and types; forward-mode differentiable, not reverse-mode."""
    init, init_tree = tree_flatten(init_val)
    body, body_consts, out_tree, init = stage_loop_body(
        body_fun, init, init_tree, (), lambda avals, tree: (avals, tree),
        "lax.while_loop body_fun")
    check_carry_types("while_loop body", body_fun, init_tree, avals_of(init),
                      out_tree, body.out_avals)
    carry_tree = tree_flatten((tree_unflatten(init_tree, avals_of(init)),))[1]
    cond, cond_consts, pred_tree = stage(cond_fun, carry_tree, avals_of(init),
                                         "lax.while_loop cond_fun")
    if pred_tree.num_leaves != 1:
        raise TypeError(f"cond_fun must return a boolean scalar, but got the pytree "
                        f"{pred_tree}.")
    check_scalar_bool("cond_fun", cond.out_avals[0],
                      "Compare values (e.g. `i < n`) to build the loop predicate.")
    outs = while_p.bind(*cond_consts, *body_consts, *init, cond_jaxpr=cond, body_jaxpr=body,
                        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts))
    return tree_unflatten(init_tree, outs)


def fori_loop(lower, upper, body_fun, init_val, *, unroll=None):
    """``for i in range(lower, upper): val = body_fun(i, val)``. With concrete bounds this is a
    ``scan`` (reverse-differentiable, as in JAX); with traced bounds a ``while`` loop."""
    from funcjax import lax
    from funcjax.ops.control_flow.scan import scan
    lower_aval, upper_aval = aval_of(lower), aval_of(upper)
    for name, aval in (("lower", lower_aval), ("upper", upper_aval)):
        if aval.shape != () or not dtypes.is_int(aval.dtype):
            raise TypeError(f"fori_loop: {name} must be an integer scalar, got "
                            f"{aval.str_short()}")
    dtype, _ = dtypes.result_type((lower_aval.dtype, lower_aval.weak_type),
                                  (upper_aval.dtype, upper_aval.weak_type))
    # As in JAX, the index keeps the lower bound's weak type unless the bounds' dtypes differ:
    # fori_loop(0, 3, lambda i, c: c + i, 0) carries a weak int.
    weak = lower_aval.weak_type and lower_aval.dtype == upper_aval.dtype
    one = lax.full((), 1, dtype, weak_type=True)
    bounds = _concrete_bounds(lower, upper)
    if bounds is not None:
        start, stop = bounds

        def step(loop_carry, _):
            i, val = loop_carry
            return (lax.add(i, one), body_fun(i, val)), None

        (_, out), _ = scan(step, (lax.full((), start, dtype, weak), init_val), None,
                           length=max(stop - start, 0), unroll=1 if unroll is None else unroll)
        return out
    if unroll not in (None, 1, False):
        raise ValueError("fori_loop: unroll needs concrete (static) lower and upper bounds.")
    lower = lax.convert_element_type(lower, dtype, weak)
    upper = lax.convert_element_type(upper, dtype)
    _, _, out = while_loop(lambda c: lax.lt(c[0], c[1]),
                           lambda c: (lax.add(c[0], one), c[1],
                                      body_fun(c[0], c[2])),
                           (lower, upper, init_val))
    return out


def _concrete_bounds(lower, upper):
    try:
        return int(lower), int(upper)
    except FuncjaxTypeError:
        return None


# -- reverse mode ----------------------------------------------------------------------------
def _while_partial_eval(trace, args, unknowns, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                        body_nconsts):
    """The known carries come from a loop over the known part alone; the unknown ones from
    the whole loop, staged (so ``linearize`` works; transposing it then raises)."""
    params = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr, cond_nconsts=cond_nconsts,
                  body_nconsts=body_nconsts)
    cond_uk, body_uk, carry_uk = split(unknowns, cond_nconsts, body_nconsts)
    carry_uk = carry_fixed_point(
        lambda uk: partial_eval_jaxpr(body_jaxpr, body_uk + uk, False)[2], carry_uk)
    cond_known, _, (pred_uk,), _ = partial_eval_jaxpr(cond_jaxpr, cond_uk + carry_uk, False)
    if pred_uk or all(carry_uk):
        return trace.stage(while_p, args, params)
    body_known, _, _, _ = partial_eval_jaxpr(body_jaxpr, body_uk + carry_uk, False)
    n_known = carry_uk.count(False)
    known_outs = while_p.bind(
        *[x for x, u in zip(args, cond_uk + body_uk + carry_uk) if not u],
        cond_jaxpr=reorder(cond_known, outputs=[0]),
        body_jaxpr=reorder(body_known, outputs=list(range(n_known))),
        cond_nconsts=cond_uk.count(False), body_nconsts=body_uk.count(False))
    staged = trace.stage(while_p, args, params)
    return merge_by_flags(carry_uk, [o for o, u in zip(staged, carry_uk) if u], known_outs)


def _while_transpose(ct, *args, **params):
    raise ValueError(REVERSE_MODE_ERROR)


while_p.def_partial_eval(_while_partial_eval)
while_p.def_transpose(_while_transpose)
