"""The transpose interpreter: runs a linear jaxpr backwards, turning output cotangents into
input cotangents (the second half of reverse mode, after ``linearize``).

The inputs the jaxpr is linear in are marked ``UndefinedPrimal(aval)``; the others (residuals)
have values. Equations that read no linear value are evaluated forwards first: they are
recomputations (checkpoint) or plain residual arithmetic. The remaining, linear equations are
visited in reverse order. Each one's output cotangents go to its primitive's ``transpose`` rule,
which returns one cotangent per input:

    transpose_rule(ct, *args, **params) -> [cotangent or None for each arg]

``args`` holds ``UndefinedPrimal`` for the linear inputs and values for the others; rules
return ``None`` for the non-linear inputs. ``ct`` is a list for multiple-result primitives and
its entries may be ``Zero``; a single-result primitive whose cotangent is zero is skipped, so
its rule never sees ``Zero``. Cotangents of a variable read several times are summed, and
symbolic zeros stay symbolic until an operation needs an array.
"""

from funcjax.core.ir import Literal
from funcjax.interpreters.jvp import Zero, add_tangents


class UndefinedPrimal:
    """Marks an input a jaxpr is linear in: its value is unknown, only its type is."""

    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined_primal(x):
    return type(x) is UndefinedPrimal


def backward_pass(jaxpr, consts, args, cts_out):
    """Input cotangents of a linear ``jaxpr``: one per ``args`` entry that is undefined, Zero
    where nothing flows back, None for defined (non-linear) args."""
    env = {}
    linear = set()
    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    for var, val in zip(jaxpr.invars, args):
        if is_undefined_primal(val):
            linear.add(var)
        else:
            env[var] = val

    def read(atom):
        return atom.val if isinstance(atom, Literal) else env[atom]

    def is_linear(atom):
        return not isinstance(atom, Literal) and atom in linear

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(map(is_linear, eqn.inputs)):
            linear.update(eqn.outputs)
            linear_eqns.append(eqn)
            continue
        outs = eqn.primitive.bind(*map(read, eqn.inputs), **eqn.params)
        for var, val in zip(eqn.outputs, outs if eqn.primitive.multiple_results else [outs]):
            env[var] = val

    cts = {}

    def add_ct(atom, ct):
        if is_linear(atom) and ct is not None and type(ct) is not Zero:
            cts[atom] = add_tangents(cts[atom], ct) if atom in cts else ct

    for var, ct in zip(jaxpr.outvars, cts_out):
        add_ct(var, ct)
    for eqn in reversed(linear_eqns):
        ct = [cts.pop(v, Zero(v.aval)) for v in eqn.outputs]
        if all(type(c) is Zero for c in ct):
            continue
        args_in = [UndefinedPrimal(a.aval) if is_linear(a) else read(a) for a in eqn.inputs]
        rule = eqn.primitive.rule("transpose")
        cts_in = rule(ct if eqn.primitive.multiple_results else ct[0], *args_in, **eqn.params)
        for atom, c in zip(eqn.inputs, cts_in):
            add_ct(atom, c)
    return [cts.get(v, Zero(v.aval)) if is_undefined_primal(a) else None
            for v, a in zip(jaxpr.invars, args)]



def not_linear(primitive, what):
    """The error for transposing a primitive in an input it is not linear in."""
    return TypeError(
        f"cannot transpose '{primitive}' with respect to {what}: the computation is not linear "
        "in that value. linear_transpose only accepts functions that are linear in their "
        "inputs (this is a bug if it happened inside grad or vjp; please report it).")
