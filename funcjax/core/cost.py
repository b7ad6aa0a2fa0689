"""Static cost of a jaxpr: the sum of its primitives' ``cost`` rules.

A cost rule is ``cost_rule(in_avals, out_avals, **params) -> Cost`` and counts floating-point
work (``flops``) and calls of transcendental functions (``transcendentals``) the way XLA's cost
analysis does: one flop per element of an arithmetic result, none for moving data, ``2 M N K``
for a product. Higher-order primitives add up (or, for branches, take the largest of) the cost
of their sub-jaxprs, so the cost of ``grad(f)`` against ``jvp(f)`` can be compared before
running either.
"""

import math


class Cost:
    __slots__ = ("flops", "transcendentals")

    def __init__(self, flops=0, transcendentals=0):
        self.flops, self.transcendentals = flops, transcendentals

    def __add__(self, other):
        return Cost(self.flops + other.flops, self.transcendentals + other.transcendentals)

    def __mul__(self, times):
        return Cost(self.flops * times, self.transcendentals * times)

    def max(self, other):
        return Cost(max(self.flops, other.flops),
                    max(self.transcendentals, other.transcendentals))

    def __repr__(self):
        return f"Cost(flops={self.flops}, transcendentals={self.transcendentals})"


def jaxpr_cost(jaxpr):
    """The total cost of a (closed or open) jaxpr's equations."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = Cost()
    for eqn in jaxpr.eqns:
        rule = eqn.primitive.rule("cost")
        total = total + rule([x.aval for x in eqn.inputs], [v.aval for v in eqn.outputs],
                             **eqn.params)
    return total


def branches_cost(jaxprs):
    """The cost of running one of several branches: the most expensive one."""
    total = Cost()
    for jaxpr in jaxprs:
        total = total.max(jaxpr_cost(jaxpr))
    return total


# -- rules shared by families of primitives ---------------------------------------------------
def free(in_avals, out_avals, **params):
    """Moving, copying or relabelling data: no arithmetic."""
    return Cost()


def elementwise(in_avals, out_avals, **params):
    return Cost(flops=out_avals[0].size)


def transcendental(in_avals, out_avals, **params):
    return Cost(transcendentals=out_avals[0].size)


def per_input_element(in_avals, out_avals, **params):
    """One operation per element read (reductions, scans, scatters of their updates)."""
    return Cost(flops=in_avals[-1].size if in_avals else 0)


def sort_like(in_avals, out_avals, *, dimension, **params):
    n = in_avals[0].shape[dimension] if in_avals[0].shape else 1
    return Cost(flops=in_avals[0].size * max(1, math.ceil(math.log2(max(n, 2)))))


def call(jaxpr_param):
    """For primitives that run the sub-jaxpr held in the parameter ``jaxpr_param`` once."""
    def rule(in_avals, out_avals, **params):
        return jaxpr_cost(params[jaxpr_param])
    return rule
