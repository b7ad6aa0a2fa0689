"""Lowering of the matrix decompositions: compiled code calls LAPACK directly.

The library is the OpenBLAS numpy's wheel bundles (ILP64, ``scipy_``-prefixed symbols, found
as ``blas`` finds gemm), so a jitted ``cholesky`` or ``eigh`` costs what the LAPACK routine
costs, with no trip through Python, and float32 is computed in float32 (numpy's own linalg
computes it in float64). The routines and how row-major buffers meet column-major LAPACK:

- cholesky: ``?potrf`` in place on a copy, ``uplo='U'`` on the row-major buffer (its upper
  triangle, column-major, is our lower one); NaN below the diagonal where it fails, as JAX.
  With symmetrize_input the copy is the lower triangle of ``(a + a^H) / 2``, built in place.
- triangular_solve: CBLAS ``?trsm`` in row-major order, in place on a copy of ``b``.
- lu: ``?getrf`` on a transposed copy, transposed back; pivots and permutation in loops.
- solve's getrf/getrs: ``?getrf`` on a plain copy (LAPACK factors ``a^T``), then ``?getrs``
  with trans='T' on a copy of ``b``: no transposes of ``a``; b goes through a transposed copy
  only when it has more than one column.
- qr: ``?geqrf`` then ``?orgqr``/``?ungqr`` on a transposed copy.
- eigh: ``?syevd``/``?heevd`` on a transposed copy, or with symmetrize_input on the upper
  triangle of ``(a + a^H) / 2`` built in LAPACK's layout.
- svd: ``?gesdd`` on a plain copy (LAPACK reads ``a^T``), writing ``U`` and ``V^H``
  straight into the outputs.

The eager impls (``ops/lapack``) make the same calls on the same copies, so jit and eager
agree to the bit.

Transposes and copies are CBLAS ``?omatcopy``. Workspace sizes come from a query call
(``lwork=-1``) made in Python at lowering time; the workspaces are scratch buffers of the
arena. Anything else (``eig``, ``conjugate_a`` without ``transpose_a``, empty matrices, no
bundled OpenBLAS) runs its numpy impl through a host call (``host_call``).
"""

import math

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import blas, host_call, types
from funcjax.backend.llvm.loops import for_range, loop_nest
from funcjax.backend.llvm.lowering import register
from funcjax.core.abstract import ShapedArray
from funcjax.ops import lapack, linalg, linalg_spectral

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_LEFT, _RIGHT, _UPPER, _LOWER, _NON_UNIT, _UNIT = 141, 142, 121, 122, 131, 132
_CONJ_TRANS = 113
_PREFIX = lapack.PREFIX
_I32 = ir.IntType(32)


def _float_type(dtype):
    return types.F32 if lapack.real_dtype(dtype).itemsize == 4 else types.F64


class _Emitter:
    """Emits LAPACK/CBLAS calls and small loops for one equation, one matrix at a time."""

    def __init__(self, ctx, dtype):
        self.ctx, self.b, self.dtype = ctx, ctx.b, np.dtype(dtype)
        self.p = _PREFIX[self.dtype]

    def fortran(self, name, *args):
        """``name(args)`` with Fortran conventions (see ``_query``); ``args`` are Python ints,
        one-letter strings, LLVM i64 values (passed by reference) or pointers."""
        b, refs, chars = self.b, [], 0
        for a in args:
            if isinstance(a, str):
                slot = self.ctx.alloca(types.I8)
                b.store(ir.Constant(types.I8, ord(a)), slot)
                chars += 1
            elif isinstance(a, int) or a.type == types.I64:
                slot = self.ctx.alloca(types.I64)
                b.store(types.i64(a) if isinstance(a, int) else a, slot)
            else:
                slot = a
            refs.append(slot)
        self.ctx.call(lapack.fortran_symbol(name), ir.VoidType(), refs + [types.i64(1)] * chars,
                      pure=False)

    def info(self):
        return self.ctx.alloca(types.I64, "info")

    def scalar_one(self):
        """1 for CBLAS's alpha: by value for real types, by address for complex ones."""
        ft = _float_type(self.dtype)
        if self.dtype.kind != "c":
            return ir.Constant(ft, 1.0)
        pair = ir.ArrayType(ft, 2)
        slot = self.ctx.alloca(pair)
        self.b.store(ir.Constant(pair, [1.0, 0.0]), slot)
        return slot

    def omatcopy(self, trans, rows, cols, src, lda, dst, ldb):
        """dst = op(src) for a row-major ``rows x cols`` src (CBLAS ``?omatcopy``)."""
        one = self.scalar_one()
        args = [ir.Constant(_I32, _ROW_MAJOR), ir.Constant(_I32, trans), types.i64(rows),
                types.i64(cols), one, src, types.i64(lda), dst, types.i64(ldb)]
        self.ctx.call(f"scipy_cblas_{self.p}omatcopy64_", ir.VoidType(), args, pure=False)

    def at(self, buf, t, per_matrix):
        """The address of matrix ``t`` of ``buf`` (``per_matrix`` elements each)."""
        nbytes = per_matrix * buf.aval.dtype.itemsize
        return self.b.gep(buf.ptr, [self.b.mul(t, types.i64(nbytes))], inbounds=True,
                          source_etype=types.I8)

    def scratch(self, shape, dtype=None):
        return self.ctx.scratch(ShapedArray(tuple(shape), np.dtype(dtype or self.dtype)),
                                "lapack")

    def matrices(self, aval):
        return math.prod(aval.shape[:-2])


