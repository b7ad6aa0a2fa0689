"""Host calls: compiled code that calls back into a primitive's numpy ``impl``.

Two kinds of equation lower this way:

- the matrix decompositions (cholesky, lu, qr, eigh, svd, eig, triangular_solve): their impls
  already run LAPACK, and an O(n^3) factorisation dwarfs the microseconds a callback costs,
  so compiled code matches numpy's own speed without re-deriving LAPACK's calling details;
- every equation that touches complex values (``outline_complex`` moves them into
  ``host_call`` equations before lowering): the generated loops compute in real registers
  only, so complex arithmetic runs as numpy would run it, each op over whole arrays. Complex
  matmul is one ``zgemm``/``cgemm`` call this way.

The callback is a ctypes function registered under a fresh symbol (``llvm.add_symbol``);
the object code refers to it by name only, so a cached object loaded later binds to the
callback the current process registered while lowering the same IR. It takes one table of
buffer pointers whose shapes and dtypes were fixed at lowering time. Literal operands are
baked into the callback, never read from memory.
"""

import ctypes
import itertools
import logging

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import types
from funcjax.backend.llvm.lowering import register
from funcjax.core import dtypes
from funcjax.core.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, jaxprs_in
from funcjax.core.primitive import Primitive
from funcjax.ops import complex_ops as cx
from funcjax.ops import linalg, linalg_spectral

logger = logging.getLogger("funcjax")
_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_callbacks = {}  # symbol -> ctypes function object (kept alive for the process)
_names = itertools.count()


def _as_array(address, aval):
    if aval.size == 0:
        return np.empty(aval.shape, aval.dtype)
    raw = (ctypes.c_char * aval.nbytes).from_address(address)
    return np.frombuffer(raw, aval.dtype).reshape(aval.shape)


def _make_callback(impl, params, in_avals, out_avals, literals, multiple_results):
    """The Python side: wrap the buffers, run ``impl``, copy its results out."""
    n_in, n_out = len(in_avals), len(out_avals)

    def run(table):
        ptrs = (ctypes.c_void_p * (n_in + n_out)).from_address(table)
        ins = iter(_as_array(ptrs[k], a) for k, a in enumerate(in_avals))
        outs = [_as_array(ptrs[n_in + k], a) for k, a in enumerate(out_avals)]
        args = [literals[k] if k in literals else next(ins)
                for k in range(n_in + len(literals))]
        try:
            results = impl(*args, **params)
            results = list(results) if multiple_results else [results]
            for out, res in zip(outs, results):
                np.copyto(out, np.asarray(res).astype(out.dtype, copy=False))
        except Exception:  # a callback must not unwind into native code
            logger.exception("funcjax: a host call from compiled code failed; its outputs are "
                             "NaN (or 0)")
            for out in outs:
                out[...] = np.nan if dtypes.is_inexact(out.dtype) else 0
    return run


def emit_host_call(ctx, impl, params, eqn, ins, outs, multiple_results):
    """Emits a call of ``impl(*inputs, **params)`` writing into ``outs`` (Buffers)."""
    literals = {k: np.asarray(x.val, x.aval.dtype) for k, x in enumerate(eqn.inputs)
                if isinstance(x, Literal)}
    buffers = [ctx.as_buffer(v) for k, v in enumerate(ins) if k not in literals] + list(outs)
    in_avals = [v.aval for k, v in enumerate(ins) if k not in literals]
    fn = _CALLBACK(_make_callback(impl, params, in_avals, [o.aval for o in outs], literals,
                                  multiple_results))
    symbol = f"funcjax_host_{next(_names)}"
    _callbacks[symbol] = fn
    llvm.add_symbol(symbol, ctypes.cast(fn, ctypes.c_void_p).value)
    b = ctx.b
    with b.goto_block(ctx.alloca_block):
        table = b.alloca(types.PTR, size=types.i64(len(buffers)), name="host_args")
    for k, buf in enumerate(buffers):
        b.store(buf.ptr, b.gep(table, [types.i64(k)], inbounds=True, source_etype=types.PTR))
    callee = ctx.extern(symbol, ir.VoidType(), [types.PTR], pure=False)
    b.call(callee, [table])


# -- the decompositions and the complex-only primitives --------------------------------------
@register("buffer", linalg.cholesky_p, linalg.triangular_solve_p, linalg.lu_p,
          linalg.lu_pivots_to_permutation_p,
          linalg_spectral.qr_p, linalg_spectral.eigh_p, linalg_spectral.svd_p,
          linalg_spectral.eig_p, cx.real_p, cx.imag_p, cx.conj_p, cx.complex_p)
def _host_rule(ctx, eqn, ins, outs):
    prim = eqn.primitive
    emit_host_call(ctx, prim.rule("impl"), eqn.params, eqn, ins, outs, prim.multiple_results)


# -- equations on complex values -------------------------------------------------------------
host_call_p = Primitive("host_call", multiple_results=True)
host_call_p.def_impl(lambda *args, prim, params: _as_list(prim, prim.rule("impl")(*args,
                                                                                  **params)))
host_call_p.def_abstract_eval(lambda *avals, prim, params: _as_list(
    prim, prim.rule("abstract_eval")(*avals, **params)))


def _as_list(prim, out):
    return list(out) if prim.multiple_results else [out]


def _delegate_jvp(primals, tangents, *, prim, params):
    out, tangent = prim.rule("jvp")(primals, tangents, **params)
    return _as_list(prim, out), _as_list(prim, tangent)


def _delegate_batch(axis_data, args, dims, *, prim, params):
    out, out_dims = prim.rule("batch")(axis_data, args, dims, **params)
    return _as_list(prim, out), _as_list(prim, out_dims)


host_call_p.def_jvp(_delegate_jvp)
host_call_p.def_batch(_delegate_batch)
host_call_p.def_cost(lambda in_avals, out_avals, *, prim, params: prim.rule("cost")(
    in_avals, out_avals, **params))


@register("buffer", host_call_p)
def _host_call(ctx, eqn, ins, outs):
    prim, params = eqn.params["prim"], eqn.params["params"]
    emit_host_call(ctx, prim.rule("impl"), params, eqn, ins, outs, prim.multiple_results)


def _is_complex(atom):
    return dtypes.is_complex(atom.aval.dtype)


def _touches_complex(jaxpr):
    return any(_is_complex(v) for v in jaxpr.invars + jaxpr.constvars) or any(
        any(map(_is_complex, eqn.inputs + eqn.outputs))
        or any(_touches_complex(j) for j in jaxprs_in(eqn.params)) for eqn in jaxpr.eqns)


def outline_complex(closed):
    """``closed`` with every equation that touches complex values (directly or in its
    sub-jaxprs) replaced by a ``host_call`` of it; ``closed`` itself if there is none."""
    jaxpr = closed.jaxpr
    if not _touches_complex(jaxpr):
        return closed
    eqns = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.rule("lower").fn is not _host_rule and (
                any(map(_is_complex, eqn.inputs + eqn.outputs))
                or any(_touches_complex(j) for j in jaxprs_in(eqn.params))):
            eqn = Eqn(host_call_p, eqn.inputs, dict(prim=eqn.primitive, params=eqn.params),
                      eqn.outputs, eqn.source_info)
        eqns.append(eqn)
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars), closed.consts)
