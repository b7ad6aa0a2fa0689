"""Lowering of sort: a stable bottom-up merge sort of a permutation, then a gather.

For each row along ``dimension`` the code sorts the positions 0..n-1 by the keys (compared
lexicographically, NaN after everything, -0.0 equal to 0.0, ties kept in order: numpy's
stable sort) and then writes every operand permuted alike. The merge passes are unrolled at
compile time (n is static): pass p merges runs of 2**p between two scratch index arrays.
Reads in a merge use indices clamped into the array, and a select picks the side, so no load
leaves its buffer even when one run is exhausted.
"""

import numpy as np

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.backend.llvm.lowering import register
from funcjax.core.abstract import ShapedArray
from funcjax.ops.sorting import sort_p


def _order(b, dt, x, y):
    """(x before y, x tied with y) in the total order NaN-last; complex values compare real
    parts, then imaginary parts (numpy's and JAX's order)."""
    if dt.kind == "c":  # numpy's classes first: R + Rj, R + nanj, nan + Rj, nan + nanj
        part = np.dtype(dt.char.lower())
        (xr, xi), (yr, yi) = ([b.extract_value(v, k) for k in (0, 1)] for v in (x, y))
        cls_lt, cls_eq = _order(b, np.dtype(np.uint8), _nan_class(b, xr, xi),
                                _nan_class(b, yr, yi))
        re_lt, re_eq = _order(b, part, xr, yr)
        im_lt, im_eq = _order(b, part, xi, yi)
        lt = b.or_(cls_lt, b.and_(cls_eq, b.or_(re_lt, b.and_(re_eq, im_lt))))
        return lt, b.and_(cls_eq, b.and_(re_eq, im_eq))
    if dt.kind == "f":
        x_nan, y_nan = b.fcmp_unordered("uno", x, x), b.fcmp_unordered("uno", y, y)
        lt = b.or_(b.fcmp_ordered("<", x, y), b.and_(b.not_(x_nan), y_nan))
        gt = b.or_(b.fcmp_ordered(">", x, y), b.and_(x_nan, b.not_(y_nan)))
    else:
        cmp = b.icmp_signed if dt.kind == "i" else b.icmp_unsigned
        lt, gt = cmp("<", x, y), cmp(">", x, y)
    return lt, b.not_(b.or_(lt, gt))


def _nan_class(b, re, im):
    nan = [b.zext(b.fcmp_unordered("uno", v, v), types.I8) for v in (re, im)]
    return b.add(b.shl(nan[0], types.I8(1)), nan[1])


def _before(b, keys, at_row, i, j):
    """Whether position ``i`` sorts strictly before position ``j`` (lexicographic keys)."""
    result = None
    for key in reversed(keys):
        lt, eq = _order(b, key.aval.dtype, key.load(at_row(i)), key.load(at_row(j)))
        result = lt if result is None else b.or_(lt, b.and_(eq, result))
    return result


@register("buffer", sort_p, rereads=lambda eqn: tuple(range(eqn.params["num_keys"])))
def _sort(ctx, eqn, ins, outs):
    b = ctx.b
    dim, num_keys = eqn.params["dimension"], eqn.params.get("num_keys", 1)
    shape = ins[0].aval.shape
    n = shape[dim]
    keys = [ctx.as_buffer(k) for k in ins[:num_keys]]
    perms = [ctx.scratch(ShapedArray((max(n, 1),), np.int64), "sort permutation")
             for _ in range(2)]
    i_slot, j_slot = ctx.alloca(types.I64, "i"), ctx.alloca(types.I64, "j")
    rest = [s for d, s in enumerate(shape) if d != dim]
    with loop_nest(b, rest) as row:
        def at_row(pos, row=row):
            return row[:dim] + [pos] + row[dim:]

        with for_range(b, n) as t:
            perms[0].store([t], t)
        width, src = 1, 0
        while width < n:
            source, dest = perms[src], perms[1 - src]
            with for_range(b, n, step=2 * width) as lo:
                mid = b.select(b.icmp_signed("<", b.add(lo, types.i64(width)), types.i64(n)),
                               b.add(lo, types.i64(width)), types.i64(n))
                hi = b.select(b.icmp_signed("<", b.add(lo, types.i64(2 * width)),
                                            types.i64(n)),
                              b.add(lo, types.i64(2 * width)), types.i64(n))
                b.store(lo, i_slot)
                b.store(mid, j_slot)
                with for_range(b, hi, start=lo) as t:
                    i, j = b.load(i_slot), b.load(j_slot)
                    ic = b.select(b.icmp_signed("<", i, mid), i, b.sub(mid, types.i64(1)))
                    jc = b.select(b.icmp_signed("<", j, hi), j, b.sub(hi, types.i64(1)))
                    pi, pj = source.load([ic]), source.load([jc])
                    right_first = _before(b, keys, at_row, pj, pi)
                    take_left = b.and_(b.icmp_signed("<", i, mid),
                                       b.or_(b.icmp_signed(">=", j, hi), b.not_(right_first)))
                    dest.store([t], b.select(take_left, pi, pj))
                    b.store(b.add(i, b.zext(take_left, types.I64)), i_slot)
                    b.store(b.add(j, b.zext(b.not_(take_left), types.I64)), j_slot)
            width, src = 2 * width, 1 - src
        with for_range(b, n) as t:
            p = perms[src].load([t])
            for x, out in zip(ins, outs):
                out.store(at_row(t), x.load(at_row(p)))