def _supported(*avals):
    return all(a.dtype in _PREFIX and a.size for a in avals) and blas.available()


def _fallback(ctx, eqn, ins, outs):
    prim = eqn.primitive
    host_call.emit_host_call(ctx, prim.rule("impl"), eqn.params, eqn, ins, outs,
                             prim.multiple_results)


def _copy(ctx, e, value, out):
    """``out = value`` (fused loops for real values, one ``omatcopy`` for complex buffers)."""
    if value.aval.dtype.kind != "c":
        ctx.materialize(value, out)
        return
    src = ctx.as_buffer(value)
    cols = value.aval.shape[-1] if value.aval.ndim else 1
    e.omatcopy(_NO_TRANS, value.aval.size // cols, cols, src.ptr, cols, out.ptr, cols)


def _nan_constant(dtype):
    return types.const(lapack.real_dtype(dtype), np.nan)


def _store_element(e, buf, linear, value_real):
    """Stores a real value (imaginary part 0) at linear element ``linear`` of ``buf``."""
    b = e.b
    ft = _float_type(buf.aval.dtype)
    if buf.aval.dtype.kind == "c":
        ptr = b.gep(buf.ptr, [b.mul(linear, types.i64(2))], inbounds=True, source_etype=ft)
        b.store(value_real, ptr)
        b.store(ir.Constant(ft, 0.0), b.gep(ptr, [types.i64(1)], inbounds=True,
                                            source_etype=ft))
    else:
        b.store(value_real, b.gep(buf.ptr, [linear], inbounds=True, source_etype=ft))


# -- cholesky ----------------------------------------------------------------------------
_TILE = 16


def _symmetrize_lower(e, src, dst, n, conjugate=False):
    """``dst = (a + a^H) / 2`` (or its conjugate) on and below the diagonal, from the matrix
    ``a`` at ``src``: real and imaginary parts halved separately as ``lapack.symmetrized``
    does. In tiles of _TILE x _TILE: the column reads a^H needs would otherwise stride by a
    power of two and thrash the cache."""
    b, ft = e.b, _float_type(e.dtype)
    parts = 2 if e.dtype.kind == "c" else 1
    half = ir.Constant(ft, 0.5)

    def element(ptr, row, col, part):
        linear = b.add(b.mul(row, types.i64(n)), col)
        return b.gep(ptr, [b.add(b.mul(linear, types.i64(parts)), types.i64(part))],
                     inbounds=True, source_etype=ft)

    def smaller(x, y):
        return b.select(b.icmp_signed("<", x, y), x, y)
    tile = types.i64(_TILE)
    with for_range(b, n, step=_TILE) as i0, for_range(b, b.add(i0, tile), step=_TILE) as j0:
        with for_range(b, smaller(b.add(i0, tile), types.i64(n)), i0) as i:
            with for_range(b, smaller(b.add(j0, tile), b.add(i, types.i64(1))), j0) as j:
                for part in range(parts):  # the imaginary part of a^H is negated
                    x = b.load(element(src, i, j, part), typ=ft)
                    y = b.load(element(src, j, i, part), typ=ft)
                    total = (b.fsub(y, x) if conjugate else b.fsub(x, y)) if part else \
                        b.fadd(x, y)
                    b.store(b.fmul(total, half), element(dst, i, j, part))


@register("buffer", linalg.cholesky_p)
def _cholesky(ctx, eqn, ins, outs):
    (a,), (out,) = ins, outs
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    b = e.b
    n = a.aval.shape[-1]
    symmetrize = eqn.params["symmetrize_input"]
    if symmetrize:
        a = ctx.as_buffer(a)
    else:
        _copy(ctx, e, a, out)
    info = e.info()
    ft = _float_type(e.dtype)
    nan, zero = _nan_constant(e.dtype), ir.Constant(ft, 0.0)
    with for_range(b, e.matrices(out.aval)) as t:
        base = b.mul(t, types.i64(n * n))
        if symmetrize:
            _symmetrize_lower(e, e.at(a, t, n * n), e.at(out, t, n * n), n)
        e.fortran(e.p + "potrf", "U", n, e.at(out, t, n * n), n, info)
        with for_range(b, n) as i:  # zeros above the diagonal
            row = b.add(base, b.mul(i, types.i64(n)))
            with for_range(b, n, b.add(i, types.i64(1))) as j:
                _store_element(e, out, b.add(row, j), zero)
        with b.if_then(b.icmp_signed("!=", b.load(info), types.i64(0))):
            with for_range(b, n) as i:  # NaN on and below it where the factorisation failed
                row = b.add(base, b.mul(i, types.i64(n)))
                with for_range(b, b.add(i, types.i64(1))) as j:
                    _store_element(e, out, b.add(row, j), nan)


# -- triangular_solve --------------------------------------------------------------------
@register("buffer", linalg.triangular_solve_p)
def _triangular_solve(ctx, eqn, ins, outs):
    (a, rhs), (out,) = ins, outs
    p = eqn.params
    if not _supported(a.aval, rhs.aval) or (p["conjugate_a"] and not p["transpose_a"]):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, rhs.aval.dtype)
    b = e.b
    a = ctx.as_buffer(a)
    _copy(ctx, e, rhs, out)
    m, n = rhs.aval.shape[-2:]
    k = a.aval.shape[-1]
    trans = (_CONJ_TRANS if p["conjugate_a"] else _TRANS) if p["transpose_a"] else _NO_TRANS
    one = e.scalar_one()
    with for_range(b, e.matrices(rhs.aval)) as t:
        args = [ir.Constant(_I32, c) for c in (
            _ROW_MAJOR, _LEFT if p["left_side"] else _RIGHT, _LOWER if p["lower"] else _UPPER,
            trans, _UNIT if p["unit_diagonal"] else _NON_UNIT)]
        args += [types.i64(m), types.i64(n), one, e.at(a, t, k * k), types.i64(k),
                 e.at(out, t, m * n), types.i64(n)]
        ctx.call(f"scipy_cblas_{e.p}trsm64_", ir.VoidType(), args, pure=False)


