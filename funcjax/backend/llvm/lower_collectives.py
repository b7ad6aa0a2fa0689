"""Lowering of collectives inside pmap's per-device programs (see ``spmd_runtime``).

Each collective is inline IR around the runtime's barrier: the device publishes the addresses
of its operand and result in its slot of the comm, waits for every device, reads its peers'
operands straight from their memory, and waits again before anyone reuses that memory. Peers
are unrolled (the axis size is known when compiling). psum/pmax/pmin of large arrays split
the work: device k combines block k of the elements, then copies the other blocks from the
peers' results (reduce-scatter then all-gather: each device reads about twice its bytes
instead of N times); a group of them (``spmd_group``) is one exchange of all its operands.
When a run is aborted the barrier returns 1 and nothing reads a peer.
In a multi-process run (``spmd_axis`` has a third item, the program's
``spmd_cross.CrossStage``) device 0 runs the whole collective between the barriers, locally
and then across processes.

Outside pmap (a plain jit) there is no mapped axis: vmap batches collectives away before
anything compiles, so one reaching the compiler raises the eager implementation's NameError.
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.backend.llvm.lower_elementwise import SCALAR
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.spmd_cross import CROSS
from funcjax.backend.llvm.spmd_group import reduce_group_p
from funcjax.backend.llvm.spmd_runtime import BARRIER, SLOT_BYTES, SLOTS
from funcjax.backend.llvm.types import I8, I64, PTR, i64
from funcjax.backend.llvm.values import Buffer
from funcjax.ops import collectives as ops
from funcjax.ops import elementwise as ew

I32 = ir.IntType(32)
_SPLIT_MIN_ELEMENTS = 1 << 14  # below this, every device combines the whole array


class _Exchange:
    """The device's index and comm, and its peers' published buffers, for one collective."""

    def __init__(self, ctx, eqn):
        names = eqn.params["axis_name"]
        names = names if isinstance(names, tuple) else (names,)
        axis = ctx.spmd_axis
        if axis is None or any(n != axis[0] for n in names):
            eqn.primitive.rule("impl")(**eqn.params)  # the NameError of an unbound axis
        self.ctx, self.b, self.size = ctx, ctx.b, axis[1]
        self.cross = axis[2] if len(axis) > 2 else None
        self.me = self.b.load(ctx.spmd, typ=I64)
        self.comm = self.b.load(self.b.gep(ctx.spmd, [i64(8)], source_etype=I8), typ=PTR)

    def _slot(self, d, which, j=0):
        """Device ``d``'s slot for operand (``which`` 0) or result (1) number ``j`` of the
        collective: operand j's slots are the j-th block of N (so one-operand collectives
        use the first block, which the cross-process stage reads too)."""
        offset = self.b.add(i64(SLOTS + 8 * which + j * self.size * SLOT_BYTES),
                            self.b.mul(_i64(d), i64(SLOT_BYTES)))
        return self.b.gep(self.comm, [offset], inbounds=True, source_etype=I8)

    def publish(self, src, out, j=0):
        self.b.store(src.ptr, self._slot(self.me, 0, j))
        self.b.store(out.ptr, self._slot(self.me, 1, j))

    def peer(self, d, which, aval, j=0):
        return Buffer(self.b, self.b.load(self._slot(d, which, j), typ=PTR), aval)

    def barrier(self):
        fn = self.ctx.extern(BARRIER, I32, [PTR], pure=False)
        return self.b.call(fn, [self.comm])

    def across_processes(self, eqn, src, out):
        """The multi-process form: device 0 runs the collective in the cross stage, even in
        an aborted run (the other processes wait for this one; it takes part with
        stand-ins)."""
        k = self.cross.add(eqn, src.aval, out.aval)
        fn = self.ctx.extern(CROSS, I32, [PTR, I64], pure=False)
        self.publish(src, out)
        self.barrier()
        with self.b.if_then(self.b.icmp_signed("==", self.me, i64(0))):
            self.b.call(fn, [self.comm, i64(k)])
        self.barrier()

    def run(self, src, out, *phases):
        """publish; then for each phase: barrier, phase() unless aborted; a last barrier.
        ``src``/``out``: one buffer each, or lists of them (the operands of one group)."""
        pairs = zip(src, out) if isinstance(src, list) else [(src, out)]
        for j, (s, o) in enumerate(pairs):
            self.publish(s, o, j)
        for phase in phases:
            ok = self.b.icmp_signed("==", self.barrier(), ir.Constant(I32, 0))
            with self.b.if_then(ok):
                phase()
        self.barrier()


def _exchange(*prims):
    """Registers the lowering of collectives that exchange buffers between devices. Across
    processes every one of them takes the MPI route of ``_Exchange.across_processes``; the
    decorated rule, given the ``_Exchange``, lowers the exchange among local devices."""
    def wrap(local):
        @register("buffer", *prims)
        def rule(ctx, eqn, ins, outs):
            ex = _Exchange(ctx, eqn)
            if ex.cross:
                return ex.across_processes(eqn, ctx.as_buffer(ins[0]), outs[0])
            return local(ctx, eqn, ins, outs, ex)
        return rule
    return wrap


def _copy(ctx, dst, src, nbytes):
    """``memcpy(dst, src, nbytes)`` (LLVM's intrinsic: a vectorised copy, not a scalar loop)."""
    fn = ctx.extern("llvm.memcpy.p0.p0.i64", ir.VoidType(), [PTR, PTR, I64, ir.IntType(1)],
                    pure=False)
    ctx.b.call(fn, [dst, src, _i64(nbytes), ir.Constant(ir.IntType(1), 0)])


def _at(b, ptr, offset):
    return b.gep(ptr, [_i64(offset)], inbounds=True, source_etype=I8)


def _i64(d):
    return d if isinstance(d, ir.Value) else i64(d)


def _load(buf, linear):
    dt = buf.aval.dtype
    b = buf.b
    return types.from_storage(b, dt, b.load(buf.element(linear), typ=types.storage_type(dt)))


def _store(buf, linear, value):
    buf.b.store(types.to_storage(buf.b, buf.aval.dtype, value), buf.element(linear))


def _combiner(ctx, prim, dt):
    b = ctx.b
    if prim is ops.psum_p:
        if dt.kind == "f":
            return lambda x, y: b.fadd(x, y)
        return lambda x, y: SCALAR[ew.add_p](ctx, dt, x, y)
    scalar = ew.max_p if prim is ops.pmax_p else ew.min_p
    return lambda x, y: SCALAR[scalar](ctx, dt, x, y)


@_exchange(ops.psum_p, ops.pmax_p, ops.pmin_p)
def _reduce(ctx, eqn, ins, outs, ex):
    _reduce_all(ctx, eqn.primitive, [ctx.as_buffer(ins[0])], outs, ex)


@register("buffer", reduce_group_p)
def _reduce_group(ctx, eqn, ins, outs):
    ex = _Exchange(ctx, eqn)
    assert ex.cross is None, "reductions are not grouped in a multi-process run"
    _reduce_all(ctx, eqn.params["reduction"], [ctx.as_buffer(x) for x in ins], outs, ex)


def _reduce_all(ctx, prim, srcs, outs, ex):
    """Each ``outs[j]`` = the reduction of every device's ``srcs[j]``, in one exchange. Large
    operands are split: device k combines block k of each, then copies the other blocks from
    the peers' results (reduce-scatter then all-gather); small ones are combined whole."""
    n, b = ex.size, ctx.b

    def combine_range(j, lo, hi):
        aval = srcs[j].aval
        combine = _combiner(ctx, prim, aval.dtype)
        peers = [ex.peer(d, 0, aval, j) for d in range(n)]
        with for_range(b, hi, start=lo) as i:
            acc = _load(peers[0], i)
            for p in peers[1:]:
                acc = combine(acc, _load(p, i))
            if types.is_f16(aval.dtype):
                acc = types.round_f16(b, acc)
            _store(outs[j], i, acc)

    def split(j):
        total = srcs[j].aval.size
        return total * n >= _SPLIT_MIN_ELEMENTS and total >= n

    def bounds(j, d):
        total = srcs[j].aval.size
        chunk = -(-total // n)
        lo = b.mul(_i64(d), i64(chunk))
        hi = b.add(lo, i64(chunk))
        return lo, b.select(b.icmp_signed("<", hi, i64(total)), hi, i64(total))

    def reduce_blocks():
        for j, src in enumerate(srcs):
            combine_range(j, *(bounds(j, ex.me) if split(j) else (i64(0),
                                                                   i64(src.aval.size))))

    def gather_blocks():
        for j, src in enumerate(srcs):
            if not split(j):
                continue
            item = src.aval.dtype.itemsize
            for d in range(n):
                with b.if_then(b.icmp_signed("!=", ex.me, i64(d))):
                    lo, hi = bounds(j, d)
                    start = b.mul(lo, i64(item))
                    _copy(ctx, _at(b, outs[j].ptr, start),
                          _at(b, ex.peer(d, 1, src.aval, j).ptr, start),
                          b.mul(b.sub(hi, lo), i64(item)))

    phases = (reduce_blocks, gather_blocks) if any(map(split, range(len(srcs)))) else (
        reduce_blocks,)
    ex.run(list(srcs), list(outs), *phases)


def _with(idx, axis, value, insert):
    idx = list(idx)
    if insert:
        idx.insert(axis, value)
    else:
        idx[axis] = value
    return idx


@_exchange(ops.all_gather_p)
def _all_gather(ctx, eqn, ins, outs, ex):
    src, out = ctx.as_buffer(ins[0]), outs[0]
    axis, b = eqn.params["axis"], ctx.b

    # tiled or not, peer d's block of ``inner`` bytes under each of the ``outer`` leading
    # indices lands at block ``o * n + d`` of the result: one memcpy per block
    shape, n = src.aval.shape, ex.size
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis:], dtype=np.int64)) * src.aval.dtype.itemsize

    def gather():
        for d in range(n):
            peer = ex.peer(d, 0, src.aval).ptr
            with for_range(b, i64(outer)) as o:
                _copy(ctx, _at(b, out.ptr, b.mul(b.add(b.mul(o, i64(n)), i64(d)), i64(inner))),
                      _at(b, peer, b.mul(o, i64(inner))), inner)
    ex.run(src, out, gather)


