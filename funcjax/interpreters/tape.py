"""The tape interpreter: eager reverse mode without staging the whole function.

Under ``grad`` of eager code each differentiated value is a ``TapeTracer`` holding its
concrete primal. An operation on such values runs now, in the parent trace, and is appended
to the *tape* with the primal values it read. ``backward`` walks the tape in reverse and turns
each entry's output cotangents into input cotangents with the entry's *pullback*.

A first-order primitive's pullback is derived once per (primitive, input types, parameters,
differentiated inputs) from its own ``jvp`` and ``transpose`` rules: linearize + transpose of
that single primitive, staged into a small program and pruned to what the cotangents need
(``ct * cos x`` for ``sin``). The tape then costs one dictionary lookup per operation forwards
and a few eager operations backwards, where the staged route (``partial_eval.linearize_flat``
and ``transpose.backward_pass``) runs three interpreters per operation and builds a jaxpr.
Higher-order primitives (control flow, jit, custom rules, checkpoint), effectful ones and
parameters that cannot key a cache take that staged route for their one entry: their
pullback is the transpose of their linearization, with its residuals kept.
"""

import numpy as np

from funcjax.config import config
from funcjax.core import placement, type_cache
from funcjax.core.array import Array
from funcjax.core.ir import ClosedJaxpr, Jaxpr, Literal, has_effects, jaxprs_in
from funcjax.core.trace import Trace, Tracer, _context, current_trace
from funcjax.interpreters.eval import EvalTrace, aval_of
from funcjax.interpreters.jvp import Zero, add_tangents, instantiate_tangent, tangent_aval
from funcjax.interpreters.partial_eval import linearize_flat
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.interpreters.steps import compile_steps, run_results
from funcjax.interpreters.straight_line import generate
from funcjax.interpreters.transpose import UndefinedPrimal, backward_pass


def applies():
    """Whether the tape handles reverse mode here: in eager code only (under jit, vmap or an
    outer derivative, ``grad`` stages a linear jaxpr, which those transformations need)."""
    trace = _context.trace
    return trace is None or type(trace) is EvalTrace


class TapeTracer(Tracer):
    """A differentiated value: its concrete primal, and its place on the tape (itself).
    ``_aval`` is the primal's type, read as an eager Array's is (funcjax.numpy's fast paths
    treat both alike)."""

    __slots__ = ("primal", "_aval")

    def __init__(self, trace, primal, aval):
        self._trace = trace
        self.primal = primal
        self._aval = aval

    @property
    def aval(self):
        return self._aval

    def concrete_value(self):
        # Python control flow on primal values keeps working under grad.
        return np.asarray(self.primal)


class TapeTrace(Trace):
    forwards_constants = True

    def __init__(self, parent, description="grad"):
        super().__init__(parent, description)
        # (pullback, differentiated input tracers, output tracers); a pullback is a function
        # of the output cotangents, or a cached program with the primals it runs on.
        self.tape = []
        self.direct = type(parent) is EvalTrace  # impls may run here without binding

    def process_primitive(self, primitive, args, params):
        primals, mask, own, arrays = [], [], [], True
        for x in args:
            if type(x) is TapeTracer and x._trace is self:
                own.append(x)
                x = x.primal
                mask.append(True)
            else:
                if isinstance(x, Tracer):
                    self.own(x)  # raises for a tracer whose transformation has finished
                mask.append(False)
            primals.append(x)
            arrays = arrays and type(x) is Array
        if own and arrays and self.direct and not placement.blocks.value:
            # A warm program whose forward runs here: no binding, no change of trace.
            key = _key(primitive, [p._aval for p in primals], params, mask)
            program = None if key is None else _programs.get(key)
            if program is not None and program.forward is not None:
                out = program.forward(*primals)
                tracer = TapeTracer(self, out, out._aval) if program.float_out else out
                self.tape.append(((program, primals), own, (tracer,)))
                return tracer
        context = _context
        context.trace = self.parent
        try:
            if not own:
                return primitive.bind(*primals, **params)
            program = _cached_program(primitive, primals, params, mask, arrays)
            if program is None:
                outs, pullback = _staged_pullback(primitive, primals, params, mask)
            else:  # (once warm, a program with a ``forward`` runs above)
                pullback = program, primals
                outs = primitive.bind(*primals, **params)
                if not primitive.multiple_results:
                    outs = (outs,)
        finally:
            context.trace = self
        tracers = []
        for o in outs:
            aval = aval_of(o)
            tracers.append(TapeTracer(self, o, aval) if aval.dtype.kind in "fc" else o)
        self.tape.append((pullback, own, tracers))
        return tracers if primitive.multiple_results else tracers[0]


