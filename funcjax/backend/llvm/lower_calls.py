"""Lowering of the ``jit`` primitive met inside a jaxpr being compiled: its sub-jaxpr is
emitted inline (one module per outermost jaxpr), so nested jits cost nothing at run time."""

from funcjax.backend.llvm.lowering import register
from funcjax.ops.calls import jit_p


@register("buffer", jit_p)
def _jit(ctx, eqn, ins, outs):
    ctx.lower_closed_jaxpr(eqn.params["jaxpr"], ins, outs)
