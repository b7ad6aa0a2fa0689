"""The JVP interpreter (forward mode): every value carries a primal and a tangent.

Tangents may be *symbolic zeros* (``Zero(aval)``): an operation whose inputs all have zero
tangents is handed to the parent trace untouched, so code that does not depend on the
differentiated inputs costs nothing extra. Integer and boolean values have ``float0``
tangents, which are always symbolic zeros. A primitive's ``jvp`` rule runs with the parent
trace current, so it can use ``lax``/``funcjax.numpy`` freely:

    jvp_rule(primals, tangents, **params) -> (primal_out, tangent_out)

with lists for multiple-result primitives; ``tangents`` entries and ``tangent_out`` may be
``Zero``. ``defjvp``, ``defjvp2``, ``defjvp_zero``, ``deflinear`` and ``defjvp_composite``
build the common rules.
"""

import numpy as np

from funcjax.config import config
from funcjax.core import dtypes, placement, type_cache
from funcjax.core.abstract import ShapedArray
from funcjax.core.array import Array
from funcjax.core.trace import Trace, Tracer, _context, new_trace, set_current_trace
from funcjax.interpreters.eval import EvalTrace, aval_of, runs_now
from funcjax.interpreters.memo import jaxpr_transformation
from funcjax.interpreters.steps import compile_steps, run_steps
from funcjax.interpreters.straight_line import generate


