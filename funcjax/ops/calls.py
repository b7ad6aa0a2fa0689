"""Call primitives: ``jit`` applies a sub-program (a closed jaxpr in its params) to its inputs.

``jit_p`` params: ``jaxpr`` (a ClosedJaxpr, closure-converted so that every value it reads
arrives as an input; its consts, if any, are concrete arrays the compiler embeds) and ``name``
(the wrapped function's name, used for compiled symbols, logs and errors).

Rules: ``impl`` compiles the sub-jaxpr with the LLVM backend (imported on first use, so eager
code never loads llvmlite) and runs it; ``abstract_eval`` checks the inputs against the
sub-jaxpr's types. ``jit`` is a higher-order primitive: its jvp, partial-eval, transpose and
batch rules transform ``params["jaxpr"]`` with the interpreters' ``*_jaxpr`` functions and
bind ``jit_p`` again with the result, so that the transformed program is compiled as one unit
(``grad(jit(f))`` runs a compiled forward pass and a compiled backward pass, never Python per
operation). Transformed jaxprs are memoised (``_transformed``) so that they compile once. The
``lower`` rule (inline the sub-jaxpr) is registered by ``funcjax.backend.llvm.lower_calls``.
"""

import collections
import functools
import threading

from funcjax.core import cost
from funcjax.core.abstract import same_type
from funcjax.core.ir import ClosedJaxpr, Jaxpr, has_effects
from funcjax.core.primitive import Primitive
from funcjax.interpreters.batching import batch_call
from funcjax.interpreters.jvp import Zero, jvp_jaxpr, tangent_aval
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.interpreters.staging import hoist_consts
from funcjax.interpreters.transpose import is_undefined_primal, transpose_jaxpr
from funcjax.ops.control_flow.common import merge_by_flags

jit_p = Primitive("jit", multiple_results=True)


def _jit_impl(*args, jaxpr, name):
    from funcjax.backend.llvm import program_for
    return program_for(jaxpr, name)(*args)


def _jit_abstract_eval(*avals, jaxpr, name):
    expected = jaxpr.in_avals
    if len(avals) != len(expected) or not all(map(same_type, avals, expected)):
        got = ", ".join(a.str_short() for a in avals)
        want = ", ".join(a.str_short() for a in expected)
        raise TypeError(f"jit({name}): called with arguments ({got}) but its jaxpr takes "
                        f"({want})")
    return list(jaxpr.out_avals)


jit_p.def_impl(_jit_impl)
jit_p.def_abstract_eval(_jit_abstract_eval)


# -- transformed sub-jaxprs, one per (jaxpr, transformation, flags) ----------------------------
_MEMO_SIZE = 1024
_memo = collections.OrderedDict()  # (how, id(jaxpr), flags) -> (jaxpr, result)
_memo_lock = threading.Lock()


def _transformed(how, closed, flags, transform):
    """``transform()``, computed once per (``how``, ``closed``, ``flags``).

    The backend caches compiled programs by jaxpr identity, so transforming the same jaxpr in
    the same way must return the same jaxpr object: otherwise every call of ``grad(jit(f))``
    would compile again. An entry keeps its jaxpr alive, so the jaxpr's id is not reused while
    the entry exists.
    """
    key = (how, id(closed), flags)
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
            return hit[1]
    result = transform()  # outside the lock: it may transform nested jits
    with _memo_lock:
        result = _memo.setdefault(key, (closed, result))[1]
        if len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)
    return result


def _pick(flags, values, keep=True):
    """The ``values`` whose flag is ``keep``."""
    return [v for v, f in zip(values, flags) if bool(f) == keep]


def _zeros(flags, avals):
    """Symbolic zeros for the entries whose flag is false."""
    return [Zero(a) for a in _pick(flags, avals, False)]


# -- jvp -------------------------------------------------------------------------------------
def _jvp_jaxpr(closed, nonzeros):
    jvp_closed, out_nonzeros = jvp_jaxpr(closed, nonzeros, instantiate=False)
    return hoist_consts(jvp_closed), out_nonzeros