def linearize(flat_fun, primals, description="grad"):
    """Runs ``flat_fun(*primals)`` recording a tape. Returns ``(outs, backward)`` where
    ``backward(cts)`` maps one cotangent (or None) per output to one per primal
    (instantiated; float0 zeros for integer primals)."""
    context = _context
    trace = TapeTrace(context.trace or current_trace(), description)
    ins = []
    for p in primals:
        aval = aval_of(p)
        ins.append(TapeTracer(trace, p, aval) if aval.dtype.kind in "fc" else p)
    context.trace = trace
    try:
        outs = flat_fun(*ins)
    finally:
        context.trace = trace.parent
        trace.alive = False
    primal_outs = [o.primal if type(o) is TapeTracer and o._trace is trace else o for o in outs]

    def backward(cts_out):
        cts = _backward(trace, outs, cts_out)
        return [instantiate_tangent(cts.get(id(x), Zero(tangent_aval(aval_of(p)))))
                for x, p in zip(ins, primals)]
    return primal_outs, backward


def _backward(trace, outs, cts_out):
    cts = {}  # id(tracer) -> cotangent; the tape keeps every tracer alive meanwhile

    def add(x, ct):
        if ct is not None and type(ct) is not Zero:
            key = id(x)
            cts[key] = add_tangents(cts[key], ct) if key in cts else ct

    for o, ct in zip(outs, cts_out):
        if type(o) is TapeTracer and o._trace is trace:
            add(o, ct)
    pop = cts.pop
    for pullback, ins, tracers in reversed(trace.tape):
        if len(tracers) == 1:
            c = pop(id(tracers[0]), None)
            if c is None:
                continue
            ct = [c]
        else:
            ct = [pop(id(t), None) for t in tracers]
            if all(c is None for c in ct):
                continue
        cts_in = pullback[0].run(pullback[1], ct) if type(pullback) is tuple else pullback(ct)
        for x, c in zip(ins, cts_in):
            add(x, c)
    return cts


# -- pullbacks ---------------------------------------------------------------------------------
_programs = {}
_MAX_PROGRAMS = 4096


def _cached_program(primitive, primals, params, mask, arrays):
    """The pullback program of a first-order primitive (built once per key), or None."""
    avals = [x._aval for x in primals] if arrays else [aval_of(x) for x in primals]
    key = _key(primitive, avals, params, mask)
    if key is None:
        return None
    program = _programs.get(key)
    if program is None:
        if "partial_eval" in primitive.rules or primitive.effectful is not None:
            return None
        if len(_programs) >= _MAX_PROGRAMS:
            _programs.clear()
        program = _programs[key] = _Program(primitive, avals, params, mask)
    return program


def _key(primitive, avals, params, mask):
    """The pullback cache's key, or None where params cannot key it."""
    if params:
        key = type_cache.key(primitive, avals, params)
        return None if key is None else (key, *mask)
    return (primitive, config.jax_enable_x64, *avals, *mask)


def _out_list(primitive, out):
    return list(out) if primitive.multiple_results else [out]


def _linear_pieces(primitive, primals, params, mask):
    """Linearizes ``primitive`` in the inputs of ``mask``: ``(outs, linear, out_nonzero)``."""
    diff = [i for i, m in enumerate(mask) if m]

    def f(*d):
        full = list(primals)
        for i, v in zip(diff, d):
            full[i] = v
        return _out_list(primitive, primitive.bind(*full, **params))
    return linearize_flat(f, [primals[i] for i in diff], f"grad of {primitive.name}")


