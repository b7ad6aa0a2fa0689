"""The IR: a typed, first-order program in which every variable is assigned exactly once.

A ``Jaxpr`` lists ``constvars`` (closed-over arrays), ``invars``, equations and ``outvars``.
An ``Eqn`` applies one primitive to variables and literals. Higher-order primitives hold
sub-jaxprs in their params. ``typecheck`` re-derives every type from the primitives' rules.
"""

import numpy as np

from funcjax.core.abstract import same_type


class Var:
    """A variable: identity plus an abstract value. Names are given only when printing."""

    __slots__ = ("aval", "suffix")

    def __init__(self, aval, suffix=""):
        self.aval = aval
        self.suffix = suffix

    def __repr__(self):
        return f"Var({self.aval.str_short()} @{id(self):x})"


class DropVar(Var):
    """An output nobody reads (printed as ``_``)."""


class Literal:
    """A scalar constant written inline in the program."""

    __slots__ = ("val", "aval")

    def __init__(self, val, aval):
        self.val = val
        self.aval = aval

    def __repr__(self):
        return f"Literal({self.val})"


class Eqn:
    __slots__ = ("primitive", "inputs", "params", "outputs", "source_info")

    def __init__(self, primitive, inputs, params, outputs, source_info=None):
        self.primitive = primitive
        self.inputs = list(inputs)
        self.params = dict(params)
        self.outputs = list(outputs)
        self.source_info = source_info

    def replace(self, **changes):
        fields = {s: getattr(self, s) for s in self.__slots__}
        fields.update(changes)
        return Eqn(**fields)

    def __repr__(self):
        from funcjax.core.printing import eqn_to_string
        return eqn_to_string(self)


class Jaxpr:
    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(self, constvars, invars, eqns, outvars):
        self.constvars = list(constvars)
        self.invars = list(invars)
        self.eqns = list(eqns)
        self.outvars = list(outvars)

    in_avals = property(lambda self: [v.aval for v in self.invars])
    out_avals = property(lambda self: [v.aval for v in self.outvars])

    def __str__(self):
        from funcjax.core.printing import jaxpr_to_string
        return jaxpr_to_string(self)

    __repr__ = __str__

    def _repr_html_(self):
        from funcjax.core.printing import jaxpr_to_html
        return jaxpr_to_html(self)


class ClosedJaxpr:
    """A jaxpr with values for its constvars: a complete, callable program."""

    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr, consts):
        if len(consts) != len(jaxpr.constvars):
            raise ValueError(f"ClosedJaxpr: {len(jaxpr.constvars)} constvars but "
                             f"{len(consts)} consts")
        self.jaxpr = jaxpr
        self.consts = list(consts)

    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)
    eqns = property(lambda self: self.jaxpr.eqns)

    def __str__(self):
        return str(self.jaxpr)

    __repr__ = __str__

    def _repr_html_(self):
        return self.jaxpr._repr_html_()


def subjaxprs(eqn):
    """The sub-jaxprs an equation carries in its params (closed or open), in order."""
    return jaxprs_in(eqn.params)


def jaxprs_in(params):
    """The jaxprs (as open ``Jaxpr``s) among the values of a params dict, in order."""
    found = []
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, ClosedJaxpr):
                found.append(item.jaxpr)
            elif isinstance(item, Jaxpr):
                found.append(item)
    return found


def has_effects(eqn):
    """Whether running ``eqn`` has side effects (an io or debug callback in it, or in one of
    its sub-jaxprs): such an equation is kept even when nothing reads its outputs."""
    if eqn.primitive.effectful is not None and eqn.primitive.effectful(eqn.params):
        return True
    return any(has_effects(e) for sub in subjaxprs(eqn) for e in sub.eqns)


class JaxprTypeError(TypeError):
    """A jaxpr is ill-formed or ill-typed."""


def typecheck(jaxpr):
    """Checks scoping (define before use, assign once) and re-derives every equation's type."""
    if isinstance(jaxpr, ClosedJaxpr):
        for var, const in zip(jaxpr.jaxpr.constvars, jaxpr.consts):
            shape = np.shape(const)
            if tuple(shape) != var.aval.shape:
                raise JaxprTypeError(f"const for {var} has shape {shape}, expected "
                                     f"{var.aval.shape}")
        jaxpr = jaxpr.jaxpr
    defined = set()

    def define(var):
        if isinstance(var, DropVar):
            return
        if id(var) in defined:
            raise JaxprTypeError(f"variable {var} assigned twice")
        defined.add(id(var))

    def read(atom, where):
        if isinstance(atom, Literal):
            return atom.aval
        if id(atom) not in defined:
            raise JaxprTypeError(f"{where}: variable {atom} used before it is defined")
        return atom.aval

    for v in jaxpr.constvars + jaxpr.invars:
        define(v)
    for eqn in jaxpr.eqns:
        in_avals = [read(x, eqn.primitive.name) for x in eqn.inputs]
        for sub in subjaxprs(eqn):
            typecheck(sub)
        out_avals = eqn.primitive.abstract_eval_rule(*in_avals, **eqn.params)
        if not eqn.primitive.multiple_results:
            out_avals = [out_avals]
        if len(out_avals) != len(eqn.outputs):
            raise JaxprTypeError(f"{eqn.primitive.name}: {len(eqn.outputs)} outputs but the "
                                 f"rule gives {len(out_avals)}")
        for var, aval in zip(eqn.outputs, out_avals):
            if not same_type(var.aval, aval):
                raise JaxprTypeError(f"{eqn.primitive.name}: output typed {var.aval.str_short()}"
                                     f" but the rule gives {aval.str_short()}")
            define(var)
    for v in jaxpr.outvars:
        read(v, "output")
    return True

