"""``Compiled.cost_analysis()``: the primitives' cost rules summed over the jaxpr, with JAX's
keys, plus the bytes the compiled program reads and writes at its boundary."""

from funcjax.core.cost import jaxpr_cost


def cost_of(closed):
    total = jaxpr_cost(closed)
    moved = sum(a.nbytes for a in closed.in_avals + closed.out_avals)
    return {"flops": float(total.flops), "transcendentals": float(total.transcendentals),
            "bytes accessed": float(moved)}
