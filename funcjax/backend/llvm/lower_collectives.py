"""Collectives have no single-program lowering: they exist only under a named map. vmap
batches them away before anything compiles (a jit whose jaxpr uses the axis is batched even
when its inputs are not), and pmap is what will compile them, per device. A collective that
reaches the compiler anyway has no axis in scope: the eager implementation's ``NameError``."""

from funcjax.backend.llvm.lowering import register
from funcjax.ops import collectives as ops


@register("buffer", ops.psum_p, ops.pmax_p, ops.pmin_p, ops.all_gather_p, ops.psum_scatter_p,
          ops.all_to_all_p, ops.ppermute_p, ops.axis_index_p)
def _unbound(ctx, eqn, ins, outs):
    eqn.primitive.rule("impl")(**eqn.params)