# -- lu ----------------------------------------------------------------------------------
@register("buffer", linalg.lu_p)
def _lu(ctx, eqn, ins, outs):
    (a,), (lu, pivots, perm) = ins, outs
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    b = e.b
    m, n = a.aval.shape[-2:]
    k = min(m, n)
    a = ctx.as_buffer(a)
    col = e.scratch((m * n,))
    ipiv = e.scratch((k,), np.int64)
    info = e.info()
    i32 = types.compute_type(np.int32)
    with for_range(b, e.matrices(a.aval)) as t:
        e.omatcopy(_TRANS, m, n, e.at(a, t, m * n), n, col.ptr, m)
        e.fortran(e.p + "getrf", m, n, col.ptr, m, ipiv.ptr, info)
        e.omatcopy(_TRANS, n, m, col.ptr, m, e.at(lu, t, m * n), n)
        piv_t, perm_t = e.at(pivots, t, k), e.at(perm, t, m)
        with for_range(b, m) as i:
            b.store(b.trunc(i, i32), b.gep(perm_t, [i], source_etype=i32))
        with for_range(b, k) as i:  # LAPACK's 1-based row swaps, applied in order
            j = b.sub(b.load(b.gep(ipiv.ptr, [i], source_etype=types.I64), typ=types.I64),
                      types.i64(1))
            b.store(b.trunc(j, i32), b.gep(piv_t, [i], source_etype=i32))
            pi, pj = b.gep(perm_t, [i], source_etype=i32), b.gep(perm_t, [j], source_etype=i32)
            vi, vj = b.load(pi, typ=i32), b.load(pj, typ=i32)
            b.store(vj, pi)
            b.store(vi, pj)


