"""The eval interpreter: with no transformation active, each primitive runs its numpy ``impl``.

There is no compilation per operation: eager code costs one type rule and one numpy call per
primitive. The type rule runs first so that eager and traced code raise the same errors and
produce the same dtypes (numpy's own promotion is never trusted).
"""

import numpy as np

from funcjax.core import placement
from funcjax.core.abstract import concrete_aval
from funcjax.core.array import Array, to_numpy
from funcjax.core.ir import Literal
from funcjax.core.source_info import replaying
from funcjax.core.trace import Trace, Tracer, raise_leaked_tracer


def aval_of(x):
    """The abstract value of anything a primitive accepts: tracer, Array, numpy or scalar."""
    if isinstance(x, (Tracer, Array)):
        return x.aval
    return concrete_aval(x)


class EvalTrace(Trace):
    def __init__(self):
        super().__init__(parent=None, description="eager evaluation")

    def process_primitive(self, primitive, args, params):
        for x in args:
            if isinstance(x, Tracer):
                raise_leaked_tracer(x)
        avals = [aval_of(x) for x in args]
        out_avals = primitive.abstract_eval_rule(*avals, **params)
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) are answers, not warnings
            outs = primitive.rule("impl")(*map(to_numpy, args), **params)
        if primitive.multiple_results:
            outs = [_wrap(o, a) for o, a in zip(outs, out_avals)]
            return placement.place(primitive.name, args, outs) if placement.state.active \
                else outs
        out = _wrap(outs, out_avals)
        return placement.place(primitive.name, args, [out])[0] if placement.state.active \
            else out


def _wrap(value, aval):
    value = to_numpy(value) if isinstance(value, Array) else np.asarray(value)
    if value.dtype != aval.dtype:
        value = value.astype(aval.dtype)
    if value.shape != aval.shape:
        raise AssertionError(f"impl gave shape {value.shape}, type rule {aval.shape}")
    return Array(value, aval.weak_type)


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
