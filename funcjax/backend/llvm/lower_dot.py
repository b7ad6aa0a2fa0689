"""Lowering of dot_general: BLAS gemm for large float32/float64 products, loops otherwise.

Large float products call numpy's bundled OpenBLAS (``scipy_cblas_?gemm64_``) once per
batch element. An operand already laid out as ``(batch, rows, contraction)`` or its transpose
is passed in place (``CblasTrans`` covers the second case); any other layout is copied into a
scratch buffer first, which costs O(n^2) beside the O(n^3) product. Integer and boolean
products, float16, products with conversions, and small sizes (where a call costs more than
the loop: a small product, or a batch of small ones) use generated loop nests: float products
whose rhs is contiguous along its free axis accumulate output rows on the stack (the inner
loop vectorises along the row), the others accumulate each element in a register.
"""

import math

from llvmlite import ir

from funcjax.backend.llvm import blas, dot_layout, lower_int8_dot, transpose, types
from funcjax.backend.llvm.loops import for_range, index_at, loop_nest
from funcjax.backend.llvm.lower_elementwise import COMPLEX, convert
from funcjax.backend.llvm.lower_shape import remap
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Buffer
from funcjax.core.abstract import ShapedArray
from funcjax.ops.contractions import dot_general_p, free_axes
from funcjax.ops.elementwise import add_p, mul_p

INT8_MIN_FLOPS = 16 ** 3
# output rows accumulated on the stack (``_row_loop_dot``): shorter ones do not fill a vector
# (a matrix-vector product is faster as dot products), longer ones leave the L1 cache
ROW_MIN, ROW_MAX = 8, 4096
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_I32 = ir.IntType(32)


def _layout(ndim, batch, free, contract):
    """The dims of one operand grouped as (batch, free, contract)."""
    return list(batch), list(free), list(contract)


def _size(shape, dims):
    return math.prod(shape[d] for d in dims)


def _loop_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims):
    """out[batch, i, j] = sum_k lhs[batch, i, k] * rhs[batch, k, j] over multi-dim groups."""
    b = ctx.b
    (lb, lf, lc), (rb, rf, rc) = lhs_dims, rhs_dims
    dt = out.aval.dtype
    acc_dt = types.compute_type(dt)
    acc = ctx.alloca(acc_dt, "acc")
    nb, nf = len(lb), len(lf)
    with loop_nest(b, out.aval.shape) as oidx:
        b.store(types.const(dt, 0), acc)
        with loop_nest(b, [lhs.aval.shape[d] for d in lc]) as kidx:
            li = index_at(lhs.aval.ndim, lb + lf + lc, oidx[:nb] + oidx[nb:nb + nf] + kidx)
            ri = index_at(rhs.aval.ndim, rb + rf + rc, oidx[:nb] + oidx[nb + nf:] + kidx)
            x = convert(ctx, lhs.load(li), lhs.aval.dtype, dt)
            y = convert(ctx, rhs.load(ri), rhs.aval.dtype, dt)
            cur = b.load(acc)
            if dt.kind == "c":
                new = COMPLEX[add_p](ctx, dt, cur, COMPLEX[mul_p](ctx, dt, x, y))
            elif dt.kind == "f":
                new = b.fadd(cur, b.fmul(x, y, flags=("contract",)),
                             flags=("reassoc", "contract"))
            elif dt.kind == "b":
                new = b.or_(cur, b.and_(x, y))
            else:
                new = b.add(cur, b.mul(x, y))
            b.store(new, acc)
        result = b.load(acc)
        out.store(oidx, types.round_f16(b, result) if types.is_f16(dt) else result)