@_exchange(ops.psum_scatter_p)
def _psum_scatter(ctx, eqn, ins, outs, ex):
    src, out = ctx.as_buffer(ins[0]), outs[0]
    dim, tiled, b = eqn.params["scatter_dimension"], eqn.params["tiled"], ctx.b
    combine = _combiner(ctx, ops.psum_p, src.aval.dtype)

    def scatter():
        peers = [ex.peer(d, 0, src.aval) for d in range(ex.size)]
        with loop_nest(b, out.aval.shape) as idx:
            if tiled:
                full = _with(idx, dim, b.add(idx[dim], b.mul(ex.me, i64(out.aval.shape[dim]))),
                             False)
            else:
                full = _with(idx, dim, ex.me, True)
            acc = peers[0].load(full)
            for p in peers[1:]:
                acc = combine(acc, p.load(full))
            out.store(idx, types.round_f16(b, acc) if types.is_f16(out.aval.dtype) else acc)
    ex.run(src, out, scatter)


@_exchange(ops.all_to_all_p)
def _all_to_all(ctx, eqn, ins, outs, ex):
    src, out = ctx.as_buffer(ins[0]), outs[0]
    split, concat, tiled = (eqn.params[k] for k in ("split_axis", "concat_axis", "tiled"))
    b, shape = ctx.b, list(src.aval.shape)
    if tiled:
        chunk = list(shape)
        chunk[split] //= ex.size
    else:
        chunk = shape[:split] + shape[split + 1:]

    def exchange():
        for m in range(ex.size):
            peer = ex.peer(m, 0, src.aval)
            with loop_nest(b, chunk) as idx:
                if tiled:
                    s = _with(idx, split, b.add(idx[split], b.mul(ex.me, i64(chunk[split]))),
                              False)
                    t = _with(idx, concat, b.add(idx[concat], i64(m * chunk[concat])), False)
                else:
                    s, t = _with(idx, split, ex.me, True), _with(idx, concat, i64(m), True)
                out.store(t, peer.load(s))
    ex.run(src, out, exchange)


