"""Static cost of a jaxpr: the sum of its primitives' ``cost`` rules.

A cost rule is ``cost_rule(in_avals, out_avals, **params) -> Cost`` and counts, the way XLA's
cost analysis does:

- ``flops``: floating-point work, one per element of an arithmetic result, none for moving
  data, ``2 M N K`` for a product;
- ``transcendentals``: calls of transcendental functions (exp, log, sin, tanh, ...);
- ``bytes_read`` / ``bytes_written``: memory traffic of the operation run on its own (no
  fusion). A first-order rule may leave them out: the interpreter then counts every operand
  read once and every result written once, which is what an unfused operation does.

Higher-order primitives add up the cost of their sub-jaxprs (a scan's body times its length;
a ``while`` loop's body once, since its trip count is only known when it runs: the result says
so in ``unknown_trip_counts``) or take the largest branch, so the cost of ``grad(f)`` against
``jvp(f)`` can be compared before running either.

The schema of ``Cost.as_dict()`` (and so of ``Compiled.cost_analysis()``) is stable:
``flops``, ``transcendentals``, ``bytes read``, ``bytes written``, ``bytes accessed`` (read plus
written, XLA's key) and ``unknown trip counts``, all numbers.
"""

import math

_FIELDS = ("flops", "transcendentals", "bytes_read", "bytes_written", "unknown_trip_counts")


class Cost:
    """Counts of work and memory traffic; ``None`` bytes mean "the default for one op"."""

    __slots__ = _FIELDS

    def __init__(self, flops=0, transcendentals=0, bytes_read=None, bytes_written=None,
                 unknown_trip_counts=0):
        self.flops, self.transcendentals = flops, transcendentals
        self.bytes_read, self.bytes_written = bytes_read, bytes_written
        self.unknown_trip_counts = unknown_trip_counts

    def _values(self):
        return [getattr(self, f) or 0 for f in _FIELDS]

    def __add__(self, other):
        return Cost(*[a + b for a, b in zip(self._values(), other._values())])

    def __mul__(self, times):
        flops, trans, read, written, unknown = self._values()
        return Cost(flops * times, trans * times, read * times, written * times, unknown)

    def max(self, other):
        return Cost(*[max(a, b) for a, b in zip(self._values(), other._values())])

    @property
    def bytes_accessed(self):
        return (self.bytes_read or 0) + (self.bytes_written or 0)

    def as_dict(self):
        return {"flops": float(self.flops), "transcendentals": float(self.transcendentals),
                "bytes read": float(self.bytes_read or 0),
                "bytes written": float(self.bytes_written or 0),
                "bytes accessed": float(self.bytes_accessed),
                "unknown trip counts": float(self.unknown_trip_counts)}

    def __eq__(self, other):
        return isinstance(other, Cost) and self._values() == other._values()

    def __repr__(self):
        return ("Cost(" + ", ".join(f"{f}={v}" for f, v in zip(_FIELDS, self._values()))
                + ")")


def eqn_cost(eqn):
    """One equation's cost, with the default memory traffic filled in."""
    in_avals = [x.aval for x in eqn.inputs]
    out_avals = [v.aval for v in eqn.outputs]
    c = eqn.primitive.rule("cost")(in_avals, out_avals, **eqn.params)
    read = c.bytes_read if c.bytes_read is not None else sum(a.nbytes for a in in_avals)
    written = (c.bytes_written if c.bytes_written is not None
               else sum(a.nbytes for a in out_avals))
    return Cost(c.flops, c.transcendentals, read, written, c.unknown_trip_counts)


def jaxpr_cost(jaxpr):
    """The total cost of a (closed or open) jaxpr's equations."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = Cost(bytes_read=0, bytes_written=0)
    for eqn in jaxpr.eqns:
        total = total + eqn_cost(eqn)
    return total


def branches_cost(jaxprs):
    """The cost of running one of several branches: the most expensive one."""
    total = Cost(bytes_read=0, bytes_written=0)
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
