"""The tape interpreter: eager reverse mode that records linear operations as they run.

``grad`` of eager code does not need a jaxpr. The JVP interpreter runs the function with
tangents that are this trace's tracers: every primal operation, and every operation of a jvp
rule that reads primals only (``cos x`` in the rule of ``sin``), runs now in the parent trace;
each operation that reads a tangent is appended to the *tape* as ``(primitive, args, params,
outputs)``, its arguments being tangent tracers and concrete residuals. The tape is the linear
part of the computation, in order. ``backward`` walks it in reverse and hands each entry's
output cotangents to the primitive's ``transpose`` rule, as the transpose interpreter does for
a staged linear jaxpr.

This is the same linearize-then-transpose as ``partial_eval.linearize_flat`` followed by
``transpose.backward_pass``, without building variables, source information, a jaxpr and its
environment: the work per primitive is one type rule and one list append. Higher-order
primitives split their work with their ``partial_eval`` rule, called with this trace, whose
``stage`` records the unknown part on the tape.
"""

from funcjax.core import dtypes, type_cache
from funcjax.core.trace import Trace, Tracer, _context, new_trace, set_current_trace
from funcjax.interpreters.eval import EvalTrace, aval_of
from funcjax.interpreters.jvp import (
    Zero,
    add_tangents,
    instantiate_tangent,
    jvp_flat,
    tangent_aval,
)
from funcjax.interpreters.transpose import UndefinedPrimal


def applies():
    """Whether the tape handles reverse mode here: in eager code only (under jit, vmap or an
    outer derivative, ``grad`` stages a linear jaxpr, which those transformations need)."""
    trace = _context.trace
    return trace is None or type(trace) is EvalTrace


class TapeTracer(Tracer):
    """A tangent recorded on the tape: its type is known, its value never computed."""

    __slots__ = ("_aval",)

    def __init__(self, trace, aval):
        self._trace = trace
        self._aval = aval

    @property
    def aval(self):
        return self._aval


class TapeTrace(Trace):
    forwards_constants = True

    def __init__(self, parent, description="grad"):
        super().__init__(parent, description)
        self.tape = []

    def new_arg(self, aval):
        return TapeTracer(self, aval)

    def process_primitive(self, primitive, args, params):
        unknowns = [type(x) is TapeTracer and self.own(x) for x in args]
        with set_current_trace(self.parent):
            if not any(unknowns):
                return primitive.bind(*args, **params)
            rule = primitive.rules.get("partial_eval")
            if rule is not None:
                return rule(self, list(args), unknowns, **params)
        return self.stage(primitive, args, params)

    def stage(self, primitive, args, params):
        """Records ``primitive(*args)``; returns its outputs as tangent tracers."""
        out = type_cache.abstract_eval(primitive, [aval_of(x) for x in args], params)
        if primitive.multiple_results:
            outs = [TapeTracer(self, a) for a in out]
            self.tape.append((primitive, args, params, outs))
            return outs
        outs = TapeTracer(self, out)
        self.tape.append((primitive, args, params, (outs,)))
        return outs


def linearize(flat_fun, primals, description="grad"):
    """Runs ``flat_fun(*primals)`` and records its linear part. Returns ``(outs, backward)``
    where ``backward(cts)`` maps one cotangent per output to one per primal (instantiated;
    zeros of type float0 for integer primals)."""
    with new_trace(TapeTrace, description) as trace:
        tangents = [trace.new_arg(a) if dtypes.is_inexact(a.dtype) else Zero(a)
                    for a in (tangent_aval(aval_of(p)) for p in primals)]
        outs, out_tangents = jvp_flat(flat_fun, primals, tangents, description)

    def backward(cts_out):
        cts = _backward(trace, tangents, out_tangents, cts_out)
        return [instantiate_tangent(c) for c in cts]
    return outs, backward


def _backward(trace, tangents, out_tangents, cts_out):
    cts = {}  # id(tracer) -> cotangent; the tape keeps every tracer alive meanwhile

    def add(x, ct):
        if type(x) is TapeTracer and x._trace is trace and ct is not None \
                and type(ct) is not Zero:
            key = id(x)
            cts[key] = add_tangents(cts[key], ct) if key in cts else ct

    for t, ct in zip(out_tangents, cts_out):
        add(t, ct)
    for primitive, args, params, outs in reversed(trace.tape):
        ct = [cts.pop(id(o), None) for o in outs]
        if all(c is None for c in ct):
            continue
        args_in = [UndefinedPrimal(x._aval) if type(x) is TapeTracer and x._trace is trace
                   else x for x in args]
        rule = primitive.rule("transpose")
        if primitive.multiple_results:
            cts_in = rule([Zero(o._aval) if c is None else c for c, o in zip(ct, outs)],
                          *args_in, **params)
        else:
            cts_in = rule(ct[0], *args_in, **params)
        for x, c in zip(args, cts_in):
            add(x, c)
    return [cts.get(id(t), Zero(t.aval)) for t in tangents]
