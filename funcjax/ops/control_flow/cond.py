"""``cond``: run one of several branches, chosen by an int32 index (``lax.cond``, ``lax.switch``).

Operands are ``index, *args``; the param ``branches`` is a tuple of closed jaxprs that all take
``args`` and give outputs of one type. Captured constants of every branch are hoisted into
``args``, each branch ignoring the others'. The index is clamped into range, as XLA does.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import same_type
from funcjax.core.primitive import Primitive
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.interpreters.batching import batch_jaxpr, move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import (
    Zero,
    instantiate_tangent,
    jvp_jaxpr,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.interpreters.transpose import backward_pass, is_undefined_primal
from funcjax.ops.control_flow.common import (
    avals_of,
    fill,
    join_flags,
    leaf_paths,
    merge_by_flags,
    mismatch_reason,
    same_types,
    split,
    stage,
    stage_flat,
    type_name,
    type_names,
    widen_leading_inputs,
)

cond_p = Primitive("cond", multiple_results=True)


def _clamp(index, n):
    return int(np.clip(index, 0, n - 1))


@cond_p.def_impl
def _cond_impl(index, *args, branches):
    return eval_closed_jaxpr(branches[_clamp(index, len(branches))], *args)


@cond_p.def_abstract_eval
def _cond_type(index, *args, branches):
    if index.shape != () or index.dtype != dtypes.int32:
        raise TypeError(f"cond: the branch index must be an int32 scalar, got "
                        f"{index.str_short()}")
    for i, branch in enumerate(branches):
        if not same_types(branch.in_avals, args):
            raise TypeError(f"cond: branch {i} takes ({type_names(branch.in_avals)}) but the "
                            f"operands are ({type_names(args)})")
        _check_outputs_match(branches[0].out_avals, branch.out_avals, "branch 0", f"branch {i}")
    outs = branches[0].out_avals
    weak = [all(b.out_avals[k].weak_type for b in branches) for k in range(len(outs))]
    return [a.update(weak_type=w) for a, w in zip(outs, weak)]


def _check_outputs_match(first, other, first_name, other_name, paths=None):
    if len(first) != len(other):
        raise TypeError(f"cond: {first_name} gives {len(first)} outputs but {other_name} "
                        f"gives {len(other)}")
    for k, (a, b) in enumerate(zip(first, other)):
        if not same_type(a, b):
            where = f" at path {paths[k]}" if paths and paths[k] else ""
            raise TypeError(
                f"cond branches must have equal output types but they differ.\n\nThe output "
                f"of {first_name}{where} has type {type_name(a)} but the corresponding output "
                f"of {other_name} has type {type_name(b)}, {mismatch_reason(a, b)}.\n\n"
                f"Revise {first_name} and/or {other_name} so that all output types match.")


# -- jvp and batching: transform every branch alike -------------------------------------------
def _transform_branches(branches, transform, in_flags):
    """Transforms every branch so that all give the same outputs: a flag (nonzero tangent,
    batched) set in any branch's output is forced on in all of them."""
    out_flags = join_flags(*(transform(b, in_flags, False)[1] for b in branches))
    return tuple(transform(b, in_flags, out_flags)[0] for b in branches), out_flags


def _cond_jvp(primals, tangents, *, branches):
    index, args = primals[0], primals[1:]
    nonzeros = [type(t) is not Zero for t in tangents[1:]]
    new_branches, out_nz = _transform_branches(branches, jvp_jaxpr, nonzeros)
    arg_tangents = [instantiate_tangent(t) for t, nz in zip(tangents[1:], nonzeros) if nz]
    outs = cond_p.bind(index, *args, *arg_tangents, branches=new_branches)
    n = len(branches[0].out_avals)
    out_tangents = fill(out_nz, outs[n:], lambda i: Zero(tangent_aval(aval_of(outs[i]))))
    return outs[:n], out_tangents


