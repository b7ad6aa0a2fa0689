"""Where reverse mode spends memory: the forward pass, the residuals it keeps for the backward
pass, and the backward pass, with the residuals traced to the source lines that made them.

``staged_vjp`` stages both passes of ``vjp(fun, *args)`` as jaxprs: the forward jaxpr returns
the outputs followed by the residuals, the backward jaxpr takes the residuals and the output
cotangents. Peak memory is a liveness walk over a jaxpr (a value lives from the equation that
makes it to its last use; arguments and outputs live throughout; a loop body's temporaries are
counted once, since each iteration reuses them). A residual computed inside a loop or another
call is followed into the sub-jaxpr to the equation, and so the line, that made it.
"""

from collections import defaultdict

from funcjax.api_util import argument_names, flat_argument_names, fun_name
from funcjax.core.cost import eqn_cost
from funcjax.core.ir import Literal, subjaxprs
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.core.trace import new_trace
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import instantiate_tangent, tangent_aval
from funcjax.interpreters.partial_eval import linearize_flat
from funcjax.interpreters.staging import StagingTrace, trace_to_jaxpr
from funcjax.interpreters.transpose import UndefinedPrimal, backward_pass


class StagedVjp:
    """Both passes of reverse mode as jaxprs, and where each residual comes from."""

    def __init__(self, forward, n_outs, residual_sources, backward):
        self.forward, self.n_outs, self.backward = forward, n_outs, backward
        self.residual_sources = residual_sources

    @property
    def residual_avals(self):
        return self.forward.out_avals[self.n_outs:]


def staged_vjp(fun, *args):
    leaves, in_tree = tree_flatten(args)
    leaf_names = flat_argument_names(argument_names(fun, args), list(args))

    def flat(*xs):
        return tree_flatten(fun(*tree_unflatten(in_tree, xs)))[0]

    with new_trace(StagingTrace, f"vjp({fun_name(fun)})", leaf_names) as trace:
        inputs = [trace.new_arg(aval_of(x)) for x in leaves]
        outs, linear, nonzero = linearize_flat(flat, inputs)
        residuals = list(linear.consts)
        forward = trace.finish(list(outs) + residuals)
    sources = [_source(forward.jaxpr, v, leaf_names)
               for v in forward.jaxpr.outvars[len(outs):]]
    lj = linear.jaxpr
    res_avals = [aval_of(r) for r in residuals]
    ct_avals = [tangent_aval(aval_of(o)) for o, nz in zip(outs, nonzero) if nz]

    def transposed(*res_and_cts):
        res, cts = res_and_cts[:len(res_avals)], res_and_cts[len(res_avals):]
        return [c for c in backward_pass(lj, list(res), [UndefinedPrimal(v.aval)
                                                         for v in lj.invars], list(cts))]
    backward = trace_to_jaxpr(_instantiated(transposed), res_avals + ct_avals,
                              f"backward pass of {fun_name(fun)}")
    return StagedVjp(forward, len(outs), sources, backward)


def _instantiated(fn):
    def run(*xs):
        return [instantiate_tangent(c) for c in fn(*xs)]
    return run


def _source(jaxpr, var, leaf_names):
    """The source line of the equation that made ``var``, followed into sub-jaxprs whose
    outputs are the equation's outputs (loop bodies, branches, calls)."""
    if isinstance(var, Literal):
        return "a constant"
    producers = {v: e for e in jaxpr.eqns for v in e.outputs}
    eqn = producers.get(var)
    if eqn is None:
        if var in jaxpr.invars and jaxpr.invars.index(var) < len(leaf_names):
            return f"the argument '{leaf_names[jaxpr.invars.index(var)]}'"
        return "a constant"
    index = eqn.outputs.index(var)
    for sub in subjaxprs(eqn):
        if len(sub.outvars) == len(eqn.outputs) and not isinstance(sub.outvars[index], Literal):
            inner = _source(sub, sub.outvars[index], [])
            if inner not in ("a constant",) and not inner.startswith("the argument"):
                return inner
    return f"'{eqn.primitive.name}' at {eqn.source_info}"


