"""funcjax's own float32 gemm for CPUs with AVX-512: generated IR, compiled once per process.

Why: on Zen 4 numpy's OpenBLAS runs its SkylakeX kernel, and the Haswell one that
``blas_kernel`` loads instead reaches 94% of a core's FMA peak on large products (JAX's: 96%).
This kernel's inner loop runs at the peak (116 GFLOP/s measured, 32 FLOP per cycle) and whole
products at 98% (benchmarks/RESULTS.md, stop 26; ``bench_jitperf.py --blas-kernel``).

Design (Goto/BLIS blocking, the roles chosen for row-major C):

- **Micro-kernel**: a ``ROWS x COLS`` (6 x 64) tile of C in 24 AVX-512 accumulators. Per step
  of k it loads one row of 64 floats of packed B (4 vectors) and broadcasts 6 floats of A, one
  per tile row: 24 FMAs for 10 loads. Narrower kernels (16, 32, 48 columns, the last vector
  masked) finish the right edge, and kernels of 1-5 rows (64 columns, masked) the bottom one.
- **B** is packed per ``KC x NC`` panel into 64-column micro-panels (``[k][64]``, zero
  padded), which stay in L2 while every 6-row panel of A passes over them.
- **A** is read in place when its rows are contiguous: the 6 rows of a tile are 6 streams, and
  the packing it saves was a third of the overhead at 512. A transposed A is packed per
  ``MC x KC`` block into the same row layout (row stride ``KCP``, padded against cache-set
  aliasing).
- **k** is cut into ``ceil(k / KC)`` passes of equal length: the order in which an element's
  terms are summed depends on k only, not on m or n or where its tile lies, so the row blocks
  of ``parallel_tasks`` give the bits of the whole product.
- **Workspace**: packing buffers are kept in ``SLOTS`` slots taken and returned by atomic
  exchange (threads calling at once each get one; a fresh multi-megabyte ``malloc`` is an
  ``mmap`` whose pages fault on every call, which made 512 x 512 products 30% slower).

Semantics are those of ``cblas_sgemm`` (row- or column-major, either operand transposed):
``beta == 0`` never reads C, ``alpha == 0`` or ``k == 0`` only scales C. This module writes
the IR only; ``blas.own_address`` compiles it, once, where "auto" or "funcjax" routes to it.
"""

from llvmlite import ir

from funcjax.backend.llvm import transpose
from funcjax.backend.llvm.loops import for_range

ENTRY = "funcjax_sgemm"
NAME = "AVX-512 6x64"  # what ``blas.kernel`` reports
ROWS, LANES, VECTORS = 6, 16, 4
COLS = LANES * VECTORS
KC, NC, MC = 1024, 128, 768  # a k pass; B panel columns (L2); A block rows (packed A only)
KCP = KC + 16                # row stride of packed A
SLOTS = 4
B_FLOATS = KC * NC
A_FLOATS = (MC + ROWS) * KCP
WORK_BYTES = 4 * (B_FLOATS + A_FLOATS)
_ROW_MAJOR, _NO_TRANS = 101, 111

F32, I1, I32, I64 = ir.FloatType(), ir.IntType(1), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
VEC = ir.VectorType(F32, LANES)
MASK = ir.VectorType(I1, LANES)


def _i64(v):
    return ir.Constant(I64, v)


def _i32(v):
    return ir.Constant(I32, v)


class _Module:
    """The IR under construction, with the intrinsics it calls."""

    def __init__(self):
        self.m = ir.Module(name="funcjax_sgemm")
        self.fma = self._declare("llvm.fma.v16f32", VEC, [VEC, VEC, VEC])
        self.masked_load = self._declare("llvm.masked.load.v16f32.p0", VEC,
                                         [PTR, I32, MASK, VEC])
        self.masked_store = self._declare("llvm.masked.store.v16f32.p0", ir.VoidType(),
                                          [VEC, PTR, I32, MASK])
        self.prefetch = self._declare("llvm.prefetch.p0", ir.VoidType(), [PTR, I32, I32, I32])
        self.malloc = self._declare("aligned_alloc", PTR, [I64, I64])
        self.free = self._declare("free", ir.VoidType(), [PTR])
        self.slots = ir.GlobalVariable(self.m, ir.ArrayType(PTR, SLOTS), "funcjax_sgemm_slots")
        self.slots.initializer = ir.Constant(ir.ArrayType(PTR, SLOTS), [None] * SLOTS)
        self.slots.linkage = "internal"
        self.transpose = _transpose_copy(self)

    def _declare(self, name, ret, args):
        return ir.Function(self.m, ir.FunctionType(ret, args), name)

    def function(self, name, args, internal=True):
        fn = ir.Function(self.m, ir.FunctionType(ir.VoidType(), args), name)
        if internal:
            fn.linkage = "internal"
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))


