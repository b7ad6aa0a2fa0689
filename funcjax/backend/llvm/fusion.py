"""The fusion and liveness plan of one jaxpr, decided before any code is emitted.

Each primitive's lowering rule has a kind: ``view`` (pure index remapping: broadcast,
transpose, slice, ...), ``fused`` (computes an element from operand elements: arithmetic,
gather, pad, ...) or ``buffer`` (needs loops of its own and writes memory: reductions, dot,
scatter, sort, nested calls). Outputs of view and fused rules stay lazy and are computed
inside their consumer's loop, unless

- they are outputs of the jaxpr (they must land in an output buffer), or
- they would be computed more than once (used twice, or read repeatedly by a consumer such
  as a broadcast or a matmul operand) and are not cheap (a view of buffers is cheap).

- their chain of lazy operations is deeper than ``MAX_DEPTH``: loading an element of a lazy
  value emits its operands' code recursively, so a chain of any length is cut into pieces of
  bounded depth (an extra pass over memory per ``MAX_DEPTH`` operations, and no limit on the
  length of a program).

One arithmetic operation on views, at most one of them not a broadcast (the bias add
``x @ w + b`` read by an activation and by its derivative in the backward pass), is cheap too:
its readers recompute it rather than pay a pass that writes it and then reads it back, unless
a ``buffer`` rule (a matmul operand) needs it in memory.

A materialised value whose lazy chain transposes (an equation with a ``permutation`` moving
the last axis, of the value's rank) is written in tiles (``transposed``, see
``LoweringContext.materialize``).

Liveness follows laziness: a buffer read by a lazy value is read when that value is finally
consumed, so its last use is its lazy consumers' last use.
"""

from funcjax.core.ir import Var, has_effects

MAX_DEPTH = 100
RECOMPUTED = frozenset({"add", "sub", "mul", "max", "min", "neg"})  # cheap arithmetic


class Analysis:
    __slots__ = ("live", "materialize", "end", "transposed")

    def __init__(self, live, materialize, end, transposed):
        self.live = live                # per equation: is any output needed?
        self.materialize = materialize  # ids of vars computed into a buffer
        self.end = end                  # id(var) -> index of the last equation reading it
        self.transposed = transposed    # id(materialised var) -> axis read contiguously


def analyse(jaxpr, rule_of):
    eqns = jaxpr.eqns
    rules = [rule_of(e.primitive) for e in eqns]
    outvars = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}

    needed, live = set(outvars), [False] * len(eqns)
    for i in reversed(range(len(eqns))):
        if any(id(o) in needed for o in eqns[i].outputs) or has_effects(eqns[i]):
            live[i] = True
            needed.update(id(x) for x in eqns[i].inputs if isinstance(x, Var))

    uses, cheap = {}, {id(v): True for v in jaxpr.invars}
    broadcast, recomputed, in_memory = set(), set(), set()
    for eqn, rule, alive in zip(eqns, rules, live):
        if not alive:
            continue
        again = rule.rereads(eqn)
        for pos, x in enumerate(eqn.inputs):
            if isinstance(x, Var):
                uses[id(x)] = uses.get(id(x), 0) + (2 if pos in again else 1)
                if rule.kind == "buffer":
                    in_memory.add(id(x))
        is_view = rule.kind == "view" and all(cheap.get(id(x), True) for x in eqn.inputs)
        if is_view and again:
            broadcast.update(id(o) for o in eqn.outputs)
        if (eqn.primitive.name in RECOMPUTED and len(eqn.outputs) == 1
                and all(cheap.get(id(x), True) and id(x) not in recomputed
                        for x in eqn.inputs)
                and sum(isinstance(x, Var) and id(x) not in broadcast
                        for x in eqn.inputs) <= 1):
            is_view = True
            recomputed.add(id(eqn.outputs[0]))
        cheap.update((id(o), is_view or rule.kind == "buffer") for o in eqn.outputs)

    materialize, depth, axis = set(), {}, {}
    for eqn, rule, alive in zip(eqns, rules, live):
        d = 1 + max((depth.get(id(x), 0) for x in eqn.inputs if isinstance(x, Var)), default=0)
        a = _transposed_axis(eqn, axis, materialize) if alive and rule.kind != "buffer" else None
        for o in eqn.outputs if alive else ():
            if a is not None:
                axis[id(o)] = a
            if rule.kind == "buffer" or id(o) in outvars or d > MAX_DEPTH or (
                    uses.get(id(o), 0) > 1 and not cheap[id(o)]) or (
                    id(o) in recomputed and id(o) in in_memory and uses[id(o)] > 2):
                materialize.add(id(o))
            else:
                depth[id(o)] = d

    end = {}
    for i in reversed(range(len(eqns))):
        if not live[i]:
            continue
        reads_at = max((i if id(o) in materialize else end.get(id(o), i)
                        for o in eqns[i].outputs), default=i)
        for x in eqns[i].inputs:
            if isinstance(x, Var):
                end[id(x)] = max(end.get(id(x), -1), reads_at)
    for v in outvars:
        end[v] = len(eqns)
    return Analysis(live, materialize, end, {k: a for k, a in axis.items() if k in materialize})


