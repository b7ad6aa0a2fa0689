"""The staging interpreter: records every primitive applied to its tracers as a jaxpr equation.

``trace_to_jaxpr`` runs a flat Python function on tracers carrying only types and returns the
program it performed. Values that are not this trace's tracers become constants: scalars are
written inline as literals, arrays (and tracers of enclosing transformations) become constvars,
so staging nests inside any other transformation without special cases.
"""

import numpy as np

from funcjax.core import type_cache
from funcjax.core.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var
from funcjax.core.source_info import user_frame
from funcjax.core.trace import Trace, Tracer, new_trace
from funcjax.interpreters.eval import aval_of


class StagingTracer(Tracer):
    __slots__ = ("ir_var",)

    def __init__(self, trace, var):
        super().__init__(trace)
        self.ir_var = var

    @property
    def aval(self):
        return self.ir_var.aval

    def creation_note(self):
        eqn = self._trace.producer.get(self.ir_var)
        return f" (by '{eqn.primitive.name}' at {eqn.source_info})" if eqn else ""

    def describe_dependence(self):
        names = self._trace.argument_names_behind(self.ir_var)
        if not names:
            return ""
        return " because it depends on the argument" + ("s " if len(names) > 1 else " ") + \
            ", ".join(f"'{n}'" for n in names)


class StagingTrace(Trace):
    def __init__(self, parent, description="make_jaxpr", arg_names=None):
        super().__init__(parent, description)
        self.eqns = []
        self.invars = []
        self.arg_names = list(arg_names or [])
        self.producer = {}
        self._consts = {}  # id(value) -> (constvar, value); the value is kept alive here

    def new_arg(self, aval):
        var = Var(aval)
        self.invars.append(var)
        return StagingTracer(self, var)

    def atom(self, x):
        if self.own(x):
            return x.ir_var
        if not isinstance(x, Tracer) and np.ndim(x) == 0:
            return Literal(x, aval_of(x))
        entry = self._consts.get(id(x))
        if entry is None:
            entry = self._consts[id(x)] = (Var(aval_of(x)), x)
        return entry[0]

    def process_primitive(self, primitive, args, params):
        atoms = [self.atom(x) for x in args]
        out_avals = type_cache.abstract_eval(primitive, [a.aval for a in atoms], params)
        multiple = primitive.multiple_results
        out_vars = [Var(a) for a in (out_avals if multiple else [out_avals])]
        eqn = Eqn(primitive, atoms, params, out_vars, user_frame())
        self.eqns.append(eqn)
        for v in out_vars:
            self.producer[v] = eqn
        tracers = [StagingTracer(self, v) for v in out_vars]
        return tracers if multiple else tracers[0]

    def argument_names_behind(self, var):
        """Names of the traced arguments ``var`` was computed from (for error messages)."""
        names, seen, todo = [], set(), [var]
        index = {id(v): i for i, v in enumerate(self.invars)}
        while todo:
            v = todo.pop()
            if id(v) in seen or isinstance(v, Literal):
                continue
            seen.add(id(v))
            if id(v) in index and index[id(v)] < len(self.arg_names):
                names.append(self.arg_names[index[id(v)]])
            eqn = self.producer.get(v)
            if eqn is not None:
                todo.extend(eqn.inputs)
        return sorted(set(names))

    def finish(self, outs):
        out_atoms = [self.atom(x) for x in outs]
        consts = list(self._consts.values())
        jaxpr = Jaxpr([v for v, _ in consts], self.invars, self.eqns, out_atoms)
        return ClosedJaxpr(jaxpr, [c for _, c in consts])


def trace_to_jaxpr(flat_fun, in_avals, description="make_jaxpr", arg_names=None):
    """Stages ``flat_fun(*tracers) -> list of outputs`` into a ``ClosedJaxpr``."""
    with new_trace(StagingTrace, description, arg_names) as trace:
        args = [trace.new_arg(a) for a in in_avals]
        outs = flat_fun(*args)
        return trace.finish(list(outs))


def hoist_consts(closed):
    """``(jaxpr, consts)``: the closed jaxpr with its constants turned into leading inputs.

    Higher-order primitives bind their sub-jaxpr's constants as ordinary arguments, so that a
    transformation sees every value the sub-jaxpr reads (a closed-over tracer included)."""
    jaxpr = closed.jaxpr
    hoisted = Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.eqns, jaxpr.outvars)
    return ClosedJaxpr(hoisted, []), list(closed.consts)
