"""Lowering of the call-like primitives: each one's sub-jaxpr is emitted inline (one module per
outermost jaxpr), so nested jits, checkpoints and custom-rule functions cost nothing at run
time. Their special meaning only matters to transformations, which have already run."""

from funcjax.backend.llvm import spmd_cross
from funcjax.backend.llvm.host_call import emit_host_call
from funcjax.backend.llvm.lowering import register
from funcjax.core import processes
from funcjax.interpreters.remat import checkpoint_p, name_p
from funcjax.ops.calls import jit_p
from funcjax.ops.custom import (
    custom_jvp_call_p,
    custom_lin_p,
    custom_vjp_call_p,
    forward_mode_error,
)
from funcjax.ops.pmap import as_vmap_jaxpr, pmap_p


@register("buffer", jit_p, checkpoint_p)
def _jit(ctx, eqn, ins, outs):
    ctx.lower_closed_jaxpr(eqn.params["jaxpr"], ins, outs)


@register("buffer", custom_jvp_call_p, custom_vjp_call_p)
def _custom_call(ctx, eqn, ins, outs):
    """Compiled code evaluates the function itself; its rules were used when differentiating."""
    ctx.lower_closed_jaxpr(eqn.params["call_jaxpr"], ins, outs)


@register("view", name_p, pointwise=True)
def _name(ctx, eqn, ins):
    return ins[0]


@register("buffer", custom_lin_p)
def _custom_lin(ctx, eqn, ins, outs):
    """custom_lin is only ever transposed. It reaches the compiler when a custom_vjp function
    is differentiated in forward mode inside jit, which is the error eager code raises too."""
    forward_mode_error(name=eqn.params["name"])


@register("buffer", pmap_p)
def _pmap(ctx, eqn, ins, outs):
    """A pmap inside jit runs on its devices: compiled code calls back into the host, which
    launches pmap's own compiled program on the device threads (one host call, ~10 us); in a
    multi-process run that call spans every process's devices (``spmd_cross``). Nested in
    another pmap (``ctx.spmd_axis`` is set: this is a device's program) no devices are left
    for it: it runs as the vmap it is equivalent to, inline, which is what JAX's nested pmap
    computes too."""
    p = eqn.params
    if ctx.spmd_axis is None:
        if processes.multi_process():
            return spmd_cross.emit_pmap_call(ctx, eqn, ins, outs)
        emit_host_call(ctx, pmap_p.rule("impl"), p, eqn, ins, outs, True)
        return
    ctx.lower_closed_jaxpr(as_vmap_jaxpr(p["jaxpr"], p["axis_name"], p["axis_size"],
                                         p["in_axes"], p["out_axes"]), ins, outs)