def _cond_batch(axis_data, args, dims, *, branches):
    size = axis_data.size
    (index, *ops), (index_dim, *op_dims) = args, dims
    if index_dim is not not_mapped:
        return _select_branches(axis_data, move_batch_axis(index, index_dim, 0, size), ops,
                                op_dims, branches)
    in_batched = [d is not not_mapped for d in op_dims]
    new_branches, out_batched = _transform_branches(
        branches, lambda b, ins, inst: batch_jaxpr(b, axis_data, ins, inst), in_batched)
    ops = [x if d is not_mapped else move_batch_axis(x, d, 0, size)
           for x, d in zip(ops, op_dims)]
    outs = cond_p.bind(index, *ops, branches=new_branches)
    return outs, [0 if b else not_mapped for b in out_batched]


def _select_branches(axis_data, index, ops, op_dims, branches):
    """With a different branch per lane, every branch runs on every lane and each lane
    selects its branch's outputs (JAX does the same)."""
    from funcjax import lax
    ops = [move_batch_axis(x, d, 0, axis_data.size) for x, d in zip(ops, op_dims)]
    all_batched = [True] * len(ops)
    outs = [eval_closed_jaxpr(batch_jaxpr(b, axis_data, all_batched, True)[0], *ops)
            for b in branches]
    index = lax.clamp(0, index, len(branches) - 1)
    selected = []
    for cases in zip(*outs):
        which = lax.broadcast_in_dim(index, np.shape(cases[0]), (0,))
        selected.append(lax.select_n(which, *cases))
    return selected, [0] * len(selected)


cond_p.def_jvp(_cond_jvp)
cond_p.def_batch(_cond_batch)
def _cond_cost(in_avals, out_avals, *, branches):
    return cost.branches_cost(branches)


cond_p.def_cost(_cond_cost)


# -- the user-facing functions ----------------------------------------------------------------
def _fun_name(fun):
    return getattr(fun, "__name__", repr(fun))


def _bind_branches(index, funs, names, operands, reference=0):
    """Stages each function on the operands and binds ``cond`` on their joined jaxprs. Error
    messages compare every branch with ``funs[reference]``."""
    flat_ops, in_tree = tree_flatten(operands)
    staged = [stage(f, in_tree, avals_of(flat_ops), f"lax.cond branch {_fun_name(f)}")
              for f in funs]
    ref_closed, _, ref_tree = staged[reference]
    for name, (closed, _, tree) in zip(names, staged):
        if tree != ref_tree:
            raise TypeError(
                f"cond branch outputs must have the same pytree structure, but they differ:\n\n"
                f"{names[reference]} output is {ref_tree} but {name} output is {tree}.\n\n"
                f"Revise {names[reference]} and/or {name} so that they have the same pytree "
                "structure.")
        _check_outputs_match(ref_closed.out_avals, closed.out_avals, names[reference], name,
                             leaf_paths(ref_tree))
    consts = list({id(c): c for _, cs, _ in staged for c in cs}.values())
    keys, avals = [id(c) for c in consts], [aval_of(c) for c in consts]
    branches = tuple(widen_leading_inputs(closed, [id(c) for c in own], keys, avals)
                     for closed, own, _ in staged)
    outs = cond_p.bind(index, *consts, *flat_ops, branches=branches)
    return tree_unflatten(ref_tree, outs)


def _scalar(what, value):
    aval = aval_of(value)
    if aval.shape != ():
        raise TypeError(f"{what} must be a scalar, got {value} of shape {aval.shape}. "
                        f"({'cond' if what == 'Pred' else 'switch'}: reduce it to one value, "
                        "e.g. with .all() or .any(), or use jnp.where for elementwise choice)")
    return aval


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one staged
    operation: both branches are traced, and their outputs must have equal types."""
    from funcjax import lax
    aval = _scalar("Pred", pred)
    if aval.dtype.kind not in "biuf":
        raise TypeError(f"Pred type must be either boolean or number, got {aval.dtype}.")
    if aval.dtype != dtypes.bool_:
        pred = lax.ne(pred, lax.full((), 0, aval.dtype))
    index = lax.convert_element_type(pred, dtypes.int32)
    return _bind_branches(index, (false_fun, true_fun), ("false_fun", "true_fun"), operands,
                          reference=1)


def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clamped into ``[0, len(branches) - 1]``."""
    from funcjax import lax
    branches = list(branches)
    if not branches:
        raise ValueError("switch: empty branch sequence")
    aval = _scalar("Branch index", index)
    if aval.dtype.kind not in "iu":
        raise TypeError(f"switch: Index type must be an integer, got {index} as "
                        f"{aval.dtype}; convert the index with .astype(int) or jnp.int32(...)")
    if len(branches) == 1:
        return branches[0](*operands)
    index = lax.convert_element_type(index, dtypes.int32)
    index = lax.clamp(np.int32(0), index, np.int32(len(branches) - 1))
    names = tuple(f"branches[{i}]" for i in range(len(branches)))
    return _bind_branches(index, branches, names, operands)


