"""Uniform control flow for per-device programs: every device performs the same collectives.

A collective is a meeting of all devices, so a device must never skip one that the others
perform. A ``cond`` whose predicate differs between devices, with a collective in one branch,
or a ``while`` whose trip count differs, with a collective inside, would leave the others
waiting at the barrier forever (or pair up different collectives). Before compiling, such
control flow is rewritten the way vmap batches it when its predicate is batched: a ``cond``
runs every branch and selects the result by its index; a ``while`` runs until *no* device
wants another iteration (its predicate is summed over the devices), and a device whose own
predicate is false keeps its carry. Control flow without collectives over the mapped axis is
left alone (it costs nothing to diverge), and so are programs without any.
"""

import numpy as np

from funcjax import lax
from funcjax.core.ir import ClosedJaxpr, Literal, jaxprs_in
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.ops.collectives import psum_p
from funcjax.ops.control_flow.cond import cond_p
from funcjax.ops.control_flow.loops import while_loop, while_p


def _uses_axis(jaxpr, name):
    for eqn in jaxpr.eqns:
        names = eqn.params.get("axis_name")
        if names is not None and name in (names if isinstance(names, tuple) else (names,)):
            return True
        if any(_uses_axis(j, name) for j in jaxprs_in(eqn.params)):
            return True
    return False


def _divergent(jaxpr, name):
    """Whether a cond or while in ``jaxpr`` (at any depth) holds a collective over ``name``."""
    for eqn in jaxpr.eqns:
        subs = jaxprs_in(eqn.params)
        if eqn.primitive in (cond_p, while_p) and any(_uses_axis(j, name) for j in subs):
            return True
        if any(_divergent(j, name) for j in subs):
            return True
    return False


def make_uniform(closed, name):
    """``closed`` with its collective-holding control flow made uniform (see the module)."""
    if not _divergent(closed.jaxpr, name):
        return closed
    return trace_to_jaxpr(lambda *args: _eval(closed, args, name), closed.in_avals,
                          "pmap: uniform control flow")


def _eval(closed, args, name):
    jaxpr = closed.jaxpr
    env = dict(zip(jaxpr.constvars, closed.consts))
    env.update(zip(jaxpr.invars, args))

    def read(atom):
        return atom.val if isinstance(atom, Literal) else env[atom]

    for eqn in jaxpr.eqns:
        ins = [read(x) for x in eqn.inputs]
        subs = jaxprs_in(eqn.params)
        if eqn.primitive is cond_p and any(_uses_axis(j, name) for j in subs):
            outs = _every_branch(ins, eqn.params["branches"], name)
        elif eqn.primitive is while_p and any(_uses_axis(j, name) for j in subs):
            outs = _until_all_done(ins, name, **eqn.params)
        elif any(_divergent(j, name) for j in subs):
            params = {k: _uniform_param(v, name) for k, v in eqn.params.items()}
            outs = eqn.primitive.bind(*ins, **params)
        else:
            outs = eqn.primitive.bind(*ins, **eqn.params)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        env.update(zip(eqn.outputs, outs))
    return [read(v) for v in jaxpr.outvars]


def _uniform_param(value, name):
    if isinstance(value, ClosedJaxpr):
        return make_uniform(value, name)
    if isinstance(value, tuple) and any(isinstance(v, ClosedJaxpr) for v in value):
        return tuple(_uniform_param(v, name) for v in value)
    return value


def _every_branch(ins, branches, name):
    index, args = lax.clamp(0, ins[0], len(branches) - 1), ins[1:]
    results = [_eval(b, args, name) for b in branches]
    outs = []
    for cases in zip(*results):
        shape = np.shape(cases[0])
        which = lax.broadcast_in_dim(index, shape, ())
        outs.append(lax.select_n(which, *cases))
    return outs


def _until_all_done(ins, name, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cond_consts, body_consts = ins[:cond_nconsts], ins[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(ins[cond_nconsts + body_nconsts:])

    def wants_more(c):
        return _eval(cond_jaxpr, [*cond_consts, *c], name)[0]

    def any_device(c):
        count = psum_p.bind(lax.convert_element_type(wants_more(c), np.int32),
                            axis_name=(name,))
        return lax.gt(count, np.int32(0))

    def step(c):
        go = wants_more(c)
        new = _eval(body_jaxpr, [*body_consts, *c], name)
        return [lax.select(lax.broadcast_in_dim(go, np.shape(o), ()), n, o)
                for n, o in zip(new, c)]
    return while_loop(any_device, step, carry)
