"""Straight-line eager code: a small staged jaxpr, run many times on concrete arrays (an eager
program of ``funcjax.numpy``, a jvp rule, a pullback), as one generated Python function.

Each equation becomes one line calling its impl on numpy values (with its params as literal
keyword arguments), followed by the check eager binding makes of an impl's result
(``eval.as_value``: an ndarray of the type rule's dtype and shape); the whole body runs in one
quiet numpy context (``eval.run_quiet``'s logic, inline); only results become Arrays. So no
interpreter loop, no per-equation Array, no per-equation context switch. The type rules are
not re-run: the caller guarantees the input types the jaxpr was staged (and type-checked)
with, either by its cache key or by ``check_inputs``, which makes the function return None
unless every input is exactly an ``Array`` of its staged type.
"""

import numpy as np

from funcjax.core.abstract import ShapedArray
from funcjax.core.array import DEFAULT_DEVICE, Array
from funcjax.core.ir import Literal
from funcjax.interpreters import eval as eval_interpreter

# One ShapedArray object per type for the types written into generated code: results of one
# function then pass the input checks of the next one by identity (``ShapedArray.__eq__``
# runs in Python).
_canonical = {}


def canonical(aval):
    """The one ShapedArray object of ``aval``'s type used by generated code (past 65,536
    types, ``aval`` itself: identity is only a shortcut)."""
    found = _canonical.get(aval)
    if found is None:
        found = aval if len(_canonical) >= 1 << 16 else _canonical.setdefault(aval, aval)
    return found


def generate(invars, outvars, plan, reads, fixed, *, returned=None, expression=None,
             direct=None, quiet=True, check_inputs=False, single=False):
    """A function of the input Arrays giving the outputs: the single Array if ``single``,
    else a list (where an output is an input, that input object; a fixed value, its entry in
    ``returned`` (default: ``fixed``)).

    ``plan``: the equations to run, in order; ``reads[eqn]``: the atoms each one reads (fixed
    ones included); ``fixed``: atom -> numpy value, the same on every call. ``expression(eqn,
    operand, constant)`` may give numpy source for a one-input equation (a view); its result
    is then taken as is. ``direct(eqn, operands, constant)`` may give source computing an
    equation as its impl would, checked as the impl's result is. ``quiet``: run the body in
    the quiet numpy context."""
    env = {"Array": Array, "new": object.__new__, "ndarray": np.ndarray,
           "as_value": eval_interpreter.as_value, "run_quiet": eval_interpreter.run_quiet,
           "QUIET": eval_interpreter._quiet, "INSIDE": eval_interpreter._INSIDE,
           "DEVICE": DEFAULT_DEVICE}

    def constant(value):
        name = f"c{len(env)}"
        env[name] = canonical(value) if type(value) is ShapedArray else value
        return name
    names = {v: f"v{i}" for i, v in enumerate(invars)}
    names.update((atom, constant(value)) for atom, value in fixed.items())
    body, viewed = [], set()  # names whose values are views made here (no private copy)
    for k, eqn in enumerate(plan):
        ins = [names[a] for a in reads[eqn]]
        outs = [f"t{k}_{j}" for j in range(len(eqn.outputs))]
        names.update(zip(eqn.outputs, outs))
        source = None if expression is None or len(ins) != 1 else \
            expression(eqn, ins[0], constant)
        if source is not None:
            body.append(f"{outs[0]} = {source}")
            viewed.add(outs[0])
            continue
        call = None if direct is None else direct(eqn, ins, constant)
        if call is None:
            args = ins + [f"{p}={constant(v)}" for p, v in eqn.params.items()]
            call = f"{constant(eqn.primitive.impl)}({', '.join(args)})"
        targets = "".join(f"{o}, " for o in outs) if eqn.primitive.multiple_results else outs[0]
        body.append(f"{targets} = {call}")
        for name, var in zip(outs, eqn.outputs):
            aval = var.aval
            body.append(f"if type({name}) is not ndarray or {name}.dtype is not "
                        f"{constant(aval.dtype)} or {name}.shape != {constant(aval.shape)}: "
                        f"{name} = as_value({name}, {constant(aval)})")
    arrays = [f"a{i}" for i in range(len(invars))]
    lines = [f"def run({', '.join(arrays)}):"]
    if check_inputs:
        for a, v in zip(arrays, invars):
            staged = constant(v.aval)
            lines.append(f"    if type({a}) is not Array or ({a}._aval is not {staged} and "
                         f"{a}._aval != {staged}) or type({a}._value) is not ndarray: "
                         "return None")
    computed = [v for v in dict.fromkeys(outvars) if v not in fixed and v not in invars
                and type(v) is not Literal]
    results = [names[v] for v in computed]
    if computed:
        values = ", ".join(f"{a}._value" for a in arrays)
        inner = [f"def body({', '.join(names[v] for v in invars)}):", *(
            f"    {line}" for line in body), f"    return {', '.join(results)},"]
        if quiet:  # (``run_quiet``, inline)
            lines += ["    context = QUIET.context",
                      "    if context is None or INSIDE.get():",
                      f"        {', '.join(results)}, = run_quiet(body, {values})",
                      "    else:",
                      f"        {', '.join(results)}, = context.run(body, {values})"]
        else:
            lines.append(f"    {', '.join(results)}, = body({values})")
        for name, var in zip(results, computed):
            # A fresh buffer is wrapped in a private view, as ``wrap_fresh`` does (donation
            # recognises that shape); a view made here already is one.
            lines += ["    r = new(Array)",
                      f"    r._value = {name}{'' if name in viewed else '.view()'}",
                      f"    r._aval = {constant(var.aval)}", "    r._device = DEVICE",
                      f"    {name} = r"]
    else:
        inner = []
    returned = fixed if returned is None else returned
    outs = [f"a{invars.index(v)}" if v in invars else
            names[v] if v not in fixed else constant(returned[v]) for v in outvars]
    lines.append(f"    return {outs[0]}" if single else f"    return [{', '.join(outs)}]")
    source = "\n".join(inner + lines)
    exec(compile(source, "<straight-line eager code>", "exec"), env)  # noqa: S102 - ours
    run = env["run"]
    run.source = source
    return run