def _row_loop_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims):
    """Float products whose rhs is contiguous along a free axis: each output row is
    accumulated in a stack row as ``row[:] += lhs[i, k] * rhs[k, :]`` over k, so the inner
    loop runs along contiguous rows and vectorises (the dot-product order of ``_loop_dot``
    reads rhs with a stride; the stack row cannot alias the operands, an output buffer in
    the workspace could)."""
    b = ctx.b
    (lb, lf, lc), (rb, rf, rc) = lhs_dims, rhs_dims
    dt = out.aval.dtype
    nb, nf = len(lb), len(lf)
    cols = out.aval.shape[nb + nf:]
    with b.goto_block(ctx.alloca_block):
        row_ptr = b.alloca(types.storage_type(dt), size=types.i64(math.prod(cols)), name="row")
    acc = Buffer(b, row_ptr, ShapedArray(cols, dt))
    with loop_nest(b, out.aval.shape[:nb + nf]) as row:
        with loop_nest(b, cols) as col:
            acc.store(col, types.const(dt, 0))
        with loop_nest(b, [lhs.aval.shape[d] for d in lc]) as kidx:
            x = lhs.load(index_at(lhs.aval.ndim, lb + lf + lc, row + kidx))
            with loop_nest(b, cols) as col:
                y = rhs.load(index_at(rhs.aval.ndim, rb + rf + rc, row[:nb] + col + kidx))
                acc.store(col, b.fadd(acc.load(col), b.fmul(x, y, flags=("contract",)),
                                      flags=("contract",)))
        with loop_nest(b, cols) as col:
            out.store(row + col, acc.load(col))


def _in_place(x, first, second, batch):
    """(transposed?, leading dimension) if buffer ``x``'s memory already holds the matrix
    (batch, first, second) or its transpose, else None."""
    rows, cols = _size(x.aval.shape, first), _size(x.aval.shape, second)
    # Axes of length 1 do not move memory: compare the orders without them.
    shape = x.aval.shape
    present = [d for d in range(x.aval.ndim) if shape[d] != 1]

    def order(*groups):
        return [d for group in groups for d in group if shape[d] != 1]
    if order(batch, first, second) == present:
        return False, cols
    if order(batch, second, first) == present:
        return True, rows
    return None


def _gemm_operand(ctx, x, first, second, batch):
    """``x`` as a buffer of shape (batch, first, second) or its transpose; returns
    (buffer, transposed?, leading dimension). A transpose of a buffer (``x.T`` in a
    gradient) is read in place through its source's axes, not copied."""
    if isinstance(x, transpose.Transposed) and isinstance(x.x, Buffer):
        source_axis = x.perm
        found = _in_place(x.x, *([source_axis[d] for d in group]
                                 for group in (first, second, batch)))
        if found is not None:
            source = x.x
            if x.first is not None:  # a block of rows: where its first row starts
                axis, row = x.first
                source = Buffer(ctx.b, source.element(types.i64(
                    row * source.strides[source_axis[axis]])), source.aval)
            return (source, *found)
    if isinstance(x, Buffer) and (found := _in_place(x, first, second, batch)) is not None:
        return (x, *found)
    order = list(batch) + list(first) + list(second)
    aval = ShapedArray([x.aval.shape[d] for d in order], x.aval.dtype)
    if transpose.stageable(x, order):  # a layout change of a buffer: in tiles
        view = transpose.Transposed(ctx, x, aval, order)
        return ctx.as_buffer(view, order.index(x.aval.ndim - 1)), False, _size(
            x.aval.shape, second)
    inverse = [order.index(d) for d in range(x.aval.ndim)]
    view = remap(x, aval, lambda idx: [idx[inverse[d]] for d in range(x.aval.ndim)])
    return ctx.as_buffer(view), False, _size(x.aval.shape, second)


def _batched_gemm(ctx, lhs, rhs, out, lhs_dims, rhs_dims, gemm):
    """Lays both operands out for a gemm (transposed in place where possible) and calls
    ``gemm(a, a_transposed, lda, b, b_transposed, ldb, c, m, n, k)`` per batch element."""
    b = ctx.b
    (lb, lf, lc), (rb, rf, rc) = lhs_dims, rhs_dims
    m, k = _size(lhs.aval.shape, lf), _size(lhs.aval.shape, lc)
    n, batch = _size(rhs.aval.shape, rf), _size(lhs.aval.shape, lb)
    a_buf, a_t, lda = _gemm_operand(ctx, lhs, lf, lc, lb)
    b_buf, b_t, ldb = _gemm_operand(ctx, rhs, rc, rf, rb)
    with for_range(b, batch) as t:
        gemm(a_buf.element(b.mul(t, types.i64(m * k))), a_t, lda,
             b_buf.element(b.mul(t, types.i64(k * n))), b_t, ldb,
             out.element(b.mul(t, types.i64(m * n))), m, n, k)


