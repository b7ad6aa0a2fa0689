"""Rematerialisation (``checkpoint``): keep fewer residuals for reverse mode and recompute the
rest during the backward pass.

``checkpoint`` is a higher-order primitive around the function's jaxpr. It evaluates the
jaxpr, and its jvp rule wraps the jvp of the jaxpr in another ``checkpoint``. The work happens
in its partial-evaluation rule: after the usual split into a known and an unknown jaxpr, a
*policy* decides which residuals may be saved. A policy is a function

    policy(primitive, *input_avals, **params) -> bool

asked about each equation of the known jaxpr: may its outputs be saved? Residuals that may not
are recomputed instead: the equations that produce them are copied into the unknown side, back
to values that may be saved (or to the checkpoint's inputs, which are always kept). The unknown
side is staged as a ``checkpoint`` equation, so the recomputation runs in the backward pass,
when transposing it.
"""

import functools

from funcjax.core import cost
from funcjax.core.ir import ClosedJaxpr, Jaxpr, Literal, has_effects
from funcjax.core.primitive import Primitive
from funcjax.interpreters.batching import batch_call
from funcjax.interpreters.eval import eval_closed_jaxpr, eval_jaxpr
from funcjax.interpreters.jvp import Zero, deflinear, jvp_jaxpr, tangent_aval
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.interpreters.transpose import backward_pass


# -- policies --------------------------------------------------------------------------------
def everything_saveable(*_, **__):
    """Save every residual: checkpoint changes nothing."""
    return True


def nothing_saveable(*_, **__):
    """Save only the checkpoint's inputs; recompute everything else (the default)."""
    return False


def dots_saveable(primitive, *_, **__):
    """Save the results of matrix products (expensive) and recompute elementwise work."""
    return primitive.name == "dot_general"


def dots_with_no_batch_dims_saveable(primitive, *_, **params):
    """Save the results of matrix products without batch dimensions."""
    return primitive.name == "dot_general" and not params["dimension_numbers"][1][0]


def save_only_these_names(*names):
    """Save only values tagged with ``checkpoint_name(x, name)`` for one of ``names``."""
    return lambda primitive, *_, **params: primitive.name == "name" and \
        params["name"] in names


def save_any_names_but_these(*names):
    """Save values tagged with ``checkpoint_name`` except those with one of ``names``."""
    return lambda primitive, *_, **params: primitive.name == "name" and \
        params["name"] not in names


# -- checkpoint_name: an identity that tags a value for the policies -------------------------
name_p = Primitive("name")
name_p.def_impl(lambda x, *, name: x)
name_p.def_abstract_eval(lambda x, *, name: x)
deflinear(name_p)
name_p.def_transpose(lambda ct, x, *, name: [ct])
name_p.def_batch(lambda axis_data, args, dims, *, name: (name_p.bind(*args, name=name), dims[0]))
name_p.def_cost(cost.free)


def checkpoint_name(x, name):
    """``x``, tagged with ``name`` so that policies can choose to save it."""
    return name_p.bind(x, name=name)


# -- the checkpoint primitive ----------------------------------------------------------------
checkpoint_p = Primitive("checkpoint", multiple_results=True)
checkpoint_p.def_impl(lambda *args, jaxpr, **_: eval_closed_jaxpr(jaxpr, *args))
checkpoint_p.def_abstract_eval(lambda *avals, jaxpr, **_: jaxpr.out_avals)


def _checkpoint_jvp(primals, tangents, *, jaxpr, policy, prevent_cse):
    nonzeros = [type(t) is not Zero for t in tangents]
    jvp_closed, out_nonzeros = jvp_jaxpr(jaxpr, nonzeros, instantiate=False)
    outs = checkpoint_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                             jaxpr=jvp_closed, policy=policy, prevent_cse=prevent_cse)
    n = len(jaxpr.out_avals)
    out_tangents = iter(outs[n:])
    return outs[:n], [next(out_tangents) if nz else Zero(tangent_aval(a))
                      for a, nz in zip(jaxpr.out_avals, out_nonzeros)]