def _transpose(linear, out_nonzero, cts):
    """Cotangents of the linearized inputs (Zero where none flows) for output ``cts``."""
    given = [c for c, nz in zip(cts, out_nonzero) if nz]
    if not any(c is not None for c in given):
        return [Zero(v.aval) for v in linear.jaxpr.invars]
    given = [Zero(v.aval) if c is None else c for c, v in zip(given, linear.jaxpr.outvars)]
    return backward_pass(linear.jaxpr, linear.consts,
                         [UndefinedPrimal(v.aval) for v in linear.jaxpr.invars], given)


def _staged_pullback(primitive, primals, params, mask):
    """Outputs and pullback of one primitive through the staged route (residuals kept)."""
    split = _split_cached(primitive, primals, params, mask)
    if split is not None:
        return split.forward(primals)
    outs, linear, out_nonzero = _linear_pieces(primitive, primals, params, mask)
    return outs, lambda cts: _transpose(linear, out_nonzero, cts)


_splits = {}
_MAX_SPLITS = 256  # entries hold their sub-jaxprs alive (that is what keeps their ids valid)


def _split_cached(primitive, primals, params, mask):
    """The staged route of a higher-order primitive, split once per (primitive, input types,
    plain params, sub-jaxprs by identity, differentiated inputs) into a forward program
    (outputs and residuals) and a backward one, or None where the call cannot key a cache
    (functions or arrays in params, effects) or staging it abstractly fails.

    A loop or branch body staged once per call site (``ops/control_flow/eager.py``) is the same
    jaxpr object on every call, so a repeated eager ``grad`` skips the jvp, partial-eval and
    transpose rules and reuses the compiled loop programs of the forward and backward jaxprs.
    A body staged anew (a changed closure value) is a new jaxpr and a new key; a key is split
    on its second sighting, so one-off bodies cost nothing extra."""
    plain, held = {}, []
    for name, value in params.items():
        items = value if type(value) is tuple else (value,)
        if items and all(isinstance(v, (ClosedJaxpr, Jaxpr)) for v in items):
            held.append((name, tuple(map(id, items)), value))
        else:
            plain[name] = value
    avals = [aval_of(x) for x in primals]
    key = type_cache.key(primitive, avals, plain)
    if key is None or not held:
        return None
    key = (key, tuple(h[:2] for h in held), *mask)
    entry = _splits.get(key)
    if entry is None:  # first sighting: a body staged anew per call (no memo) never comes back
        if len(_splits) >= _MAX_SPLITS:
            _splits.clear()
        _splits[key] = None, None  # (held is not needed: a reused id only builds a split early)
        return None
    if entry[1] is None:
        if (primitive.effectful is not None and primitive.effectful(params)) or any(
                has_effects(e) for sub in jaxprs_in(params) for e in sub.eqns):
            split = None
        else:
            try:
                split = _Split(primitive, avals, params, mask)
            except Exception:  # e.g. a rule that needs concrete values: the route above
                split = None
        entry = _splits[key] = split, held
    return entry[0]


class _Split:
    """One primitive's linearize + transpose, staged: ``forward`` maps the primals to the
    outputs and residuals, ``backward`` the residuals and output cotangents to the
    differentiated inputs' cotangents."""

    __slots__ = ("fwd", "bwd", "n_out", "ct_avals", "nonzero")  # fwd, bwd: compiled steps

    def __init__(self, primitive, avals, params, mask):
        pieces = []

        def forward(*primals):
            outs, linear, out_nonzero = _linear_pieces(primitive, list(primals), params, mask)
            pieces.extend((linear.jaxpr, out_nonzero))
            return [*outs, *linear.consts]
        name = primitive.name
        fwd = _fold_constants(trace_to_jaxpr(forward, avals, f"grad of {name}"))
        linear, out_nonzero = pieces
        self.n_out = len(fwd.jaxpr.outvars) - len(linear.constvars)
        self.ct_avals = [tangent_aval(a) for a in fwd.out_avals[:self.n_out]]
        self.fwd = compile_steps(fwd)
        n_res = len(linear.constvars)
        nonzero = []

        def backward(*args):
            in_cts = _transpose(ClosedJaxpr(linear, list(args[:n_res])), out_nonzero,
                                list(args[n_res:]))
            nonzero.extend(type(c) is not Zero for c in in_cts)
            return [c for c in in_cts if type(c) is not Zero]
        self.bwd = compile_steps(trace_to_jaxpr(
            backward, [v.aval for v in linear.constvars] + self.ct_avals, f"pullback of {name}"))
        self.nonzero = nonzero

    def forward(self, primals):
        res = run_results(*self.fwd, primals)
        residuals = res[self.n_out:]
        return res[:self.n_out], lambda cts: self.backward(residuals, cts)

    def backward(self, residuals, cts):
        cts = [instantiate_tangent(Zero(a)) if c is None else c
               for c, a in zip(cts, self.ct_avals)]
        out = iter(run_results(*self.bwd, [*residuals, *cts]))
        return [next(out) if nz else None for nz in self.nonzero]


