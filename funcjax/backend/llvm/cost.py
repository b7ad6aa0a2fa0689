"""``Compiled.cost_analysis()``: a static estimate of the work in a jaxpr (JAX's keys)."""

import math

from funcjax.backend.llvm.transcendental import PRIMITIVES as TRANSCENDENTAL
from funcjax.core.ir import subjaxprs


def _eqn_flops(eqn):
    name = eqn.primitive.name
    out = eqn.outputs[0].aval
    if name == "dot_general":
        (lc, _), _ = eqn.params["dimension_numbers"]
        return 2 * out.size * math.prod(eqn.inputs[0].aval.shape[d] for d in lc)
    if name.startswith(("reduce_", "arg", "cum")):
        return eqn.inputs[0].aval.size
    if name == "sort":
        n = eqn.inputs[0].aval.shape[eqn.params["dimension"]]
        return eqn.inputs[0].aval.size * max(1, math.ceil(math.log2(max(n, 2))))
    return out.size if eqn.primitive.rules.get("lower") and \
        eqn.primitive.rules["lower"].kind == "fused" else 0


def _walk(jaxpr, totals):
    for eqn in jaxpr.eqns:
        subs = subjaxprs(eqn)
        for sub in subs:
            _walk(sub, totals)
        if subs:
            continue
        totals["flops"] += _eqn_flops(eqn)
        if eqn.primitive in TRANSCENDENTAL:
            totals["transcendentals"] += eqn.outputs[0].aval.size


def cost_of(closed):
    totals = {"flops": 0, "transcendentals": 0}
    _walk(closed.jaxpr, totals)
    totals["bytes accessed"] = sum(a.nbytes for a in closed.in_avals + closed.out_avals)
    return {k: float(v) for k, v in totals.items()}
