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
from funcjax.interpreters.memo import jaxpr_transformation


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
    # Linear variables, as the UndefinedPrimal a rule sees. Inputs keep the caller's: a loop
    # body's carry has the type of the carry out there (it may be strong where the jaxpr's
    # input is weak), so its cotangent gets no weak-type conversion.
    linear = {}
    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    for var, val in zip(jaxpr.invars, args):
        if is_undefined_primal(val):
            linear[var] = val
        else:
            env[var] = val

    def read(atom):
        return atom.val if isinstance(atom, Literal) else env[atom]

    def is_linear(atom):
        return not isinstance(atom, Literal) and atom in linear

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(map(is_linear, eqn.inputs)):
            linear.update((v, UndefinedPrimal(v.aval)) for v in eqn.outputs)
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
        args_in = [linear[a] if is_linear(a) else read(a) for a in eqn.inputs]
        rule = eqn.primitive.rule("transpose")
        cts_in = rule(ct if eqn.primitive.multiple_results else ct[0], *args_in, **eqn.params)
        for atom, c in zip(eqn.inputs, cts_in):
            add_ct(atom, c)
    return [cts.get(v, Zero(a.aval)) if is_undefined_primal(a) else None
            for v, a in zip(jaxpr.invars, args)]


@jaxpr_transformation
def transpose_jaxpr(closed, linear, ct_nonzeros):
    """The transpose of a closed jaxpr, staged as a closed jaxpr (for higher-order primitives'
    transpose rules, which bind their primitive again with it).

    ``linear[i]`` says whether input ``i`` is one the jaxpr is linear in; ``ct_nonzeros[j]``
    whether output ``j`` receives a cotangent (the others are symbolic zeros). The result takes
    ``[non-linear inputs] + [nonzero output cotangents]`` and returns the cotangents of the
    linear inputs that are not symbolically zero. Returns ``(transposed, in_ct_nonzeros)``,
    with one flag per linear input.
    """
    from funcjax.interpreters.staging import trace_to_jaxpr
    in_avals, out_avals = closed.in_avals, closed.out_avals
    in_ct_nonzeros = []

    def fun(*args):
        split = len(args) - sum(ct_nonzeros)
        defined, cts = iter(args[:split]), iter(args[split:])
        primals = [UndefinedPrimal(a) if lin else next(defined)
                   for a, lin in zip(in_avals, linear)]
        cts_out = [next(cts) if nz else Zero(a) for a, nz in zip(out_avals, ct_nonzeros)]
        cts_in = [c for c, lin in zip(backward_pass(closed.jaxpr, closed.consts, primals,
                                                    cts_out), linear) if lin]
        in_ct_nonzeros.extend(type(c) is not Zero for c in cts_in)
        return [c for c in cts_in if type(c) is not Zero]

    avals = [a for a, lin in zip(in_avals, linear) if not lin]
    avals += [a for a, nz in zip(out_avals, ct_nonzeros) if nz]
    return trace_to_jaxpr(fun, avals, "transpose of a sub-jaxpr"), in_ct_nonzeros


def not_linear(primitive, what):
    """The error for transposing a primitive in an input it is not linear in."""
    return TypeError(
        f"cannot transpose '{primitive}' with respect to {what}: the computation is not linear "
        "in that value. linear_transpose only accepts functions that are linear in their "
        "inputs (this is a bug if it happened inside grad or vjp; please report it).")
