"""Host calls: compiled code that calls back into a primitive's numpy ``impl``.

Two kinds of equation lower this way:

- ``eig`` and ``lu_pivots_to_permutation`` (the other decompositions call LAPACK from
  compiled code, see ``lower_linalg``; they come back here only without a bundled OpenBLAS);
- the equations on complex values that have no compiled form (``outline_complex`` moves them
  into ``host_call`` equations before lowering): complex arithmetic, math, comparisons,
  reductions, views, dots and sort compile as (re, im) pairs (``lower_complex``); scatter,
  cumulative scans, ``tan``/``tanh``/``pow``/``log1p``/``expm1`` and the rarer functions, and
  control flow carrying complex values run as numpy would run them, each op over whole arrays.

Each call goes through ``host_calls`` (a trampoline under a fresh symbol, a table of buffer
pointers whose shapes and dtypes were fixed at lowering time). What the call does follows from
the IR alone, so such modules may be cached on disk. Literal operands are baked into the
callback, never read from memory; an exception in the impl is raised after the native call.
"""

import numpy as np

from funcjax.backend.llvm import host_calls
from funcjax.backend.llvm.lowering import register
from funcjax.core import dtypes
from funcjax.core.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, jaxprs_in
from funcjax.core.primitive import Primitive
from funcjax.ops import linalg, linalg_spectral


def _runner(impl, params, in_avals, out_avals, literals, multiple_results):
    """The Python side: see the buffers as arrays, run ``impl``, copy its results out."""
    n_in = len(in_avals)
    ins = [host_calls.Layout(a) for a in in_avals]
    outs = [host_calls.Layout(a) for a in out_avals]

    def run(table):
        views = iter(layout.view(table[k]) for k, layout in enumerate(ins))
        args = [literals[k] if k in literals else next(views)
                for k in range(n_in + len(literals))]
        results = impl(*args, **params)
        for k, (layout, result) in enumerate(zip(outs, results if multiple_results
                                                  else [results])):
            np.copyto(layout.view(table[n_in + k]),
                      np.asarray(result).astype(layout.dtype, copy=False))
    return run


def emit_host_call(ctx, impl, params, eqn, ins, outs, multiple_results):
    """Emits a call of ``impl(*inputs, **params)`` writing into ``outs`` (Buffers)."""
    literals = {k: np.asarray(x.val, x.aval.dtype) for k, x in enumerate(eqn.inputs)
                if isinstance(x, Literal)}
    buffers = [ctx.as_buffer(v) for k, v in enumerate(ins) if k not in literals] + list(outs)
    in_avals = [v.aval for k, v in enumerate(ins) if k not in literals]
    run = _runner(impl, params, in_avals, [o.aval for o in outs], literals, multiple_results)
    host_calls.emit_call(ctx, host_calls.bind(run, cacheable=True), buffers)


# -- the decompositions and the complex-only primitives --------------------------------------
@register("buffer", linalg.lu_pivots_to_permutation_p, linalg_spectral.eig_p)
def _host_rule(ctx, eqn, ins, outs):
    prim = eqn.primitive
    emit_host_call(ctx, prim.rule("impl"), eqn.params, eqn, ins, outs, prim.multiple_results)


# Primitives whose lowering takes complex operands itself (filled by ``lower_complex`` and
# ``lower_linalg``); ``outline_complex`` leaves them in place.
NATIVE_COMPLEX = set()


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
        native = eqn.primitive in NATIVE_COMPLEX or eqn.primitive.rule("lower").fn is _host_rule
        if not native and (
                any(map(_is_complex, eqn.inputs + eqn.outputs))
                or any(_touches_complex(j) for j in jaxprs_in(eqn.params))):
            eqn = Eqn(host_call_p, eqn.inputs, dict(prim=eqn.primitive, params=eqn.params),
                      eqn.outputs, eqn.source_info)
        eqns.append(eqn)
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars), closed.consts)
