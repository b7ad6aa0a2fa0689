"""The eval interpreter: with no transformation active, each primitive runs its numpy ``impl``.

There is no compilation per operation: eager code costs one type rule and one numpy call per
primitive. The type rule runs first so that eager and traced code raise the same errors and
produce the same dtypes (numpy's own promotion is never trusted).
"""

import contextvars
import threading

import numpy as np

from funcjax.core import placement, type_cache
from funcjax.core.abstract import concrete_aval
from funcjax.core.array import Array, to_numpy, wrap_fresh
from funcjax.core.ir import Literal
from funcjax.core.source_info import replaying
from funcjax.core.trace import Trace, Tracer, _context, raise_leaked_tracer


def aval_of(x):
    """The abstract value of anything a primitive accepts: tracer, Array, numpy or scalar."""
    if isinstance(x, (Tracer, Array)):
        return x.aval
    return concrete_aval(x)


class _Quiet(threading.local):
    """Where impls run: a context whose numpy error state ignores IEEE exceptions (inf and nan
    are answers, not warnings). Entering ``np.errstate`` per call would cost more than a small
    numpy op, so each thread keeps one such context and runs impls inside it. numpy < 2 keeps
    its error state outside contextvars, so there ``np.errstate`` is entered per call."""

    def __init__(self):
        self.context = None
        if int(np.__version__.split(".")[0]) >= 2:
            self.context = contextvars.copy_context()
            self.context.run(np.errstate(all="ignore").__enter__)
            self.context.run(_INSIDE.set, True)


_INSIDE = contextvars.ContextVar("funcjax_quiet_numpy", default=False)
_quiet = _Quiet()


def run_quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with numpy's floating-point warnings off."""
    context = _quiet.context
    if context is None:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    if _INSIDE.get():  # an impl that evaluates more primitives (cond, scan, ...)
        return fn(*args, **kwargs)
    return context.run(fn, *args, **kwargs)


class EvalTrace(Trace):
    forwards_constants = True

    def __init__(self):
        super().__init__(parent=None, description="eager evaluation")

    def process_primitive(self, primitive, args, params):
        avals, values = [], []
        for x in args:
            if type(x) is Array:
                avals.append(x._aval)
                values.append(x._value)
            elif isinstance(x, Tracer):
                raise_leaked_tracer(x)
            else:
                avals.append(aval_of(x))
                values.append(to_numpy(x))
        # The type rule runs (or is recalled) first, so that eager and traced code raise the
        # same errors and give the same dtypes (numpy's own promotion is never trusted).
        out_avals = type_cache.abstract_eval(primitive, avals, params)
        impl = primitive.impl
        if impl is None:
            primitive.rule("impl")  # raises, naming the primitive
        context = _quiet.context
        if context is None or _INSIDE.get():
            outs = run_quiet(impl, *values, **params)
        else:
            outs = context.run(impl, *values, **params)
        if primitive.multiple_results:
            outs = [_wrap(o, a) for o, a in zip(outs, out_avals)]
            return placement.place(primitive.name, args, outs) if placement.state.active \
                else outs
        out = _wrap(outs, out_avals)
        return placement.place(primitive.name, args, [out])[0] if placement.state.active \
            else out


def runs_now():
    """Whether a primitive bound here on operands that are exactly ``Array`` would run at once
    in numpy, unobserved: eager code, no transformation, no ``default_device`` block to place
    results (``placement.blocks``; committed and sharded arrays are not exactly Arrays).
    funcjax.numpy's fast paths check this, after checking their operands' types, before
    calling ``apply_checked``."""
    trace = _context.trace
    return (trace is None or type(trace) is EvalTrace) and not placement.blocks.value


def apply_checked(primitive, values, params, out_aval):
    """``primitive``'s impl on numpy ``values``, as an Array of ``out_aval`` (a list of them
    for multiple results): what eager binding does once the type rule has accepted these input
    types (the caller remembers that it did; see ``funcjax.numpy._util``)."""
    context = _quiet.context
    if context is None or _INSIDE.get():
        out = run_quiet(primitive.impl, *values, **params)
    else:
        out = context.run(primitive.impl, *values, **params)
    if primitive.multiple_results:
        return [_wrap(o, a) for o, a in zip(out, out_aval)]
    return _wrap(out, out_aval)


def _wrap(value, aval):
    return wrap_fresh(as_value(value, aval), aval)


def as_value(value, aval):
    """An impl's result as the numpy array of type ``aval`` that eager binding wraps."""
    if type(value) is not np.ndarray:
        value = to_numpy(value) if isinstance(value, Array) else np.asarray(value)
    if value.dtype is not aval.dtype and value.dtype != aval.dtype:
        value = value.astype(aval.dtype)
    if value.shape != aval.shape:
        raise AssertionError(f"impl gave shape {value.shape}, type rule {aval.shape}")
    return value


def eval_jaxpr(jaxpr, consts, *args):
    """Runs a jaxpr by binding each equation's primitive under the current trace."""
    env = {}
    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    if len(args) != len(jaxpr.invars):
        raise TypeError(f"eval_jaxpr: the jaxpr takes {len(jaxpr.invars)} arguments, "
                        f"got {len(args)}")
    for var, val in zip(jaxpr.invars, args):
        env[var] = val

    def read(atom):
        return atom.val if isinstance(atom, Literal) else env[atom]

    outer = replaying(None)
    try:
        for eqn in jaxpr.eqns:
            replaying(eqn.source_info or outer)
            outs = eqn.primitive.bind(*map(read, eqn.inputs), **eqn.params)
            if not eqn.primitive.multiple_results:
                outs = (outs,)
            for var, val in zip(eqn.outputs, outs):
                env[var] = val
    finally:
        replaying(outer)
    return [read(v) for v in jaxpr.outvars]


def eval_closed_jaxpr(closed, *args):
    return eval_jaxpr(closed.jaxpr, closed.consts, *args)