class _Program:
    """A primitive's pullback as a list of eager steps over slots: inputs are the primals then
    the output cotangents (a missing one is zero); results are the differentiated inputs'
    cotangents (None where no cotangent flows)."""

    __slots__ = ("steps", "template", "slots", "results", "out_avals", "forward", "float_out")

    def __init__(self, primitive, avals, params, mask):
        n = len(avals)
        out_avals = _out_list(primitive, type_cache.abstract_eval(primitive, avals, params))
        self.out_avals = [tangent_aval(a) for a in out_avals]
        # The forward step as straight-line code of the primals (Arrays of these types, as the
        # key says), for a primitive with one result and an impl; else it binds.
        self.forward, self.float_out = None, False
        if not primitive.multiple_results and primitive.impl is not None and \
                primitive.effectful is None:
            self._stage_forward(primitive, avals, params)
            self.float_out = out_avals[0].dtype.kind in "fc"
        nonzero = []

        def fun(*args):
            primals, cts = list(args[:n]), list(args[n:])
            _, linear, out_nonzero = _linear_pieces(primitive, primals, params, mask)
            in_cts = _transpose(linear, out_nonzero, cts)
            nonzero.extend(type(c) is not Zero for c in in_cts)
            return [c for c in in_cts if type(c) is not Zero]
        closed = trace_to_jaxpr(fun, list(avals) + self.out_avals,
                                f"pullback of {primitive.name}")
        self._compile(closed, nonzero)

    def _stage_forward(self, primitive, avals, params):
        try:
            one = trace_to_jaxpr(lambda *a: [primitive.bind(*a, **params)], list(avals),
                                 f"{primitive.name}").jaxpr
        except Exception:  # noqa: BLE001 - then the forward step binds
            return
        if len(one.eqns) == 1 and one.eqns[0].primitive is primitive and \
                one.eqns[0].inputs == one.invars and not has_effects(one.eqns[0]):
            self.forward = generate(one.invars, one.outvars, one.eqns,
                                    {one.eqns[0]: one.invars}, {}, single=True)

    def _compile(self, closed, nonzero):
        self.steps, self.template, self.slots = compile_steps(closed)
        results = iter(range(len(self.slots)))
        self.results = [next(results) if nz else None for nz in nonzero]  # positions

    def run(self, primals, cts):
        if any(c is None for c in cts):
            cts = [instantiate_tangent(Zero(a)) if c is None else c
                   for c, a in zip(cts, self.out_avals)]
        outs = run_results(self.steps, self.template, self.slots, [*primals, *cts])
        return [None if r is None else outs[r] for r in self.results]


def _fold_constants(closed):
    """``closed`` with its input-free equations (constants broadcast for a loop body) computed
    now, once, and turned into constants."""
    jaxpr = closed.jaxpr
    known = dict(zip(map(id, jaxpr.constvars), closed.consts))
    constvars, consts, eqns = list(jaxpr.constvars), list(closed.consts), []
    for eqn in jaxpr.eqns:
        if has_effects(eqn) or not all(isinstance(a, Literal) or id(a) in known
                                       for a in eqn.inputs):
            eqns.append(eqn)
            continue
        outs = eqn.primitive.bind(*[a.val if isinstance(a, Literal) else known[id(a)]
                                    for a in eqn.inputs], **eqn.params)
        for v, o in zip(eqn.outputs, outs if eqn.primitive.multiple_results else (outs,)):
            known[id(v)] = o
            constvars.append(v)
            consts.append(o)
    return ClosedJaxpr(Jaxpr(constvars, jaxpr.invars, eqns, jaxpr.outvars), consts)