class Zero:
    """A tangent known to be zero; never materialised unless an operation needs the array."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval.str_short()})"


def tangent_aval(aval):
    """Tangents of floats have the primal's type (weak type included, as in JAX); of ints and
    bools, dtype float0."""
    if dtypes.is_inexact(aval.dtype):
        return aval if type(aval) is ShapedArray else ShapedArray(aval.shape, aval.dtype,
                                                                  aval.weak_type)
    return ShapedArray(aval.shape, dtypes.float0)


def zeros_like_aval(aval):
    from funcjax import lax
    if aval.dtype == dtypes.float0:
        return np.zeros(aval.shape, dtypes.float0)
    return lax.full(aval.shape, 0, aval.dtype, aval.weak_type)


def instantiate_tangent(tangent):
    """A concrete array for a tangent (materialises symbolic zeros)."""
    return zeros_like_aval(tangent.aval) if type(tangent) is Zero else tangent


def add_tangents(a, b):
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    if type(a) is Array and type(b) is Array and runs_now():
        aval = a._aval
        if (aval is b._aval or aval == b._aval) and aval.dtype.kind in "fc":
            # Eager sums of one float type (fan-out under the tape): staged once per type.
            adder = _adders.get(aval)
            if adder is None:
                adder = _adder(aval)
            if adder is not False:
                return adder(a, b)
    from funcjax import lax
    return lax.add(a, b)


_adders = {}  # type -> ``lax.add`` of two Arrays of it as straight-line code, or False


def _adder(aval):
    from funcjax import lax
    from funcjax.interpreters.staging import trace_to_jaxpr
    adder = False  # anything but one plain add: bind each time
    try:
        jaxpr = trace_to_jaxpr(lambda u, v: [lax.add(u, v)], [aval, aval], "add").jaxpr
    except Exception:  # noqa: BLE001 - binding raises it again
        jaxpr = None
    if jaxpr is not None and len(jaxpr.eqns) == 1 and jaxpr.eqns[0].inputs == jaxpr.invars:
        adder = generate(jaxpr.invars, jaxpr.outvars, jaxpr.eqns,
                         {jaxpr.eqns[0]: jaxpr.invars}, {}, single=True)
    if len(_adders) >= _MAX_PROGRAMS:
        _adders.clear()
    _adders[aval] = adder
    return adder


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent")

    def __init__(self, trace, primal, tangent):
        super().__init__(trace)
        self.primal = primal
        self.tangent = tangent

    @property
    def aval(self):
        primal = self.primal
        return primal._aval if type(primal) is Array else aval_of(primal)

    def concrete_value(self):
        # Python control flow on primal values keeps working under jvp and grad.
        primal = self.primal
        if isinstance(primal, Tracer):
            return primal.concrete_value()
        return np.asarray(primal)

    def describe_dependence(self):
        return self.primal.describe_dependence() if isinstance(self.primal, Tracer) else ""


class JVPTrace(Trace):
    forwards_constants = True  # an operation with zero tangents only

    def __init__(self, parent, description="jvp"):
        super().__init__(parent, description)

    def unpack(self, x):
        if self.own(x):
            return x.primal, x.tangent
        return x, Zero(tangent_aval(aval_of(x)))

    def pack(self, primal, tangent):
        if type(tangent) is Zero and tangent.aval.dtype == dtypes.float0:
            return primal
        return JVPTracer(self, primal, tangent)

    def process_primitive(self, primitive, args, params):
        primals, tangents, nonzero = [], [], []
        for x in args:
            if (type(x) is JVPTracer and x._trace is self) or self.own(x):
                primals.append(x.primal)
                tangents.append(x.tangent)
                nonzero.append(type(x.tangent) is not Zero)
            else:
                primals.append(x)
                tangents.append(None)  # a constant: its Zero is built only if a rule runs
                nonzero.append(False)
        if True not in nonzero:
            with set_current_trace(self.parent):
                return primitive.bind(*primals, **params)
        if type(self.parent) is EvalTrace and not placement.blocks.value and \
                placement.plain(primals):
            program = _program(primitive, primals, tuple(nonzero), params)
            if program is not None:
                return program.run(self, primals, tangents)
        tangents = [Zero(tangent_aval(aval_of(p))) if t is None else t
                    for p, t in zip(primals, tangents)]
        rule = primitive.rule("jvp")
        with set_current_trace(self.parent):
            primal_out, tangent_out = rule(primals, tangents, **params)
        if primitive.multiple_results:
            return [self.pack(p, t) for p, t in zip(primal_out, tangent_out)]
        return self.pack(primal_out, tangent_out)


# -- eager jvp programs -------------------------------------------------------------------------
_programs = {}
_MAX_PROGRAMS = 4096


def _program(primitive, primals, nonzero, params):
    """The jvp rule of a first-order primitive, staged once per (primitive, input types,
    params, which tangents are nonzero) into checked eager steps, or None where the call
    cannot key a cache (or the rule cannot be staged). In eager code the rule's operations
    then run their impls directly instead of binding each one through the general path."""
    avals = [x._aval if type(x) is Array else aval_of(x) for x in primals]
    if params:
        key = type_cache.key(primitive, avals, params)
        if key is None:
            return None
        key = (key, nonzero)
    else:
        key = (primitive, config.jax_enable_x64, *avals, nonzero)
    try:
        return _programs[key]
    except KeyError:
        pass
    program = None
    if "partial_eval" not in primitive.rules and primitive.effectful is None:
        try:
            program = _Program(primitive, avals, params, nonzero)
        except Exception:  # e.g. a rule reading concrete values: it runs unstaged
            program = None
    if len(_programs) >= _MAX_PROGRAMS:
        _programs.clear()
    _programs[key] = program
    return program


class _Program:
    """A primitive's jvp rule as steps: inputs are the primals then the nonzero tangents;
    results are the outputs then the nonzero output tangents."""

    __slots__ = ("steps", "template", "results", "out_tangents", "multiple")

    def __init__(self, primitive, avals, params, nonzero):
        from funcjax.interpreters.staging import trace_to_jaxpr
        n = len(avals)
        out_tangents = []
        rule = primitive.rule("jvp")

        def fun(*args):
            given = iter(args[n:])
            tangents = [next(given) if nz else Zero(tangent_aval(a))
                        for a, nz in zip(avals, nonzero)]
            out, tangent = rule(list(args[:n]), tangents, **params)
            outs, out_t = (list(out), list(tangent)) if primitive.multiple_results \
                else ([out], [tangent])
            out_tangents.extend(t if type(t) is Zero else None for t in out_t)
            return outs + [t for t in out_t if type(t) is not Zero]
        in_avals = list(avals) + [tangent_aval(a) for a, nz in zip(avals, nonzero) if nz]
        self.steps, self.template, self.results = compile_steps(
            trace_to_jaxpr(fun, in_avals, f"jvp of {primitive.name}"))
        self.out_tangents = out_tangents  # a Zero, or None where the result gives it
        self.multiple = primitive.multiple_results

    def run(self, trace, primals, tangents):
        """The outputs as tracers of ``trace``, whose parent is eager evaluation with no
        ``default_device`` block open (the caller checked)."""
        inputs = primals + [t for t in tangents if t is not None and type(t) is not Zero]
        fast = self.steps.fast
        results = None if fast is None else fast(*inputs)
        if results is None:  # not all Arrays of the staged types: step by step, binding
            context = _context
            context.trace = trace.parent
            try:
                env = run_steps(self.steps, self.template, inputs)
            finally:
                context.trace = trace
            results = [env[r] for r in self.results]
        out_tangents = self.out_tangents
        if not self.multiple:
            t = out_tangents[0]
            return trace.pack(results[0], results[1] if t is None else t)
        n = len(out_tangents)
        given = iter(results[n:])
        return [trace.pack(r, next(given) if t is None else t)
                for r, t in zip(results[:n], out_tangents)]


def jvp_flat(flat_fun, primals, tangents, description="jvp"):
    """Runs ``flat_fun(*primals)`` pushing ``tangents`` forward; returns both output lists.

    ``tangents`` entries may be ``Zero``. Output tangents are ``Zero`` where they do not
    depend on the inputs' tangents.
    """
    with new_trace(JVPTrace, description) as trace:
        ins = [JVPTracer(trace, p, t) for p, t in zip(primals, tangents)]
        outs = flat_fun(*ins)
        pairs = [trace.unpack(o) for o in outs]
    return [p for p, _ in pairs], [t for _, t in pairs]


# -- building rules --------------------------------------------------------------------------
def defjvp(primitive, *partials):
    """Rule from one function per input: ``partial_i(tangent_i, *primals, **params)`` gives
    that input's contribution to the output tangent (None for inputs that have none)."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        total = Zero(tangent_aval(aval_of(out)))
        for partial, t in zip(partials, tangents):
            if partial is not None and type(t) is not Zero:
                total = add_tangents(total, partial(t, *primals, **params))
        return out, total
    primitive.def_jvp(rule)
    return rule


