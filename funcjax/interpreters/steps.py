"""A small jaxpr as checked eager steps, for programs staged once and run many times on
concrete arrays (the tape's pullbacks, eager jvp rules).

``compile_steps`` turns a closed jaxpr into a list of steps over slots. ``run_steps`` runs
them: in eager code, a step whose inputs are Arrays of exactly the types the equation was
staged (and type-checked) with runs its impl directly (``eval.apply_checked``); any other
step binds its primitive as usual, so every check still runs there. ``run_results`` first
tries the same equations as one generated function (``steps.fast``, from
``straight_line.generate``), which runs them all at once when every input is an Array of its
staged type, and returns the results.
"""

from funcjax.core.array import Array, to_numpy
from funcjax.core.ir import Literal, has_effects
from funcjax.interpreters.eval import apply_checked, runs_now
from funcjax.interpreters.straight_line import generate


def compile_steps(closed):
    """A closed jaxpr as eager steps over slots: ``(steps, template, result slots)``; the
    template holds the inputs' slots first (to fill), then constants and literals. Dead
    equations (a primal output, unused residuals) are dropped."""
    jaxpr = closed.jaxpr
    needed = {id(v) for v in jaxpr.outvars if not isinstance(v, Literal)}
    eqns = []
    for eqn in reversed(jaxpr.eqns):
        if has_effects(eqn) or any(id(v) in needed for v in eqn.outputs):
            eqns.append(eqn)
            needed.update(id(a) for a in eqn.inputs if not isinstance(a, Literal))
    slot = {}
    template = []

    def place(value, var=None):
        if var is not None:
            slot[id(var)] = len(template)
        template.append(value)
        return len(template) - 1

    for v in jaxpr.invars:
        place(None, v)
    for v, c in zip(jaxpr.constvars, closed.consts):
        place(c, v)

    def ref(atom):
        return place(atom.val) if isinstance(atom, Literal) else slot[id(atom)]
    steps = []
    for eqn in reversed(eqns):
        ins = [ref(a) for a in eqn.inputs]
        outs = [place(None, v) for v in eqn.outputs]
        # Equations run their impl directly when their inputs have the types they were
        # staged (and type-checked) with.
        out_avals = [v.aval for v in eqn.outputs]
        checked = None if eqn.primitive.impl is None else (
            [a.aval for a in eqn.inputs],
            out_avals if eqn.primitive.multiple_results else out_avals[0])
        steps.append((eqn.primitive, ins, eqn.params, outs, checked))
    steps = _Steps(steps)
    steps.fast = _straight_line(closed, eqns[::-1])
    return steps, template, [ref(v) for v in jaxpr.outvars]


class _Steps(list):
    """Steps, plus ``fast``: the same equations as one straight-line function giving the
    results (``straight_line.generate``; None if it cannot run them), which returns None
    unless every input is an Array of its staged type."""

    __slots__ = ("fast",)


def _straight_line(closed, eqns):
    """``straight_line.generate`` for these equations, or None if one has effects or no
    impl, or a constant has no numpy value (those bind, step by step)."""
    if any(has_effects(e) or e.primitive.impl is None for e in eqns):
        return None
    jaxpr = closed.jaxpr
    returned = dict(zip(jaxpr.constvars, closed.consts))
    returned.update((v, v.val) for v in jaxpr.outvars if type(v) is Literal)
    try:
        fixed = {v: to_numpy(c) for v, c in returned.items()}
        fixed.update((a, to_numpy(a.val)) for e in eqns for a in e.inputs if type(a) is Literal)
        return generate(jaxpr.invars, jaxpr.outvars, eqns, {e: e.inputs for e in eqns}, fixed,
                        returned=returned, check_inputs=True)
    except Exception:  # noqa: BLE001 - e.g. a constant that is a tracer
        return None


def run_steps(steps, template, inputs):
    """Runs compiled steps on ``inputs``; returns the filled slots."""
    env = list(template)
    env[:len(inputs)] = inputs
    direct = runs_now()
    for primitive, ins, params, outs, checked in steps:
        out = _direct(env, ins, params, primitive, checked) if direct and checked else None
        if out is None:
            out = primitive.bind(*[env[i] for i in ins], **params)
        if primitive.multiple_results:
            for i, o in zip(outs, out):
                env[i] = o
        else:
            env[outs[0]] = out
    return env


def run_results(steps, template, results, inputs):
    """The results of compiled steps on ``inputs``: at once by ``steps.fast`` in eager code
    when every input is an Array of its staged type, else step by step (``run_steps``)."""
    fast = steps.fast
    if fast is not None and runs_now():
        outs = fast(*inputs)
        if outs is not None:
            return outs
    env = run_steps(steps, template, inputs)
    return [env[r] for r in results]


def _direct(env, ins, params, primitive, checked):
    """The step's impl on its inputs' values if they are Arrays of the staged types, else None."""
    values = []
    for i, aval in zip(ins, checked[0]):
        a = env[i]
        if type(a) is not Array or (a._aval is not aval and a._aval != aval):
            return None
        values.append(a._value)
    return apply_checked(primitive, values, params, checked[1])