@_exchange(ops.ppermute_p)
def _ppermute(ctx, eqn, ins, outs, ex):
    src, out = ctx.as_buffer(ins[0]), outs[0]
    b, n = ctx.b, ex.size
    sources = np.full(n, -1, np.int64)
    for s, t in eqn.params["perm"]:
        sources[t] = s
    table_t = ir.ArrayType(I64, n)
    table = ir.GlobalVariable(ctx.module, table_t, f"perm{len(ctx.module.globals)}")
    table.global_constant, table.linkage = True, "internal"
    table.initializer = ir.Constant(table_t, [int(s) for s in sources])

    def receive():
        source = b.load(b.gep(table, [i64(0), ex.me], inbounds=True, source_etype=table_t),
                        typ=I64)
        with b.if_else(b.icmp_signed(">=", source, i64(0))) as (copy, zero):
            with copy:
                _copy(ctx, out.ptr, ex.peer(source, 0, src.aval).ptr, src.aval.nbytes)
            with zero:
                with for_range(b, src.aval.size) as i:
                    _store(out, i, types.const(src.aval.dtype, 0))
    ex.run(src, out, receive)


@register("buffer", ops.axis_index_p)
def _axis_index(ctx, eqn, ins, outs):
    ex = _Exchange(ctx, eqn)
    offset = ex.cross.offset if ex.cross else 0
    outs[0].store([], ctx.b.trunc(ctx.b.add(ex.me, i64(offset)), I32))
