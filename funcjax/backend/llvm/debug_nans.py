"""``jax_debug_nans`` for compiled code: when an output holds a NaN, run the program again
op by op in eager mode to find the first primitive that made a NaN out of non-NaN inputs,
and name it with the user's source line (``eqn.source_info``)."""

import numpy as np

from funcjax.core.ir import Literal


def _has_nan(x):
    x = np.asarray(x)
    return x.dtype.kind == "f" and bool(np.isnan(x).any())


def check_outputs(name, closed, args, outs):
    if not any(_has_nan(o) for o in outs):
        return
    where = _first_nan(closed.jaxpr, closed.consts, args)
    if where is None:
        where = "an argument (the inputs already contain NaN)"
    raise FloatingPointError(f"invalid value (nan) encountered in {where}, while running "
                             f"the compiled function {name}. Disable the check with "
                             "config.update('jax_debug_nans', False).")


def _first_nan(jaxpr, consts, args):
    env = {id(v): x for v, x in zip(jaxpr.constvars + jaxpr.invars, list(consts) + list(args))}
    read = lambda a: a.val if isinstance(a, Literal) else env[id(a)]  # noqa: E731
    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        sub = eqn.params.get("jaxpr") if eqn.primitive.name == "jit" else None
        if sub is not None and not any(_has_nan(x) for x in ins):
            found = _first_nan(sub.jaxpr, sub.consts, ins)
            if found is not None:
                return found
        with np.errstate(all="ignore"):
            outs = eqn.primitive.bind(*ins, **eqn.params)
        outs = outs if eqn.primitive.multiple_results else [outs]
        if any(_has_nan(o) for o in outs) and not any(_has_nan(x) for x in ins):
            return f"'{eqn.primitive.name}' at {eqn.source_info}"
        env.update((id(v), o) for v, o in zip(eqn.outputs, outs))
    return None