def _jit_jvp(primals, tangents, *, jaxpr, name):
    nonzeros = tuple(type(t) is not Zero for t in tangents)
    (jvp_closed, consts), out_nonzeros = _transformed(
        "jvp", jaxpr, nonzeros, lambda: _jvp_jaxpr(jaxpr, nonzeros))
    outs = jit_p.bind(*consts, *primals, *_pick(nonzeros, tangents), jaxpr=jvp_closed,
                      name=f"jvp({name})")
    n = len(jaxpr.out_avals)
    zeros = _zeros(out_nonzeros, map(tangent_aval, jaxpr.out_avals))
    return outs[:n], merge_by_flags(out_nonzeros, outs[n:], zeros)


jit_p.def_jvp(_jit_jvp)


# -- partial evaluation ----------------------------------------------------------------------
def _split(closed, unknowns):
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(closed, unknowns, False)
    known, sources = _forward_residuals(known, num_res)
    return hoist_consts(known), hoist_consts(unknown), out_unknowns, sources


def _forward_residuals(known, num_res):
    """``known`` without the residual outputs that are its own inputs or known outputs (the
    compiled code would copy them), and where each residual comes from: its index in the list
    of the known inputs followed by the outputs of the new jaxpr."""
    jaxpr = known.jaxpr
    outvars = jaxpr.outvars[:len(jaxpr.outvars) - num_res]
    where = {}
    for i, v in enumerate(jaxpr.invars + outvars):
        where.setdefault(id(v), i)
    sources = []
    for r in jaxpr.outvars[len(outvars):]:
        if id(r) not in where:
            where[id(r)] = len(jaxpr.invars) + len(outvars)
            outvars.append(r)
        sources.append(where[id(r)])
    forwarded = Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.eqns, outvars)
    return ClosedJaxpr(forwarded, known.consts), sources


def _jit_partial_eval(trace, args, unknowns, *, jaxpr, name):
    """As JAX's pjit: a jit of the known part, computing the known outputs and the residuals
    now, and a staged jit of the unknown part, reading the residuals."""
    unknowns = tuple(unknowns)
    (known, known_consts), (unknown, unknown_consts), out_unknowns, sources = _transformed(
        "partial_eval", jaxpr, unknowns, lambda: _split(jaxpr, unknowns))
    known_args = _pick(unknowns, args, False)
    known_outs = []
    if known.out_avals or any(map(has_effects, known.jaxpr.eqns)):
        known_outs = jit_p.bind(*known_consts, *known_args, jaxpr=known, name=name)
    residuals = [(known_args + known_outs)[k] for k in sources]
    unknown_outs = []
    if any(out_unknowns):
        unknown_outs = trace.stage(jit_p, [*unknown_consts, *residuals, *_pick(unknowns, args)],
                                   dict(jaxpr=unknown, name=name))
    return merge_by_flags(out_unknowns, unknown_outs, known_outs)


jit_p.def_partial_eval(_jit_partial_eval)


# -- transpose -------------------------------------------------------------------------------
def _transpose_jaxpr(closed, linear, ct_nonzeros):
    transposed, in_ct_nonzeros = transpose_jaxpr(closed, linear, ct_nonzeros)
    return hoist_consts(transposed), in_ct_nonzeros


def _jit_transpose(cts, *args, jaxpr, name):
    linear = tuple(map(is_undefined_primal, args))
    ct_nonzeros = tuple(type(c) is not Zero for c in cts)
    (transposed, consts), in_ct_nonzeros = _transformed(
        "transpose", jaxpr, (linear, ct_nonzeros),
        lambda: _transpose_jaxpr(jaxpr, linear, ct_nonzeros))
    outs = jit_p.bind(*consts, *_pick(linear, args, False), *_pick(ct_nonzeros, cts),
                      jaxpr=transposed, name=f"transpose({name})")
    undefined = [a.aval for a in _pick(linear, args)]
    cts_in = merge_by_flags(in_ct_nonzeros, outs, _zeros(in_ct_nonzeros, undefined))
    return merge_by_flags(linear, cts_in, [None] * len(args))


jit_p.def_transpose(_jit_transpose)


# -- batching: the rule shared by call primitives (batch_jaxpr memoises by identity) --------
jit_p.def_batch(functools.partial(batch_call, jit_p))
jit_p.def_cost(cost.call("jaxpr"))
