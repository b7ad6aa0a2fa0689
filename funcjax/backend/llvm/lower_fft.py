"""Lowering of the fft primitive: a host call of its numpy (pocketfft) impl.

Every fft equation has a complex operand or result, so ``host_call.outline_complex`` wraps
it into a ``host_call`` before lowering and this rule is the same call spelled directly (it
runs if an fft ever reaches the lowering un-outlined)."""

from funcjax.backend.llvm.host_call import emit_host_call
from funcjax.backend.llvm.lowering import register
from funcjax.ops.fft import fft_p


@register("buffer", fft_p)
def _fft(ctx, eqn, ins, outs):
    emit_host_call(ctx, fft_p.rule("impl"), eqn.params, eqn, ins, outs, False)