# -- liveness --------------------------------------------------------------------------------
def peak_bytes(jaxpr):
    """The most bytes alive at once while ``jaxpr`` runs (inputs and outputs included)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    last_use = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for x in eqn.inputs:
            if not isinstance(x, Literal):
                last_use[x] = i
    pinned = set(jaxpr.invars) | set(jaxpr.constvars) | {
        v for v in jaxpr.outvars if not isinstance(v, Literal)}
    live = sum(v.aval.nbytes for v in set(jaxpr.invars) | set(jaxpr.constvars))
    peak = live
    for i, eqn in enumerate(jaxpr.eqns):
        made = sum(v.aval.nbytes for v in eqn.outputs)
        inside = max((peak_bytes(s) - sum(v.aval.nbytes for v in s.invars + s.constvars)
                      - sum(v.aval.nbytes for v in s.outvars if not isinstance(v, Literal))
                      for s in subjaxprs(eqn)), default=0)
        peak = max(peak, live + made + max(inside, 0))
        live += made
        for x in set(eqn.inputs):
            if not isinstance(x, Literal) and last_use.get(x) == i and x not in pinned:
                live -= x.aval.nbytes
        for v in eqn.outputs:
            if v not in last_use and v not in pinned:
                live -= v.aval.nbytes  # never read
    return peak


# -- per-line attribution --------------------------------------------------------------------
def _flops_by_line(jaxpr, times=1, into=None):
    """Arithmetic of each source line, loop bodies counted once per trip."""
    into = defaultdict(int) if into is None else into
    for eqn in getattr(jaxpr, "jaxpr", jaxpr).eqns:
        subs = list(subjaxprs(eqn))
        if subs:
            trips = eqn.params.get("length", 1)
            for s in subs[:1] if eqn.primitive.name != "cond" else subs:
                _flops_by_line(s, times * trips, into)
        else:
            c = eqn_cost(eqn)
            into[_line(eqn.source_info)] += times * (c.flops + c.transcendentals)
    return into


def _line(source_info):
    return str(source_info) if source_info is not None else "funcjax internals"


class LineUsage:
    __slots__ = ("source", "residual_bytes", "residuals", "recompute_flops")

    def __init__(self, source, residual_bytes=0, residuals=0, recompute_flops=0):
        self.source, self.residual_bytes = source, residual_bytes
        self.residuals, self.recompute_flops = residuals, recompute_flops

    def __repr__(self):
        return (f"LineUsage({self.source!r}, residual_bytes={self.residual_bytes}, "
                f"residuals={self.residuals}, recompute_flops={self.recompute_flops})")


class MemoryReport:
    """Peak memory of each pass and the residuals per source line. Checkpointing the code of
    a line would drop its residuals (``residual_bytes``) and recompute its work
    (``recompute_flops``) in the backward pass instead."""

    def __init__(self, name, staged):
        self.name = name
        self.forward_peak_bytes = peak_bytes(staged.forward)
        self.backward_peak_bytes = peak_bytes(staged.backward)
        self.residual_bytes = sum(a.nbytes for a in staged.residual_avals)
        self.n_residuals = len(staged.residual_avals)
        by_line = {}
        flops = _flops_by_line(staged.forward)
        for aval, source in zip(staged.residual_avals, staged.residual_sources):
            key = source.split(" at ", 1)[1] if " at " in source else source
            use = by_line.setdefault(key, LineUsage(key, recompute_flops=flops.get(key, 0)))
            use.residual_bytes += aval.nbytes
            use.residuals += 1
        self.lines = sorted(by_line.values(), key=lambda u: -u.residual_bytes)

    def __str__(self):
        out = [f"memory of reverse mode through {self.name}:",
               f"  forward pass peak   {self.forward_peak_bytes:>14,} bytes",
               f"  residuals kept      {self.residual_bytes:>14,} bytes in "
               f"{self.n_residuals} arrays",
               f"  backward pass peak  {self.backward_peak_bytes:>14,} bytes",
               "  residuals by source line (checkpointing that code saves the bytes and "
               "recomputes the flops):"]
        for u in self.lines:
            out.append(f"    {u.residual_bytes:>12,} bytes  {u.residuals:>3} arrays  "
                       f"{u.recompute_flops:>12,} flops  {u.source}")
        return "\n".join(out)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


def memory_report(fun, *args):
    """The memory of ``grad``/``vjp`` of ``fun`` at ``args``: see ``MemoryReport``."""
    return MemoryReport(fun_name(fun), staged_vjp(fun, *args))