def defjvp2(primitive, *partials):
    """Like ``defjvp`` for derivatives best written with the output: ``partial_i(tangent_i,
    out, *primals, **params)`` (exp, tanh, sqrt: the derivative reuses the value)."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        total = Zero(tangent_aval(aval_of(out)))
        for partial, t in zip(partials, tangents):
            if partial is not None and type(t) is not Zero:
                total = add_tangents(total, partial(t, out, *primals, **params))
        return out, total
    primitive.def_jvp(rule)
    return rule


def defjvp_zero(primitive):
    """For outputs with no derivative (comparisons, integer results, stop_gradient)."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if primitive.multiple_results:
            return out, [Zero(tangent_aval(aval_of(o))) for o in out]
        return out, Zero(tangent_aval(aval_of(out)))
    primitive.def_jvp(rule)
    return rule


def deflinear(primitive):
    """For primitives linear in all inputs: the tangent is the primitive applied to tangents."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            return out, Zero(tangent_aval(aval_of(out)))
        return out, primitive.bind(*map(instantiate_tangent, tangents), **params)
    primitive.def_jvp(rule)
    return rule


def defjvp_composite(primitive, composite):
    """Rule that differentiates ``composite(*primals, **params)``, an implementation of the
    primitive in simpler primitives (cumulative scans: their derivative is easiest that way).
    The primal output still comes from the primitive itself."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        _, (tangent,) = jvp_flat(lambda *xs: [composite(*xs, **params)], primals, tangents,
                                 f"jvp of {primitive.name}")
        return out, tangent
    primitive.def_jvp(rule)
    return rule


@jaxpr_transformation
def jvp_jaxpr(closed, nonzeros, instantiate):
    """The JVP of a closed jaxpr, as a closed jaxpr (for higher-order primitives' rules).

    The result takes ``primals + [tangent for each input with nonzeros[i]]`` and returns
    ``primal_outs + [tangent for each output whose tangent is nonzero]``. An output tangent is
    materialised if ``instantiate`` (a bool or one per output) asks for it. Returns
    ``(jvp_closed_jaxpr, out_nonzeros)``.
    """
    from funcjax.interpreters.eval import eval_closed_jaxpr
    from funcjax.interpreters.staging import trace_to_jaxpr
    n = len(closed.in_avals)
    n_out = len(closed.out_avals)
    inst = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    out_nonzeros = []

    def fun(*args):
        primals, nonzero_tangents = args[:n], iter(args[n:])
        tangents = [next(nonzero_tangents) if nz else Zero(tangent_aval(a))
                    for a, nz in zip(closed.in_avals, nonzeros)]
        outs, out_tangents = jvp_flat(lambda *xs: eval_closed_jaxpr(closed, *xs), primals,
                                      tangents)
        keep = [(type(t) is not Zero or i) and dtypes.is_inexact(a.dtype)
                for t, i, a in zip(out_tangents, inst, closed.out_avals)]
        out_nonzeros.extend(keep)
        return list(outs) + [instantiate_tangent(t) for t, k in zip(out_tangents, keep) if k]

    in_avals = list(closed.in_avals) + [tangent_aval(a) for a, nz in zip(closed.in_avals,
                                                                         nonzeros) if nz]
    return trace_to_jaxpr(fun, in_avals, "jvp of a sub-jaxpr"), out_nonzeros