checkpoint_p.def_jvp(_checkpoint_jvp)


def _checkpoint_partial_eval(trace, args, unknowns, *, jaxpr, policy, prevent_cse):
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(jaxpr, unknowns, False)
    known, recompute, num_saved = _recompute_unsaveable(known, num_res, policy)
    known_outs = eval_closed_jaxpr(known, *[a for a, uk in zip(args, unknowns) if not uk])
    saved = known_outs[len(known_outs) - num_saved:]
    unknown_args = [a for a, uk in zip(args, unknowns) if uk]

    def backward_side(*xs):
        residuals = eval_jaxpr(recompute.jaxpr, recompute.consts, *xs[:num_saved])
        return eval_closed_jaxpr(unknown, *residuals, *xs[num_saved:])

    staged = trace_to_jaxpr(backward_side, [v.aval for v in recompute.jaxpr.invars] +
                            unknown.in_avals[num_res:], "checkpoint (recomputed part)")
    unknown_outs = iter(trace.stage(checkpoint_p, saved + unknown_args, dict(
        jaxpr=staged, policy=policy, prevent_cse=prevent_cse)))
    known_outs = iter(known_outs)
    return [next(unknown_outs) if uk else next(known_outs) for uk in out_unknowns]


checkpoint_p.def_partial_eval(_checkpoint_partial_eval)


checkpoint_p.def_batch(functools.partial(batch_call, checkpoint_p))
checkpoint_p.def_cost(cost.call("jaxpr"))


def _recompute_unsaveable(known, num_res, policy):
    """Splits the residuals of ``known`` into values to save and values to recompute.

    Returns ``(known', recompute, num_saved)``: ``known'`` returns the known outputs followed
    by the saved values; ``recompute`` computes all ``num_res`` residuals from the saved ones.
    """
    jaxpr = known.jaxpr
    producer = {id(v): eqn for eqn in jaxpr.eqns for v in eqn.outputs}
    constvars = {id(v) for v in jaxpr.constvars}
    saved, saved_ids, needed = [], set(), set()

    def need(atom):
        if isinstance(atom, Literal) or id(atom) in constvars:
            return
        eqn = producer.get(id(atom))
        if eqn is None or policy(eqn.primitive, *[x.aval for x in eqn.inputs], **eqn.params):
            if id(atom) not in saved_ids:
                saved_ids.add(id(atom))
                saved.append(atom)
        elif id(eqn) not in needed:
            needed.add(id(eqn))
            for x in eqn.inputs:
                need(x)

    n_out = len(jaxpr.outvars) - num_res
    residuals = jaxpr.outvars[n_out:]
    for r in residuals:
        need(r)
    recompute = Jaxpr(jaxpr.constvars, saved, [e for e in jaxpr.eqns if id(e) in needed],
                      residuals)
    outvars = jaxpr.outvars[:n_out] + saved
    kept = Jaxpr(jaxpr.constvars, jaxpr.invars, _live_eqns(jaxpr.eqns, outvars), outvars)
    return (ClosedJaxpr(kept, known.consts), ClosedJaxpr(recompute, known.consts), len(saved))


def _live_eqns(eqns, outvars):
    """The equations that ``outvars`` depend on, and those with effects (a debug print): the
    forward pass no longer computes the residuals it will not save."""
    live = {id(v) for v in outvars}
    kept = []
    for eqn in reversed(eqns):
        if any(id(v) in live for v in eqn.outputs) or has_effects(eqn):
            kept.append(eqn)
            live.update(id(x) for x in eqn.inputs)
    return kept[::-1]


def _checkpoint_transpose(cts, *args, jaxpr, policy, prevent_cse):
    return backward_pass(jaxpr.jaxpr, jaxpr.consts, args, cts)


checkpoint_p.def_transpose(_checkpoint_transpose)
