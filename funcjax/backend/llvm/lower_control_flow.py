"""Lowering of control flow to LLVM control flow: ``cond`` is a switch over one block per
branch, ``while`` a loop that evaluates the predicate's jaxpr and then the body's on every
iteration, ``scan`` a counted loop over the slices of its operands.

A loop carry lives in the equation's output buffers, which hold the current value (and the
final one when the loop ends). The body overwrites a carry in place (``lower_jaxpr``'s
``in_place``: straight into it when every read of the old value is at the element being
written, else computed aside and copied over it last); a carry whose old value the body
also returns as another output is written to scratch and copied back after the body.
``scan`` reads row ``t`` of each scanned-over operand in place and writes the body's ``y``
outputs straight into row ``t`` of the stacked outputs. Loop bodies read their constants
and operands on every iteration, so those inputs are declared *reread*: an expensive lazy
operand is computed into a buffer once, before the loop.
"""

import numpy as np

from funcjax.backend.llvm import parallel_loops, types
from funcjax.backend.llvm.loops import for_range, while_true
from funcjax.backend.llvm.lower_shape import clamp
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Buffer, Lazy
from funcjax.core.abstract import ShapedArray
from funcjax.ops.control_flow.common import split, unstacked
from funcjax.ops.control_flow.cond import cond_p
from funcjax.ops.control_flow.loops import while_p
from funcjax.ops.control_flow.scan import scan_p


@register("buffer", cond_p)
def _cond(ctx, eqn, ins, outs):
    b, branches = ctx.b, eqn.params["branches"]
    index = clamp(b, b.sext(ins[0].load([]), types.I64), 0, len(branches) - 1)
    blocks = [b.append_basic_block(f"branch{k}") for k in range(len(branches))]
    done = b.append_basic_block("endcond")
    switch = b.switch(index, blocks[-1])
    for k, block in enumerate(blocks[:-1]):
        switch.add_case(types.i64(k), block)
    for block, branch in zip(blocks, branches):
        b.position_at_end(block)
        ctx.lower_closed_jaxpr(branch, ins[1:], outs)
        b.branch(done)
    b.position_at_end(done)


def _copy(ctx, values, buffers):
    """Computes ``values`` into ``buffers``: a large copy is a parallel loop, as any loop of
    the body is (``parallel_loops``)."""
    for value, buf in zip(values, buffers):
        if value is not buf:
            parallel_loops.emit(ctx, value, buf)


def _in_place(closed, first, count):
    """``(output k, input first + k)`` for the ``count`` carries of a loop body that the
    body may write straight into their buffers (``lower_jaxpr``'s ``in_place``: a carry is
    overwritten only once nothing reads its old value). Not a carry whose old value the
    body also returns as another output (``(a, b) -> (b, a)``): that one is computed into
    scratch and copied back after the body."""
    jaxpr = closed.jaxpr
    return [(k, first + k) for k in range(count)
            if not any(out is jaxpr.invars[first + k]
                       for j, out in enumerate(jaxpr.outvars) if j != k)]


def _carry_targets(ctx, carry, pairs, label):
    """The buffers a loop body writes its carries to: the carry itself when in place,
    else scratch (copied back by ``_copy``)."""
    in_place = {k for k, _ in pairs}
    return [c if k in in_place else ctx.scratch(c.aval, label) for k, c in enumerate(carry)]


def _while_rereads(eqn):
    return tuple(range(eqn.params["cond_nconsts"] + eqn.params["body_nconsts"]))


@register("buffer", while_p, rereads=_while_rereads)
def _while(ctx, eqn, ins, outs):
    b, p = ctx.b, eqn.params
    cond_consts, body_consts, init = split(ins, p["cond_nconsts"], p["body_nconsts"])
    _copy(ctx, init, outs)
    pairs = _in_place(p["body_jaxpr"], p["body_nconsts"], len(outs))
    new = _carry_targets(ctx, outs, pairs, "while carry")
    pred = ctx.scratch(ShapedArray((), np.bool_), "while predicate")
    with while_true(b) as (again, done):
        ctx.lower_closed_jaxpr(p["cond_jaxpr"], cond_consts + outs, [pred])
        body = b.append_basic_block("while_body")
        b.cbranch(pred.load([]), body, done)
        b.position_at_end(body)
        ctx.lower_closed_jaxpr(p["body_jaxpr"], body_consts + outs, new, pairs)
        _copy(ctx, new, outs)
        b.branch(again)


def _row(b, x, t):
    """Row ``t`` (an i64 value) of ``x`` along its leading axis, without copying."""
    aval = unstacked(x.aval)
    if isinstance(x, Buffer):
        return Buffer(b, x.element(b.mul(t, types.i64(aval.size))), aval)
    return Lazy(aval, lambda idx: x.load([t] + idx), cheap=x.cheap)


def _scan_rereads(eqn):
    num_consts, num_carry = eqn.params["num_consts"], eqn.params["num_carry"]
    return tuple(i for i in range(len(eqn.inputs))
                 if not num_consts <= i < num_consts + num_carry)


@register("buffer", scan_p, rereads=_scan_rereads)
def _scan(ctx, eqn, ins, outs):
    b, p = ctx.b, eqn.params
    length, num_carry = p["length"], p["num_carry"]
    consts, init, xs = split(ins, p["num_consts"], num_carry)
    carry, ys = outs[:num_carry], outs[num_carry:]
    _copy(ctx, init, carry)
    pairs = _in_place(p["jaxpr"], p["num_consts"], num_carry)
    new = _carry_targets(ctx, carry, pairs, "scan carry")
    with for_range(b, length) as i:
        t = b.sub(types.i64(length - 1), i) if p["reverse"] else i
        ctx.lower_closed_jaxpr(p["jaxpr"], consts + carry + [_row(b, x, t) for x in xs],
                               new + [_row(b, y, t) for y in ys], pairs)
        _copy(ctx, new, carry)