def _transposed_axis(eqn, axis, materialize):
    """The output axis along which a lazy ``eqn`` reads memory contiguously, if not the last:
    its own permutation's, else one of its lazy inputs' of the same rank."""
    rank = eqn.outputs[0].aval.ndim if len(eqn.outputs) == 1 else 0
    perm = eqn.params.get("permutation")
    if perm is not None and rank > 1 and perm[-1] != rank - 1:
        return list(perm).index(rank - 1)
    for x in eqn.inputs:
        if (isinstance(x, Var) and id(x) in axis and id(x) not in materialize
                and x.aval.ndim == rank):
            return axis[id(x)]
    return None



def groups(jaxpr, rule_of):
    """The fusion groups of ``jaxpr``'s top level, in program order: each equation whose
    output is materialised, with the lazy equations computed inside its loop (a cheap lazy
    value read by several groups is recomputed in each, and listed in each)."""
    info = analyse(jaxpr, rule_of)
    producer = {id(o): i for i, e in enumerate(jaxpr.eqns) for o in e.outputs}

    def materialised(i):
        return any(id(o) in info.materialize for o in jaxpr.eqns[i].outputs)
    found = []
    for i in range(len(jaxpr.eqns)):
        if not info.live[i] or not materialised(i):
            continue
        members, todo = set(), [i]
        while todo:
            k = todo.pop()
            if k not in members:
                members.add(k)
                todo.extend(j for j in (producer.get(id(x)) for x in jaxpr.eqns[k].inputs
                                        if isinstance(x, Var))
                            if j is not None and not materialised(j))
        found.append([jaxpr.eqns[k] for k in sorted(members)])
    return found


def groups_text(jaxpr, rule_of):
    """One line per fusion group: the buffer it writes and the operations fused into it."""
    lines = []
    for n, group in enumerate(groups(jaxpr, rule_of), 1):
        last = group[-1]
        kind = rule_of(last.primitive).kind
        outs = ", ".join(v.aval.str_short() for v in last.outputs)
        ops = " -> ".join(e.primitive.name for e in group)
        lines.append(f"{n:3d}. {outs:<16} {kind:<7} {ops}")
    return "\n".join(lines)


def can_overwrite(jaxpr, info, rule_of, out, x):
    """Whether output ``out`` may be computed straight into the memory of input ``x`` (a
    donated buffer): ``x`` is dead before the equation computing ``out`` runs, or that
    equation reads ``x`` only at the element it is writing, through ``pointwise`` rules of
    ``x``'s shape (``p - lr * g`` in place; never a transpose or a matmul of ``x``)."""
    producer = {id(o): i for i, e in enumerate(jaxpr.eqns) for o in e.outputs}
    at = producer.get(id(out))
    last_read = info.end.get(id(x), -1)
    if at is None or last_read != at:
        return at is not None and last_read < at
    memo = {}

    def check(var):
        """``(reads x, reads it only pointwise)`` for the code computing ``var`` at ``at``."""
        if var is x:
            return True, True
        i = producer.get(id(var))
        if i is None or (i < at and id(var) in info.materialize):
            return False, True  # another input, or a buffer finished earlier
        if id(var) not in memo:
            eqn = jaxpr.eqns[i]
            found = [check(v) for v in eqn.inputs if isinstance(v, Var)]
            reads = any(r for r, _ in found)
            memo[id(var)] = reads, not reads or (
                rule_of(eqn.primitive).pointwise and var.aval.shape == x.aval.shape
                and all(ok for _, ok in found))
        return memo[id(var)]
    return check(out)[1]
