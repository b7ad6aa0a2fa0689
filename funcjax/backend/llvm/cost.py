"""``Compiled.cost_analysis()``: the primitives' cost rules summed over the jaxpr (the schema of
``funcjax.core.cost.Cost.as_dict``), plus the bytes the compiled program reads and writes at
its boundary, which is what a fully fused program moves."""

from funcjax.core.cost import jaxpr_cost


def cost_of(closed):
    report = jaxpr_cost(closed).as_dict()
    report["bytes accessed at the boundary"] = float(
        sum(a.nbytes for a in closed.in_avals + closed.out_avals))
    return report
