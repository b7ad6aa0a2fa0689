"""The partial-evaluation interpreter: run what is known now, stage what is unknown for later.

Every value is either *known* (an ordinary value of the enclosing trace, computed right away)
or *unknown* (a tracer of this trace, standing for a variable of a staged jaxpr). An operation
whose inputs are all known is handed to the parent trace; any other one is recorded in the
staged jaxpr. Known values that staged equations read become that jaxpr's constants: the
*residuals* that connect the two halves.

Reverse mode is built on it: ``linearize`` runs the JVP interpreter inside this one with the
primals known and the tangents unknown, so the primal computation happens now and the tangent
computation, which is linear, is staged (``linearize_flat``).

First-order primitives need no rule: an equation with an unknown input is staged whole.
Higher-order primitives (custom rules, checkpoint, jit, control flow) split their own work
with a ``partial_eval`` rule, called with the parent trace current:

    partial_eval_rule(trace, args, unknowns, **params) -> outputs

``args`` holds known values and unknown tracers, ``unknowns[i]`` says which ``args[i]`` is.
The rule computes the known part with ordinary binds, stages the unknown part with
``trace.stage(primitive, args, params)`` (which returns unknown tracers) and returns one output
per result (a list for multiple-result primitives), each known or unknown. Most rules split
their sub-jaxpr with ``partial_eval_jaxpr``.
"""

from funcjax.core import dtypes
from funcjax.core.ir import ClosedJaxpr, Jaxpr
from funcjax.core.trace import Tracer, new_trace, set_current_trace
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import Zero, jvp_flat, tangent_aval
from funcjax.interpreters.memo import jaxpr_transformation
from funcjax.interpreters.staging import StagingTrace, trace_to_jaxpr


class PartialEvalTrace(StagingTrace):
    """Stages only the equations that depend on unknown values; the rest runs in the parent."""

    forwards_constants = True

    def process_primitive(self, primitive, args, params):
        unknowns = [self.own(x) for x in args]
        with set_current_trace(self.parent):
            if not any(unknowns):
                return primitive.bind(*args, **params)
            rule = primitive.rules.get("partial_eval")
            if rule is not None:
                return rule(self, list(args), unknowns, **params)
        return self.stage(primitive, args, params)

    def stage(self, primitive, args, params):
        """Records ``primitive(*args)`` in the staged jaxpr; returns its unknown outputs."""
        return StagingTrace.process_primitive(self, primitive, args, params)


def linearize_flat(flat_fun, primals, description="linearize"):
    """JVP inside partial evaluation: the primal outputs now, the tangent map as a jaxpr.

    Returns ``(primal_outs, linear, out_nonzero)``. ``linear`` is a ``ClosedJaxpr`` taking one
    tangent per floating-point primal (integer primals have none) and returning the tangent of
    each output with ``out_nonzero[i]``; the others are symbolically zero and never built. Its
    consts are the residuals reverse mode keeps.
    """
    avals = [tangent_aval(aval_of(p)) for p in primals]
    with new_trace(PartialEvalTrace, description) as trace:
        tangents = [trace.new_arg(a) if dtypes.is_inexact(a.dtype) else Zero(a) for a in avals]
        outs, out_tangents = jvp_flat(flat_fun, primals, tangents, description)
        out_nonzero = [type(t) is not Zero for t in out_tangents]
        linear = trace.finish([t for t in out_tangents if type(t) is not Zero])
    return outs, linear, out_nonzero


@jaxpr_transformation
def partial_eval_jaxpr(closed, unknowns, instantiate):
    """Splits a closed jaxpr into the part computable from known inputs and the rest.

    Returns ``(jaxpr_known, jaxpr_unknown, out_unknowns, num_residuals)``, both closed:

    - ``jaxpr_known`` takes the known inputs and returns the known outputs followed by
      ``num_residuals`` residuals;
    - ``jaxpr_unknown`` takes the residuals followed by the unknown inputs and returns the
      unknown outputs;
    - ``out_unknowns[i]`` says whether output ``i`` comes from ``jaxpr_unknown``. An output is
      unknown if it depends on an unknown input or if ``instantiate`` (a bool or one per
      output) asks for it; an instantiated known output is passed through as a residual.
    """
    in_avals = closed.in_avals
    n_out = len(closed.out_avals)
    inst = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    unknown_avals = [a for a, uk in zip(in_avals, unknowns) if uk]
    found = {}

    def known_fun(*known):
        def merged(*args):
            kn, uk = iter(args[:len(known)]), iter(args[len(known):])
            return eval_closed_jaxpr(closed, *[next(uk) if u else next(kn) for u in unknowns])

        with new_trace(PartialEvalTrace, "partial evaluation of a sub-jaxpr") as trace:
            args = list(known) + [trace.new_arg(a) for a in unknown_avals]
            outs = merged(*args)
            out_uk = [trace.own(o) or i for o, i in zip(outs, inst)]
            staged = trace.finish([o for o, u in zip(outs, out_uk) if u])
        # Traced constants of the staged part are residuals; concrete ones stay constants.
        is_res = [isinstance(c, Tracer) for c in staged.consts]
        found.update(staged=staged, out_uk=out_uk, is_res=is_res)
        residuals = [c for c, r in zip(staged.consts, is_res) if r]
        return [o for o, u in zip(outs, out_uk) if not u] + residuals

    known_avals = [a for a, uk in zip(in_avals, unknowns) if not uk]
    jaxpr_known = trace_to_jaxpr(known_fun, known_avals, "known part of a sub-jaxpr")
    staged, is_res = found["staged"], found["is_res"]
    jaxpr = staged.jaxpr
    res_vars = [v for v, r in zip(jaxpr.constvars, is_res) if r]
    const_pairs = [(v, c) for v, c, r in zip(jaxpr.constvars, staged.consts, is_res) if not r]
    unknown = Jaxpr([v for v, _ in const_pairs], res_vars + jaxpr.invars, jaxpr.eqns,
                    jaxpr.outvars)
    jaxpr_unknown = ClosedJaxpr(unknown, [c for _, c in const_pairs])
    return jaxpr_known, jaxpr_unknown, found["out_uk"], len(res_vars)
