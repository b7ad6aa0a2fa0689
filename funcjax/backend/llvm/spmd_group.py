"""One exchange for many reductions: pmap's per-device program meets its peers once per group.

``lax.pmean(grads, 'i')`` binds one psum per leaf (as vmap's reference semantics want), and each
psum lowered on its own is a meeting of all devices: publish, barrier, combine a block,
barrier, gather, barrier. A data-parallel step with six gradient leaves would meet eighteen
times. Before lowering, ``group_reductions`` rewrites the top level of the per-device jaxpr:

- psum, pmax and pmin equations are held back (their operands stay where they are), and so
  are the pure equations that read their results (pmean's division), until a reduction of a
  held value, an effectful reader, or the end of the program; the held reductions are then
  emitted as one ``reduce_group`` equation per (reduction, axis names) with every operand and
  result, followed by the held readers in their order.
  Its lowering (``lower_collectives``) publishes all the buffers at once and meets three times
  in all, whatever the number of leaves and their dtypes. Holding a reduction back is always
  allowed: every device runs the same rewritten program, so the devices still perform the same
  collectives in the same order.
- A reduction of ``transpose(x)`` reduces ``x`` and transposes the result (elementwise
  reductions commute with moving elements). A gradient ``dW`` comes out of its matmul as
  ``transpose(dot(...))``; reducing the transpose would first copy it into memory, while the
  transposed result stays a lazy view that its consumer (the update ``w - lr * g``) reads in
  place, as in a single-device jit.

Nested jaxprs (loop bodies, branches) keep their collectives as they are. A multi-process run
(``spmd_cross``) does not group: its collectives run one by one through MPI.
"""

from funcjax.core import cost
from funcjax.core.ir import ClosedJaxpr, Eqn, Jaxpr, Var, has_effects
from funcjax.core.primitive import Primitive
from funcjax.ops import collectives
from funcjax.ops.shape import transpose_p

REDUCTIONS = (collectives.psum_p, collectives.pmax_p, collectives.pmin_p)

reduce_group_p = Primitive("reduce_group", multiple_results=True)


def _unbound(*args, reduction, axis_name):
    return reduction.rule("impl")(axis_name=axis_name)  # the unbound-axis NameError


def _jvp(primals, tangents, *, reduction, axis_name):
    """Each operand as its reduction differentiates it."""
    pairs = [reduction.rule("jvp")((x,), (t,), axis_name=axis_name)
             for x, t in zip(primals, tangents)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _batch(axis_data, args, dims, *, reduction, axis_name):
    """Each operand as its reduction batches it."""
    pairs = [reduction.rule("batch")(axis_data, [x], [d], axis_name=axis_name)
             for x, d in zip(args, dims)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


reduce_group_p.def_impl(_unbound)
reduce_group_p.def_abstract_eval(lambda *avals, reduction, axis_name: list(avals))
reduce_group_p.def_jvp(_jvp)
reduce_group_p.def_batch(_batch)
reduce_group_p.def_cost(lambda in_avals, out_avals, **params: cost.Cost(
    flops=sum(a.size for a in in_avals)))


def group_reductions(closed):
    """``closed`` with its top-level reductions grouped (see the module); ``closed`` itself
    when there is nothing to group. Returns ``(closed, width)``, ``width`` the largest number
    of operands of one group (the comm needs that many slots per device)."""
    jaxpr = closed.jaxpr
    if sum(e.primitive in REDUCTIONS for e in jaxpr.eqns) < 2:
        return closed, 1
    made_by = {id(o): e for e in jaxpr.eqns for o in e.outputs}
    eqns, held, waiting, later, width = [], [], [], set(), 1

    def flush():
        nonlocal width
        groups = {}
        for e in held:
            groups.setdefault((e.primitive, e.params["axis_name"]), []).append(e)
        for (prim, names), members in groups.items():
            ins, outs, after = [], [], []
            for e in members:
                x, out = e.inputs[0], e.outputs[0]
                source = made_by.get(id(x)) if isinstance(x, Var) else None
                if (source is not None and source.primitive is transpose_p
                        and isinstance(source.inputs[0], Var)):
                    reduced = Var(source.inputs[0].aval)
                    after.append(Eqn(transpose_p, [reduced], source.params, [out],
                                     e.source_info))
                    x, out = source.inputs[0], reduced
                ins.append(x)
                outs.append(out)
            eqns.append(Eqn(reduce_group_p, ins, {"reduction": prim, "axis_name": names}, outs,
                            members[0].source_info))
            eqns.extend(after)
            width = max(width, len(members))
        eqns.extend(waiting)
        held.clear()
        waiting.clear()
        later.clear()

    for e in jaxpr.eqns:
        reads_held = any(id(x) in later for x in e.inputs)
        if e.primitive in REDUCTIONS:
            if reads_held:
                flush()
            held.append(e)
        elif reads_held and not has_effects(e):
            waiting.append(e)  # a reader of a held result waits with it (pmean's division)
        else:
            if reads_held:
                flush()
            eqns.append(e)
            continue
        later.update(id(o) for o in e.outputs)
    flush()
    return ClosedJaxpr(Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars),
                       closed.consts), width