# -- getrf / getrs (solve) ------------------------------------------------------------
def _pivots_between(e, ipiv, pivots_t, n, to_lapack):
    """Copies n pivots between LAPACK's 1-based int64 ``ipiv`` and our 0-based int32 ones."""
    b, i32 = e.b, types.compute_type(np.int32)
    with for_range(b, n) as i:
        ours, theirs = b.gep(pivots_t, [i], source_etype=i32), b.gep(ipiv.ptr, [i],
                                                                      source_etype=types.I64)
        if to_lapack:
            b.store(b.add(b.sext(b.load(ours, typ=i32), types.I64), types.i64(1)), theirs)
        else:
            b.store(b.trunc(b.sub(b.load(theirs, typ=types.I64), types.i64(1)), i32), ours)


@register("buffer", linalg.getrf_p)
def _getrf(ctx, eqn, ins, outs):
    (a,), (lu, pivots) = ins, outs
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    n = a.aval.shape[-1]
    _copy(ctx, e, a, lu)
    ipiv, info = e.scratch((n,), np.int64), e.info()
    with for_range(e.b, e.matrices(a.aval)) as t:
        e.fortran(e.p + "getrf", n, n, e.at(lu, t, n * n), n, ipiv.ptr, info)
        _pivots_between(e, ipiv, e.at(pivots, t, n), n, to_lapack=False)


@register("buffer", linalg.getrs_p)
def _getrs(ctx, eqn, ins, outs):
    (_, lu, pivots, rhs), (out,) = ins, outs
    if not _supported(lu.aval, rhs.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, rhs.aval.dtype)
    n, k = rhs.aval.shape[-2:]
    lu, pivots = ctx.as_buffer(lu), ctx.as_buffer(pivots)
    ipiv, info = e.scratch((n,), np.int64), e.info()
    trans = "N" if eqn.params["transpose"] else "T"  # the factors are of a^T
    if k == 1:  # one column: row-major is column-major
        _copy(ctx, e, rhs, out)
    else:
        rhs, col = ctx.as_buffer(rhs), e.scratch((n * k,))
    with for_range(e.b, e.matrices(rhs.aval)) as t:
        _pivots_between(e, ipiv, e.at(pivots, t, n), n, to_lapack=True)
        lu_t, out_t = e.at(lu, t, n * n), e.at(out, t, n * k)
        if k == 1:
            e.fortran(e.p + "getrs", trans, n, 1, lu_t, n, ipiv.ptr, out_t, n, info)
        else:
            e.omatcopy(_TRANS, n, k, e.at(rhs, t, n * k), k, col.ptr, n)
            e.fortran(e.p + "getrs", trans, n, k, lu_t, n, ipiv.ptr, col.ptr, n, info)
            e.omatcopy(_TRANS, k, n, col.ptr, n, out_t, k)


# -- qr ----------------------------------------------------------------------------------
@register("buffer", linalg_spectral.qr_p)
def _qr(ctx, eqn, ins, outs):
    (a,), (q, r) = ins, outs
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    b = e.b
    m, n = a.aval.shape[-2:]
    k, kq = min(m, n), q.aval.shape[-1]
    a = ctx.as_buffer(a)
    col = e.scratch((m * max(n, kq),))
    tau = e.scratch((k,))
    (lw1,) = lapack.work_sizes("geqrf", e.dtype, m, n)
    (lw2,) = lapack.work_sizes("orgqr", e.dtype, m, kq, k)
    work = e.scratch((max(lw1, lw2),))
    info = e.info()
    ft = _float_type(e.dtype)
    zero = ir.Constant(ft, 0.0)
    with for_range(b, e.matrices(a.aval)) as t:
        e.omatcopy(_TRANS, m, n, e.at(a, t, m * n), n, col.ptr, m)
        e.fortran(e.p + "geqrf", m, n, col.ptr, m, tau.ptr, work.ptr, lw1, info)
        r_t = e.at(r, t, kq * n)
        e.omatcopy(_TRANS, n, k, col.ptr, m, r_t, n)  # R's rows are the first k of col^T
        with loop_nest(b, (kq, min(kq, n))) as (i, j):  # zeros below the diagonal
            with b.if_then(b.icmp_signed("<", j, i)):
                linear = b.add(b.mul(t, types.i64(kq * n)), b.add(b.mul(i, types.i64(n)), j))
                _store_element(e, r, linear, zero)
        e.fortran(lapack.orgqr_name(e.dtype), m, kq, k, col.ptr, m,
                  tau.ptr, work.ptr, lw2, info)
        e.omatcopy(_TRANS, kq, m, col.ptr, m, e.at(q, t, m * kq), kq)