# -- reverse mode ----------------------------------------------------------------------------
def _cond_partial_eval(trace, args, unknowns, *, branches):
    """Each branch splits into a known part, run now, and an unknown part, staged. Whichever
    branch runs, the known cond returns a value for every residual *slot*; branches share a
    slot where their residuals have the same type, and fill the slots they do not use with
    zeros."""
    (index, *ops), (index_unknown, *ops_uk) = args, unknowns
    if index_unknown:
        return trace.stage(cond_p, args, {"branches": branches})
    out_uk = join_flags(*(partial_eval_jaxpr(b, ops_uk, False)[2] for b in branches))
    parts = [partial_eval_jaxpr(b, ops_uk, out_uk) for b in branches]
    slots, owned = _share_slots([known.out_avals[len(known.out_avals) - n:]
                                 for known, _, _, n in parts])
    known = tuple(_filling_slots(k, n, mine, slots) for (k, _, _, n), mine in zip(parts, owned))
    outs = cond_p.bind(index, *[x for x, u in zip(ops, ops_uk) if not u], branches=known)
    known_outs, residuals = split(outs, len(outs) - len(slots))
    unknown = tuple(widen_leading_inputs(u, mine, range(len(slots)), slots)
                    for (_, u, _, _), mine in zip(parts, owned))
    unknown_outs = trace.stage(cond_p, [index, *residuals, *[x for x, u in zip(ops, ops_uk) if u]],
                               {"branches": unknown})
    return merge_by_flags(out_uk, unknown_outs, known_outs)


def _share_slots(residual_avals):
    """Residual slots for all branches: ``(slot avals, each branch's slot per residual)``."""
    slots, owned = [], []
    for avals in residual_avals:
        mine = []
        for aval in avals:
            free = [k for k, s in enumerate(slots) if k not in mine and s == aval]
            if not free:
                slots.append(aval)
                free = [len(slots) - 1]
            mine.append(free[0])
        owned.append(mine)
    return slots, owned


def _filling_slots(known, num_res, mine, slots):
    """The known part of a branch, returning its residuals in its slots and zeros elsewhere."""

    def fun(*args):
        outs, res = split(eval_closed_jaxpr(known, *args), len(known.out_avals) - num_res)
        by_slot = dict(zip(mine, res))
        return outs + [by_slot[k] if k in by_slot else zeros_like_aval(a)
                       for k, a in enumerate(slots)]
    return stage_flat(fun, known.in_avals, "known part of a cond branch")


def _cond_transpose(ct, index, *ops, branches):
    """A cond of the branches' transposes: the index and residuals pick and feed the branch
    that ran forwards, which maps the output cotangents to the linear inputs' cotangents."""
    linear = [is_undefined_primal(x) for x in ops]
    residuals = [x for x in ops if not is_undefined_primal(x)]
    ct_nonzero = [type(c) is not Zero for c in ct]
    cts = [c for c in ct if type(c) is not Zero]

    def transposed(branch):
        def fun(*args):
            res, cts = split(args, len(residuals))
            primals = merge_by_flags(linear, [x for x in ops if is_undefined_primal(x)], res)
            cts_out = fill(ct_nonzero, cts, lambda i: Zero(tangent_aval(branch.out_avals[i])))
            cts_in = backward_pass(branch.jaxpr, branch.consts, primals, cts_out)
            return [instantiate_tangent(c) for c, lin in zip(cts_in, linear) if lin]
        return stage_flat(fun, avals_of(residuals + cts), "transpose of a cond branch")

    outs = cond_p.bind(index, *residuals, *cts, branches=tuple(map(transposed, branches)))
    return [None] + merge_by_flags(linear, outs, [None] * len(residuals))


cond_p.def_partial_eval(_cond_partial_eval)
cond_p.def_transpose(_cond_transpose)