def _blas_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims, alpha=1.0, beta=0.0):
    """``out = alpha * lhs @ rhs + beta * out`` by gemm (``alpha``/``beta`` real: 1 and 0
    for complex products)."""
    b = ctx.b
    ft = types.compute_type(out.aval.dtype)
    i64, ptr = types.I64, types.PTR
    one, zero = ir.Constant(ft, alpha), ir.Constant(ft, beta)
    if out.aval.dtype.kind == "c":  # cgemm/zgemm take alpha and beta by address
        name = blas.CGEMM if ft == types.C64 else blas.ZGEMM
        one, zero = ctx.alloca(ft, "alpha"), ctx.alloca(ft, "beta")
        b.store(types.const(out.aval.dtype, 1), one)
        b.store(types.const(out.aval.dtype, 0), zero)
        ft = ptr
    else:
        name = blas.SGEMM if ft == types.F32 else blas.DGEMM
    fn = ctx.extern(name, ir.VoidType(), [_I32, _I32, _I32, i64, i64, i64, ft, ptr, i64, ptr,
                                          i64, ft, ptr, i64], pure=False)

    def gemm(a, a_t, lda, b_, b_t, ldb, c, m, n, k):
        b.call(fn, [ir.Constant(_I32, _ROW_MAJOR), ir.Constant(_I32, _TRANS if a_t else _NO_TRANS),
                    ir.Constant(_I32, _TRANS if b_t else _NO_TRANS), types.i64(m), types.i64(n),
                    types.i64(k), one, a, types.i64(lda), b_, types.i64(ldb), zero, c,
                    types.i64(n)])
    _batched_gemm(ctx, lhs, rhs, out, lhs_dims, rhs_dims, gemm)


def _int8_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims):
    """Quantized int8 x int8 -> int32 products: the blocked kernel of ``lower_int8_dot``."""
    _batched_gemm(ctx, lhs, rhs, out, lhs_dims, rhs_dims,
                  lambda a, a_t, _, b_, b_t, __, c, m, n, k:
                  lower_int8_dot.gemm_int8(ctx, a, a_t, b_, b_t, c, m, n, k))


def _dims(eqn, lhs, rhs):
    """The (batch, free, contract) groups of both operands of a product equation."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    return (_layout(lhs.aval.ndim, lb, free_axes(lhs.aval.ndim, lc, lb), lc),
            _layout(rhs.aval.ndim, rb, free_axes(rhs.aval.ndim, rc, rb), rc))


@register("buffer", dot_general_p, rereads=lambda eqn: (0, 1))
def _dot_general(ctx, eqn, ins, outs):
    (lhs, rhs, *c), (out,) = ins, outs
    lhs_dims, rhs_dims = _dims(eqn, lhs, rhs)
    if c:  # ``alpha * lhs @ rhs + beta * c`` (``dot_layout.fold_accumulations``)
        ctx.materialize(c[0], out)
        return _blas_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims, eqn.params["alpha"],
                         eqn.params["beta"])
    dt = out.aval.dtype
    flops = out.aval.size * _size(lhs.aval.shape, lhs_dims[2])
    if lower_int8_dot.applies(lhs.aval.dtype, rhs.aval.dtype, dt) and flops >= INT8_MIN_FLOPS:
        return _int8_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims)
    if dot_layout.uses_gemm(lhs.aval, rhs.aval, out.aval, eqn.params["dimension_numbers"]):
        return _blas_dot(ctx, lhs, rhs, out, lhs_dims, rhs_dims)
    inner = [d for d in range(rhs.aval.ndim) if rhs.aval.shape[d] != 1][-1:]
    rows = (dt.kind == "f" and dt.itemsize >= 4 and lhs.aval.dtype == rhs.aval.dtype == dt
            and inner and inner[0] in rhs_dims[1]
            and ROW_MIN <= _size(rhs.aval.shape, rhs_dims[1]) <= ROW_MAX)
    (_row_loop_dot if rows else _loop_dot)(ctx, lhs, rhs, out, lhs_dims, rhs_dims)