# -- eigh --------------------------------------------------------------------------------
@register("buffer", linalg_spectral.eigh_p)
def _eigh(ctx, eqn, ins, outs):
    (a,), (v, w) = ins, outs
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    b = e.b
    n = a.aval.shape[-1]
    a = ctx.as_buffer(a)
    lwork, lrwork, liwork = lapack.work_sizes("syevd", e.dtype, n)
    col = e.scratch((n * n,))
    work, iwork = e.scratch((lwork,)), e.scratch((liwork,), np.int64)
    rwork = e.scratch((lrwork,), lapack.real_dtype(e.dtype))
    info = e.info()
    symmetrize = eqn.params.get("symmetrize_input", False)
    uplo = "L" if eqn.params.get("lower", True) and not symmetrize else "U"
    with for_range(b, e.matrices(a.aval)) as t:
        if symmetrize:  # the conjugate's lower triangle is, column-major, the upper one
            _symmetrize_lower(e, e.at(a, t, n * n), col.ptr, n, conjugate=True)
        else:
            e.omatcopy(_TRANS, n, n, e.at(a, t, n * n), n, col.ptr, n)
        w_t = e.at(w, t, n)
        if e.dtype.kind == "c":
            e.fortran(e.p + "heevd", "V", uplo, n, col.ptr, n, w_t, work.ptr, lwork,
                      rwork.ptr, lrwork, iwork.ptr, liwork, info)
        else:
            e.fortran(e.p + "syevd", "V", uplo, n, col.ptr, n, w_t, work.ptr, lwork,
                      iwork.ptr, liwork, info)
        e.omatcopy(_TRANS, n, n, col.ptr, n, e.at(v, t, n * n), n)


# -- svd ---------------------------------------------------------------------------------
@register("buffer", linalg_spectral.svd_p)
def _svd(ctx, eqn, ins, outs):
    """LAPACK reads the row-major ``a`` as ``a^T = V S U^T``, whose factors it writes
    column-major, which row-major is ``V^H`` and ``U``: straight into the outputs."""
    (a,), s = ins, outs[0]
    if not _supported(a.aval):
        return _fallback(ctx, eqn, ins, outs)
    e = _Emitter(ctx, a.aval.dtype)
    b = e.b
    m, n = a.aval.shape[-2:]
    k = min(m, n)
    compute_uv, full = eqn.params["compute_uv"], eqn.params["full_matrices"]
    jobz = ("A" if full else "S") if compute_uv else "N"
    ku, kv = (m, n) if full else (k, k)
    a = ctx.as_buffer(a)
    lwork, lrwork, liwork = lapack.work_sizes("gesdd", e.dtype, n, m, jobz)
    copy = e.scratch((m * n,))
    work, iwork = e.scratch((max(lwork, 1),)), e.scratch((liwork,), np.int64)
    rwork = e.scratch((max(lrwork, 1),), lapack.real_dtype(e.dtype))
    dummy = e.scratch((1,))
    info = e.info()
    with for_range(b, e.matrices(a.aval)) as t:
        e.omatcopy(_NO_TRANS, m, n, e.at(a, t, m * n), n, copy.ptr, n)
        if compute_uv:  # a^T's left vectors are V^H's rows, its right ones U's columns
            uv = [e.at(outs[2], t, kv * n), n, e.at(outs[1], t, m * ku), ku]
        else:
            uv = [dummy.ptr, 1, dummy.ptr, 1]
        args = [jobz, n, m, copy.ptr, n, e.at(s, t, k), *uv, work.ptr, max(lwork, 1)]
        args += [rwork.ptr] if e.dtype.kind == "c" else []
        e.fortran(e.p + "gesdd", *args, iwork.ptr, info)


host_call.NATIVE_COMPLEX.update([linalg.cholesky_p, linalg.triangular_solve_p, linalg.lu_p,
                                 linalg.getrf_p, linalg.getrs_p,
                                 linalg_spectral.qr_p, linalg_spectral.eigh_p,
                                 linalg_spectral.svd_p])
