"""Lowering of ``threefry2x32``: the 20 rounds emitted in one loop over the elements,
writing both output words (i32 add wraps, as uint32 arithmetic must)."""

from llvmlite import ir

from funcjax.backend.llvm.loops import loop_nest
from funcjax.backend.llvm.lowering import register
from funcjax.ops.random_bits import PARITY, ROTATIONS, threefry2x32_p

_I32 = ir.IntType(32)


def _c(v):
    return ir.Constant(_I32, v)


@register("buffer", threefry2x32_p)
def _lower_threefry(ctx, eqn, ins, outs):
    b = ctx.b
    with loop_nest(b, eqn.outputs[0].aval.shape) as idx:
        k1, k2, x1, x2 = (v.load(idx if v.aval.shape else []) for v in ins)
        ks = (k1, k2, b.xor(b.xor(k1, k2), _c(PARITY)))
        x1, x2 = b.add(x1, ks[0]), b.add(x2, ks[1])
        for i in range(5):
            for r in ROTATIONS[i % 2]:
                x1 = b.add(x1, x2)
                x2 = b.or_(b.shl(x2, _c(r)), b.lshr(x2, _c(32 - r)))
                x2 = b.xor(x2, x1)
            x1 = b.add(x1, ks[(i + 1) % 3])
            x2 = b.add(b.add(x2, ks[(i + 2) % 3]), _c(i + 1))
        outs[0].store(idx, x1)
        outs[1].store(idx, x2)
