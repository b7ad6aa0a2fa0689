"""Transposing copies: cache tiles and an in-register transpose.

A transpose is a ``view`` (``Transposed``): loaded element by element, it reads its buffer
with a stride, which LLVM vectorises with gathers and scatters, or not at all. When a
materialised value reads a transposed buffer (``fusion.analyse`` marks it, with the output
axis that reads the buffer's last axis), ``materialize_tiled`` writes it in square tiles of
one 64-byte row (16 elements of 4 bytes, 8 of 8): before each tile, the tile of every
``Transposed`` buffer it reads is loaded as contiguous vectors, transposed in registers
(``log2(n)`` rounds of interleaving shuffles) and stored to a stack buffer, from which the
tile's loop reads contiguously, so it vectorises along the output's last axis. The edges
left by shapes that are not multiples of the tile run as plain loops.

(Tiles of 8 x 4-byte elements were slower than no tiles: LLVM unrolls the 64-element tile
loop fully and then vectorises the loop over tiles, with gathers and scatters.)
"""

import contextlib

from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.loops import for_range
from funcjax.backend.llvm.values import Buffer, Value


def tile_size(dtype):
    return 16 if dtype.itemsize <= 4 else 8
_STAGED_KINDS = "fiu"  # dtypes kept in registers as they are in memory (not bool, f16)


class Transposed(Value):
    """``x`` (a buffer) with its axes permuted by ``perm``, as a transpose's output; or the
    rows ``first..`` of such a value along output axis ``axis`` (``rows``: a parallel task's
    block of a product whose operand is a transpose, which gemm still reads in place)."""

    __slots__ = ("ctx", "x", "inverse", "first")

    def __init__(self, ctx, x, aval, perm, first=None):
        super().__init__(aval, True)
        self.ctx, self.x = ctx, x
        self.inverse = [perm.index(d) for d in range(len(perm))]
        self.first = first  # None, or (output axis, first row)

    @property
    def perm(self):
        """The source axis of each output axis."""
        return [self.inverse.index(d) for d in range(len(self.inverse))]

    def rows(self, axis, first, aval):
        """This value's rows ``first..`` along ``axis`` (``aval`` says how many)."""
        assert self.first is None
        return Transposed(self.ctx, self.x, aval, self.perm, (axis, first))

    def source_index(self, idx):
        if self.first is not None:
            axis, first = self.first
            idx = list(idx)
            idx[axis] = self.ctx.b.add(idx[axis], types.i64(first))
        return [idx[self.inverse[d]] for d in range(len(idx))]

    def load(self, idx):
        tile = self.ctx.tile
        staged = tile.load(self, idx) if tile is not None else None
        return staged if staged is not None else self.x.load(self.source_index(idx))


def stageable(x, perm):
    """Whether a transpose of ``x`` by ``perm`` can be read through staged tiles."""
    dt = x.aval.dtype
    return (isinstance(x, Buffer) and len(perm) > 1 and perm[-1] != len(perm) - 1
            and dt.kind in _STAGED_KINDS and dt.itemsize in (4, 8))


class _Tile:
    """The tile being written: its origin (``i0`` on ``axis``, ``j0`` on the last axis, the
    other axes fixed), its local counters, and the transposed buffers staged for it."""

    def __init__(self, ctx, shape, axis, idx, i0, j0, size):
        self.ctx, self.shape, self.axis, self.size = ctx, tuple(shape), axis, size
        self.origin = list(idx)
        self.origin[axis], self.origin[-1] = i0, j0
        self.idx = self.ii = self.jj = None
        self.staged = {}  # id(Transposed) -> (value, stack slot)

    def load(self, value, idx):
        """``value``'s element from its staged tile, or None when ``value`` is read at any
        index but the tile's own (a slice or broadcast in between: it reads memory)."""
        if (value.aval.shape != self.shape or len(idx) != len(self.idx)
                or any(a is not c for a, c in zip(idx, self.idx))
                or value.inverse[len(idx) - 1] != self.axis):
            return None
        b = self.ctx.b
        if id(value) not in self.staged:
            elem = types.storage_type(value.aval.dtype)
            with b.goto_block(self.ctx.alloca_block):  # the tile's rows
                slot = b.alloca(ir.VectorType(elem, self.size), size=types.i64(self.size),
                                name="tile")
            slot.align = 64
            self.staged[id(value)] = (value, slot)
        slot = self.staged[id(value)][1]
        local = b.add(b.mul(self.ii, types.i64(self.size)), self.jj)
        elem = types.storage_type(value.aval.dtype)
        return b.load(b.gep(slot, [local], inbounds=True, source_etype=elem), typ=elem)

    def emit_staging(self):
        """Before the tile's loop: ``slot[c][r] = x at output (i0 + c, j0 + r)``, for every
        staged value, by row loads, an in-register transpose and row stores."""
        b = self.ctx.b
        for value, slot in self.staged.values():
            elem = types.storage_type(value.aval.dtype)
            vec = ir.VectorType(elem, self.size)
            size = value.aval.dtype.itemsize
            rows = []
            for r in range(self.size):
                at = list(self.origin)
                at[-1] = b.add(self.origin[-1], types.i64(r))
                rows.append(b.load(value.x.address(value.source_index(at)), typ=vec, align=size))
            for c, row in enumerate(transpose_rows(b, rows)):
                b.store(row, b.gep(slot, [types.i64(c)], inbounds=True, source_etype=vec),
                        align=64)