def _gep(b, p, i):
    return b.gep(p, [i], inbounds=True, source_etype=F32)


def _splat(b, x, vtype):
    undef = ir.Constant(vtype, ir.Undefined)
    one = b.insert_element(undef, x, _i32(0))
    return b.shuffle_vector(one, undef, ir.Constant(ir.VectorType(I32, vtype.count),
                                                    [0] * vtype.count))


def _smin(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _lane_mask(b, count):
    """The mask of the first ``count`` lanes (none below 0, all from 16)."""
    lanes = ir.Constant(ir.VectorType(I64, LANES), list(range(LANES)))
    return b.icmp_signed("<", lanes, _splat(b, count, ir.VectorType(I64, LANES)))


def _micro_kernel(mod, rows, vectors):
    """``kernel(kc, a, a_stride, bp, c, ldc, alpha, beta, masks...)``: C's tile of ``rows`` x
    ``16 * vectors`` = alpha * A(rows x kc) @ Bp + beta * C (beta 0: C is not read); A's row
    r at ``a + r * a_stride``, Bp's row p at ``bp + 64 p``; vector v of each row is stored
    under mask v."""
    fn, b = mod.function(f"funcjax_sgemm_kernel_{rows}x{vectors}",
                         [I64, PTR, I64, PTR, PTR, I64, F32, F32] + [MASK] * vectors)
    fn.attributes.add("noinline")  # a call per tile costs nothing; inlined, compile time grew
    kc, a, a_stride, bp, c, ldc, alpha, beta, *masks = fn.args
    for arg in (a, bp, c):
        arg.add_attribute("noalias")
    c_rows = [_gep(b, c, b.mul(_i64(r), ldc)) for r in range(rows)]
    for line in c_rows:  # C's lines arrive while the tile is computed
        for v in range(vectors):
            b.call(mod.prefetch, [_gep(b, line, _i64(v * LANES)), _i32(1), _i32(3), _i32(1)])
    a_rows = [_gep(b, a, b.mul(_i64(r), a_stride)) for r in range(rows)]
    zero = ir.Constant(VEC, [0.0] * LANES)
    entry = b.block
    head, body, done = (fn.append_basic_block(n) for n in ("k", "step", "store"))
    b.branch(head)
    b.position_at_end(head)
    p = b.phi(I64, "p")
    p.add_incoming(_i64(0), entry)
    acc = [[b.phi(VEC) for _ in range(vectors)] for _ in range(rows)]
    for phi in (x for row in acc for x in row):
        phi.add_incoming(zero, entry)
    b.cbranch(b.icmp_signed("<", p, kc), body, done)
    b.position_at_end(body)
    row = _gep(b, bp, b.mul(p, _i64(COLS)))
    bv = [b.load(_gep(b, row, _i64(v * LANES)), typ=VEC, align=64) for v in range(vectors)]
    for r in range(rows):
        av = _splat(b, b.load(_gep(b, a_rows[r], p), typ=F32), VEC)
        for v in range(vectors):
            acc[r][v].add_incoming(b.call(mod.fma, [av, bv[v], acc[r][v]]), body)
    p.add_incoming(b.add(p, _i64(1)), body)
    b.branch(head)
    b.position_at_end(done)
    alphas, betas = _splat(b, alpha, VEC), _splat(b, beta, VEC)
    reads_c = b.fcmp_unordered("!=", beta, ir.Constant(F32, 0.0))
    with b.if_else(reads_c) as (update, overwrite):
        for branch, read in ((update, True), (overwrite, False)):
            with branch:
                for r in range(rows):
                    for v in range(vectors):
                        at = _gep(b, c_rows[r], _i64(v * LANES))
                        value = b.fmul(acc[r][v], alphas)
                        if read:
                            old = b.call(mod.masked_load, [at, _i32(4), masks[v], zero])
                            value = b.call(mod.fma, [old, betas, value])
                        b.call(mod.masked_store, [value, at, _i32(4), masks[v]])
    b.ret_void()
    return fn


def _transpose_copy(mod):
    """``copy(dst, dst_stride, src, src_stride, rows, cols, padded_rows)``: ``dst[c *
    dst_stride + r] = src[r * src_stride + c]`` for c < cols and r < ``padded_rows`` (a
    multiple of 16; zeros for r >= rows), in 16 x 16 tiles, each loaded as 16 vectors along
    c, transposed in registers and stored as 16 vectors along r. One function for both
    packings (not inlined: it is most of the module's compile time)."""
    fn, b = mod.function("funcjax_sgemm_transpose", [PTR, I64, PTR, I64, I64, I64, I64])
    fn.attributes.add("noinline")
    dst, dst_stride, src, src_stride, rows, cols, padded_rows = fn.args
    zero = ir.Constant(VEC, [0.0] * LANES)
    with for_range(b, cols, step=LANES) as c0:
        lanes = _lane_mask(b, b.sub(cols, c0))
        with for_range(b, padded_rows, step=LANES) as r0:
            vectors = []
            for t in range(LANES):
                r = b.add(r0, _i64(t))
                inside = b.icmp_signed("<", r, rows)
                at = _gep(b, src, b.add(b.mul(b.select(inside, r, _i64(0)), src_stride), c0))
                mask = b.select(inside, lanes, ir.Constant(MASK, [0] * LANES))
                vectors.append(b.call(mod.masked_load, [at, _i32(4), mask, zero]))
            for t, column in enumerate(transpose.transpose_rows(b, vectors)):
                c = b.add(c0, _i64(t))
                with b.if_then(b.icmp_signed("<", c, cols), likely=True):
                    b.store(column, _gep(b, dst, b.add(b.mul(c, dst_stride), r0)), align=4)
    b.ret_void()
    return fn


def _pack_b(mod, b, bp, src, rsb, csb, kc, cols):
    """``bp[j // 64][p][j % 64] = src[p * rsb + j * csb]`` for p < kc, j < cols, zero padded
    to whole micro-panels."""
    zero = ir.Constant(VEC, [0.0] * LANES)
    contiguous = b.icmp_signed("==", csb, _i64(1))
    with for_range(b, cols, step=COLS) as j0:
        panel = _gep(b, bp, b.mul(j0, kc))
        left = _smin(b, b.sub(cols, j0), _i64(COLS))
        with b.if_else(contiguous) as (rows_, columns):
            with rows_:  # B's rows are contiguous: vector copies
                masks = [_lane_mask(b, _smin(b, b.sub(left, _i64(v * LANES)) if v else left,
                                             _i64(LANES))) for v in range(VECTORS)]
                with for_range(b, kc) as p:
                    line = _gep(b, src, b.add(b.mul(p, rsb), j0))
                    for v in range(VECTORS):
                        x = b.call(mod.masked_load, [_gep(b, line, _i64(v * LANES)), _i32(4),
                                                     masks[v], zero])
                        b.store(x, _gep(b, panel, b.add(b.mul(p, _i64(COLS)),
                                                        _i64(v * LANES))), align=64)
            with columns:  # a transposed B (rsb 1): its columns are contiguous along p
                b.call(mod.transpose, [panel, _i64(COLS), _gep(b, src, b.mul(j0, csb)), csb,
                                       left, kc, _i64(COLS)])


def _pack_a(mod, b, ap, src, csa, rows, kc):
    """``ap[i * KCP + p] = src[i + p * csa]`` for i < rows, p < kc: a transposed A (row
    stride 1), whose columns are contiguous along i."""
    padded = b.mul(b.sdiv(b.add(kc, _i64(LANES - 1)), _i64(LANES)), _i64(LANES))
    b.call(mod.transpose, [ap, _i64(KCP), src, csa, kc, rows, padded])


def _take_workspace(mod, b):
    """A workspace of ``WORK_BYTES`` from a free slot, or a fresh one."""
    found = b.alloca(PTR)
    b.store(ir.Constant(PTR, None), found)
    for s in range(SLOTS):
        with b.if_then(b.icmp_unsigned("==", b.load(found, typ=PTR), ir.Constant(PTR, None))):
            slot = b.gep(mod.slots, [_i32(0), _i32(s)], inbounds=True,
                         source_etype=mod.slots.value_type)
            b.store(b.atomic_rmw("xchg", slot, ir.Constant(PTR, None), "acquire"), found)
    with b.if_then(b.icmp_unsigned("==", b.load(found, typ=PTR), ir.Constant(PTR, None))):
        b.store(b.call(mod.malloc, [_i64(64), _i64(WORK_BYTES)]), found)
    return b.load(found, typ=PTR)


def _give_back(mod, b, work):
    """Returns ``work`` to a free slot, or frees it."""
    held = b.alloca(PTR)
    b.store(work, held)
    null = ir.Constant(PTR, None)
    for s in range(SLOTS):
        with b.if_then(b.icmp_unsigned("!=", b.load(held, typ=PTR), null)):
            slot = b.gep(mod.slots, [_i32(0), _i32(s)], inbounds=True,
                         source_etype=mod.slots.value_type)
            swapped = b.cmpxchg(slot, null, b.load(held, typ=PTR), "acq_rel", "monotonic")
            with b.if_then(b.extract_value(swapped, 1)):
                b.store(null, held)
    with b.if_then(b.icmp_unsigned("!=", b.load(held, typ=PTR), null)):
        b.call(mod.free, [b.load(held, typ=PTR)])


def _scale(b, m, n, beta, c, ldc):
    """C = beta * C (beta 0: zeros, C not read)."""
    zero = b.fcmp_unordered("==", beta, ir.Constant(F32, 0.0))
    with for_range(b, m) as i:
        line = _gep(b, c, b.mul(i, ldc))
        with for_range(b, n) as j:
            at = _gep(b, line, j)
            with b.if_else(zero) as (clear, scale):
                with clear:
                    b.store(ir.Constant(F32, 0.0), at)
                with scale:
                    b.store(b.fmul(b.load(at, typ=F32), beta), at)


def _row_major(mod, kernels):
    """``rm(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc)``: C (row-major, ``ldc``)
    = alpha * A @ B + beta * C, with A's element (i, p) at ``a[i rsa + p csa]`` and B's (p, j)
    at ``b[p rsb + j csb]``."""
    fn, b = mod.function("funcjax_sgemm_rm", [I64, I64, I64, F32, PTR, I64, I64, PTR, I64, I64,
                                              F32, PTR, I64])
    m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc = fn.args
    for arg in (a, bm, c):
        arg.add_attribute("noalias")
    with b.if_then(b.or_(b.icmp_signed("<=", m, _i64(0)), b.icmp_signed("<=", n, _i64(0)))):
        b.ret_void()
    only_scale = b.or_(b.icmp_signed("<=", k, _i64(0)),
                       b.fcmp_ordered("==", alpha, ir.Constant(F32, 0.0)))
    with b.if_then(only_scale):
        _scale(b, m, n, beta, c, ldc)
        b.ret_void()
    work = _take_workspace(mod, b)
    bp, ap = work, _gep(b, work, _i64(B_FLOATS))
    direct = b.icmp_signed("==", csa, _i64(1))  # A's rows contiguous: read in place
    passes = b.sdiv(b.add(k, _i64(KC - 1)), _i64(KC))
    kb = b.sdiv(b.add(k, b.sub(passes, _i64(1))), passes)
    block = b.select(direct, m, _i64(MC))
    with for_range(b, k, step=kb) as pc:
        kc = _smin(b, kb, b.sub(k, pc))
        pass_beta = b.select(b.icmp_signed("==", pc, _i64(0)), beta, ir.Constant(F32, 1.0))
        with for_range(b, m, step=block) as ic:
            mc = _smin(b, block, b.sub(m, ic))
            a_block = _gep(b, a, b.add(b.mul(ic, rsa), b.mul(pc, csa)))
            with b.if_then(b.not_(direct)):
                _pack_a(mod, b, ap, a_block, csa, mc, kc)
            with for_range(b, n, step=NC) as jc:
                nc = _smin(b, _i64(NC), b.sub(n, jc))
                _pack_b(mod, b, bp, _gep(b, bm, b.add(b.mul(pc, rsb), b.mul(jc, csb))), rsb,
                        csb, kc, nc)
                with for_range(b, mc, step=ROWS) as ir_:
                    rows = _smin(b, _i64(ROWS), b.sub(mc, ir_))
                    a_tile = b.select(direct, _gep(b, a_block, b.mul(ir_, rsa)),
                                      _gep(b, ap, b.mul(ir_, _i64(KCP))))
                    a_stride = b.select(direct, rsa, _i64(KCP))
                    with for_range(b, nc, step=COLS) as jr:
                        cols = _smin(b, _i64(COLS), b.sub(nc, jr))
                        c_tile = _gep(b, c, b.add(b.mul(b.add(ic, ir_), ldc), b.add(jc, jr)))
                        args = [kc, a_tile, a_stride, _gep(b, bp, b.mul(jr, kc)), c_tile, ldc,
                                alpha, pass_beta]
                        masks = [_lane_mask(b, b.sub(cols, _i64(v * LANES)))
                                 for v in range(VECTORS)]
                        _call_kernel(b, kernels, rows, cols, args, masks)
    _give_back(mod, b, work)
    b.ret_void()
    return fn


def _call_kernel(b, kernels, rows, cols, args, masks):
    """The kernel for a tile of ``rows`` x ``cols``: 6 x 64 inside, 6 x 16/32/48 on the right
    edge, fewer rows (64 columns, masked) on the bottom edge."""
    full = ir.Constant(MASK, [1] * LANES)
    with b.if_else(b.icmp_signed("==", rows, _i64(ROWS)), likely=True) as (tall, short):
        with tall:
            with b.if_else(b.icmp_signed("==", cols, _i64(COLS)), likely=True) as (whole, edge):
                with whole:
                    b.call(kernels[ROWS, VECTORS], args + [full] * VECTORS)
                with edge:
                    vectors = b.sdiv(b.add(cols, _i64(LANES - 1)), _i64(LANES))
                    for v in range(1, VECTORS + 1):
                        with b.if_then(b.icmp_signed("==", vectors, _i64(v))):
                            b.call(kernels[ROWS, v], args + masks[:v])
        with short:
            for r in range(1, ROWS):
                with b.if_then(b.icmp_signed("==", rows, _i64(r))):
                    b.call(kernels[r, VECTORS], args + masks)


def _entry(mod, row_major):
    """``funcjax_sgemm``: ``cblas_sgemm``'s arguments (ILP64 sizes, as numpy's OpenBLAS)."""
    fn, b = mod.function(ENTRY, [I32, I32, I32, I64, I64, I64, F32, PTR, I64, PTR, I64, F32,
                                 PTR, I64], internal=False)
    order, ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc = fn.args

    def strides(trans, ld):  # (row, column) strides of op(X), or of op(X)^T in column major
        flipped = b.icmp_signed("!=", trans, _i32(_NO_TRANS))
        return b.select(flipped, _i64(1), ld), b.select(flipped, ld, _i64(1))
    (rsa, csa), (rsb, csb) = strides(ta, lda), strides(tb, ldb)
    with b.if_else(b.icmp_signed("==", order, _i32(_ROW_MAJOR))) as (rows, columns):
        with rows:
            b.call(row_major, [m, n, k, alpha, a, rsa, csa, bm, rsb, csb, beta, c, ldc])
        with columns:  # column-major C is row-major C^T = op(B)^T op(A)^T
            b.call(row_major, [n, m, k, alpha, bm, rsb, csb, a, rsa, csa, beta, c, ldc])
    b.ret_void()


def ir_text():
    """The module: the micro-kernels, the blocked product and the cblas-style entry."""
    mod = _Module()
    kernels = {(ROWS, v): _micro_kernel(mod, ROWS, v) for v in range(1, VECTORS + 1)}
    kernels.update({(r, VECTORS): _micro_kernel(mod, r, VECTORS) for r in range(1, ROWS)})
    _entry(mod, _row_major(mod, kernels))
    return str(mod.m)


def supported(features):
    """Whether a CPU with LLVM's feature string ``features`` has AVX-512 (the kernel's 24
    accumulators need its 32 vector registers)."""
    return "+avx512f" in features.split(",")