def transpose_rows(b, rows):
    """The columns of the square matrix whose rows are the vectors ``rows``: log2(n) rounds
    of interleaving row m with row m + n/2 (a perfect shuffle of the row index each time)."""
    n = len(rows)
    half = n // 2
    lo = ir.Constant(ir.VectorType(ir.IntType(32), n),
                     [v for k in range(half) for v in (k, k + n)])
    hi = ir.Constant(ir.VectorType(ir.IntType(32), n),
                     [v for k in range(half, n) for v in (k, k + n)])
    for _ in range(n.bit_length() - 1):
        out = [None] * n
        for m in range(half):
            out[2 * m] = b.shuffle_vector(rows[m], rows[m + half], lo)
            out[2 * m + 1] = b.shuffle_vector(rows[m], rows[m + half], hi)
        rows = out
    return rows


def _box(b, shape, ranges):
    """Loops over ``shape`` with axis ``d`` restricted to ``ranges[d]`` (start, stop) when
    given; yields the index list."""
    return _nest(b, [ranges.get(d, (0, n)) for d, n in enumerate(shape)])


@contextlib.contextmanager
def _nest(b, bounds):
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(for_range(b, stop, start)) for start, stop in bounds]


def materialize_tiled(ctx, value, buf, axis):
    """Writes ``value`` into ``buf`` in tiles over ``axis`` and the last axis (see the
    module's docstring); the edges that do not fill a tile run as plain loops. Returns
    False, emitting nothing, when not even one tile fits."""
    b, shape = ctx.b, value.aval.shape
    last, size = len(shape) - 1, tile_size(value.aval.dtype)
    full_a, full_l = shape[axis] - shape[axis] % size, shape[last] - shape[last] % size
    if not (full_a and full_l):
        return False
    with contextlib.ExitStack() as stack:
        idx = [None] * len(shape)
        for d, n in enumerate(shape):
            if d not in (axis, last):
                idx[d] = stack.enter_context(for_range(b, n))
        # tiles along the source's rows (``axis``) innermost: each of a tile's source rows is
        # then read as one sequential stream (the other order walked the source down a column
        # of lines, page by page: 1.1-1.9x slower for 1024x1024 to 4096x1024, one thread)
        j0 = stack.enter_context(for_range(b, full_l, step=size))
        i0 = stack.enter_context(for_range(b, full_a, step=size))
        tile = _Tile(ctx, shape, axis, idx, i0, j0, size)
        fn = b.block.function
        stage, points = fn.append_basic_block("stage"), fn.append_basic_block("tile")
        b.branch(stage)
        b.position_at_end(points)
        outer, ctx.tile = ctx.tile, tile
        # The inner trip count passes through an empty inline asm: known to be ``size``,
        # LLVM unrolls the tile fully and then vectorises the loop over tiles instead.
        opaque = b.asm(ir.FunctionType(types.I64, [types.I64]), "", "=r,0", [types.i64(size)],
                       False)
        with for_range(b, size) as ii, for_range(b, opaque) as jj:
            idx[axis] = b.add(i0, ii, flags=("nsw",))
            idx[last] = b.add(j0, jj, flags=("nsw",))
            tile.idx, tile.ii, tile.jj = list(idx), ii, jj
            buf.store(idx, value.load(idx))
        ctx.tile = outer
        with b.goto_block(stage):
            tile.emit_staging()
            b.branch(points)
    for ranges in ({axis: (0, full_a), last: (full_l, shape[last])},
                   {axis: (full_a, shape[axis])}):
        if all(start < stop for start, stop in ranges.values()):
            with _box(b, shape, ranges) as at:
                buf.store(at, value.load(at))
    return True
