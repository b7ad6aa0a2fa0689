"""Plumbing shared by the control-flow primitives: staging user functions into sub-jaxprs,
rearranging a sub-jaxpr's inputs, and the type errors users see.

Sub-jaxprs carried in params never close over traced values: every constant a user function
captures is *hoisted* into a leading input and passed to the primitive as an operand. That is
what lets the jvp, batching and transpose rules see (and transform) captured values.
"""

import functools

import numpy as np

from funcjax.core import dtypes
from funcjax.core.abstract import ShapedArray, same_type
from funcjax.core.ir import ClosedJaxpr, Jaxpr, Var
from funcjax.core.pytree import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.ops.control_flow.eager import derived, intern, staged_body


# -- staging ---------------------------------------------------------------------------------
def stage(fun, in_tree, in_avals, description):
    """Stages ``fun`` (taking the pytree ``in_tree`` of ``in_avals``) into a closed jaxpr whose
    captured constants are hoisted into leading inputs.

    Returns ``(closed, consts, out_tree)``: call the jaxpr with ``*consts, *flat_args``.
    """
    def staged():
        out_tree_box = []

        def flat_fun(*flat):
            out, out_tree = tree_flatten(fun(*tree_unflatten(in_tree, flat)))
            out_tree_box.append(out_tree)
            return out

        closed = trace_to_jaxpr(flat_fun, in_avals, description)
        jaxpr = closed.jaxpr
        hoisted = Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.eqns, jaxpr.outvars)
        return intern(ClosedJaxpr(hoisted, [])), closed.consts, out_tree_box[0]
    closed, consts, out_tree = staged_body(fun, (in_tree, tuple(in_avals), description),
                                           staged)
    return closed, list(consts), out_tree


def stage_flat(fun, in_avals, description):
    """A closed jaxpr of a flat function ``fun(*args) -> list`` (for rules building loops)."""
    return intern(trace_to_jaxpr(lambda *args: list(fun(*args)), in_avals, description))


def avals_of(values):
    return [aval_of(v) for v in values]


# -- rearranging inputs and outputs ------------------------------------------------------------
def insert_inputs(closed, avals, at):
    """``closed`` taking extra, unused inputs of types ``avals`` at position ``at``."""
    def build():
        jaxpr = closed.jaxpr
        invars = jaxpr.invars[:at] + [Var(a) for a in avals] + jaxpr.invars[at:]
        return intern(ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.eqns, jaxpr.outvars),
                                  closed.consts))
    return derived(closed, ("insert_inputs", tuple(avals), at), build)


def widen_leading_inputs(closed, own_keys, all_keys, all_avals):
    """``closed``, whose first inputs stand for ``own_keys``, taking instead one input per key
    of ``all_keys`` (of types ``all_avals``), ignoring the keys it does not own."""
    jaxpr = closed.jaxpr
    var_of = dict(zip(own_keys, jaxpr.invars))
    lead = [var_of[k] if k in var_of else Var(a) for k, a in zip(all_keys, all_avals)]
    invars = lead + jaxpr.invars[len(own_keys):]
    return intern(ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.eqns, jaxpr.outvars),
                              closed.consts))


def reorder(closed, inputs=None, outputs=None):
    """``closed`` with its inputs (outputs) listed in the order of the given index lists."""
    def build():
        jaxpr = closed.jaxpr
        invars = jaxpr.invars if inputs is None else [jaxpr.invars[i] for i in inputs]
        outvars = jaxpr.outvars if outputs is None else [jaxpr.outvars[i] for i in outputs]
        return intern(ClosedJaxpr(Jaxpr(jaxpr.constvars, invars, jaxpr.eqns, outvars),
                                  closed.consts))
    return derived(closed, ("reorder", None if inputs is None else tuple(inputs),
                            None if outputs is None else tuple(outputs)), build)


def interleave(*sizes):
    """Index order that turns groups ``[a0, a1, ..., b0, b1, ...]`` of lengths ``sizes`` (two
    halves with equal group count) into ``[a0, b0, a1, b1, ...]``: primals next to tangents."""
    half = len(sizes) // 2
    starts = np.cumsum((0,) + sizes)[:-1]
    order = []
    for g in range(half):
        for s in (g, g + half):
            order.extend(range(starts[s], starts[s] + sizes[s]))
    return order


def split(seq, *sizes):
    """``seq`` cut into consecutive pieces of the given sizes plus the rest."""
    out, start = [], 0
    for n in sizes:
        out.append(list(seq[start:start + n]))
        start += n
    out.append(list(seq[start:]))
    return out


def merge_by_flags(flags, when_true, when_false):
    """Interleaves two lists: ``next(when_true)`` where ``flags`` is true, else the other."""
    t, f = iter(when_true), iter(when_false)
    return [next(t) if flag else next(f) for flag in flags]


def fill(flags, present, absent):
    """A list with ``next(present)`` where ``flags`` is true and ``absent(i)`` elsewhere."""
    it = iter(present)
    return [next(it) if f else absent(i) for i, f in enumerate(flags)]


# -- fixed points of per-value flags (nonzero tangent, batched) -------------------------------
def join_flags(*flag_lists):
    return [any(col) for col in zip(*flag_lists)]


def carry_fixed_point(step, flags):
    """The least flags containing ``flags`` that a loop body maps into themselves.

    ``step(flags)`` gives the body's output carry flags for those input carry flags. A carry
    that is e.g. batched after one iteration must be batched from the start.
    """
    while True:
        joined = join_flags(flags, step(flags))
        if joined == flags:
            return flags
        flags = joined


# -- type checks and their messages ------------------------------------------------------------
def mismatch_reason(a, b):
    if a.shape != b.shape and a.dtype != b.dtype:
        return "so the shapes and dtypes do not match"
    return "so the shapes do not match" if a.shape != b.shape else "so the dtypes do not match"


def type_name(aval):
    return f"{aval.dtype.name}{list(aval.shape)}".replace(" ", "")


def type_names(avals):
    return ", ".join(type_name(a) for a in avals)


def same_types(avals, others):
    """Equal lists of types (weak types aside)."""
    return len(avals) == len(others) and all(same_type(a, b) for a, b in zip(avals, others))


def leaf_paths(tree):
    """The key path of every leaf of a treedef, as text (``[1]['w']``)."""
    example = tree_unflatten(tree, [0] * tree.num_leaves)
    return [keystr(path) if path else "" for path, _ in tree_flatten_with_path(example)[0]]


def carry_name(fun):
    """The name of a loop body's first parameter, for error messages."""
    from funcjax.api_util import argument_names
    return argument_names(fun, (None,))[0]


def check_carry_types(name, body, in_tree, in_avals, out_tree, out_avals):
    """The carry a loop body returns must have the structure and types of the one it took.
    (``body``'s first parameter names the carry in the messages; read only to raise one.)"""
    if in_tree != out_tree:
        raise TypeError(
            f"{name} function carry input and carry output must have the same pytree "
            f"structure, but they differ:\n\nthe input carry {carry_name(body)} is {in_tree}"
            f"\nbut the output carry is {out_tree}.\n\nRevise the function so that its output "
            "carry has the structure of its input carry.")
    if all(same_type(a, b) for a, b in zip(in_avals, out_avals)):
        return
    for path, a, b in zip(leaf_paths(in_tree), in_avals, out_avals):
        if not same_type(a, b):
            what = f"component {carry_name(body)}{path}" if path else carry_name(body)
            raise TypeError(
                f"{name} function carry input and carry output must have equal types, but "
                f"they differ:\n\nThe input carry {what} has type {type_name(a)} but the "
                f"corresponding output carry component has type {type_name(b)}, "
                f"{mismatch_reason(a, b)}.\n\nRevise the function so that all output types "
                "match the corresponding input types.")


def promote_weak_carry(init, in_avals, out_avals):
    """Weakly typed initial carries (Python scalars) take the dtype the body gives them, as in
    JAX: ``fori_loop(0, n, lambda i, x: x + 0.5, 0)`` carries a (strong) float. Returns the new
    initial values, or None if no carry changes.

    A carry whose dtype stays is not converted: the body sees it weakly typed, and only the
    loop's output carry takes the body's (possibly strong) type, as in JAX."""
    changed = False
    new = list(init)
    for i, (a, b) in enumerate(zip(in_avals, out_avals)):
        if a.weak_type and not same_type(a, b) and a.shape == b.shape:
            dtype, _ = dtypes.result_type((a.dtype, True), (b.dtype, b.weak_type))
            if dtype != a.dtype:
                from funcjax import lax
                new[i] = lax.convert_element_type(init[i], dtype)
                changed = True
    return new if changed else None


def stage_loop_body(fun, init, init_tree, rest, carry_of, description):
    """Stages a loop body ``fun(carry, *rest)``; ``rest`` holds pytrees of abstract values.

    ``carry_of(out_avals, out_tree)`` picks the output carry's ``(avals, tree)``. Returns
    ``(closed, consts, out_tree, init)`` where ``init`` is the flat initial carry, with
    weakly typed entries promoted to the type the body gives them.
    """
    while True:
        leaves, in_tree = tree_flatten((tree_unflatten(init_tree, avals_of(init)),) + rest)
        closed, consts, out_tree = stage(fun, in_tree, leaves, description)
        promoted = promote_weak_carry(init, leaves, carry_of(closed.out_avals, out_tree)[0])
        if promoted is None:
            return closed, consts, out_tree, init
        init = promoted


def check_scalar_bool(name, aval, fix=""):
    if aval.shape != () or aval.dtype != dtypes.bool_:
        raise TypeError(f"{name} must return a boolean scalar, but got output type "
                        f"{aval.str_short()}. {fix}".rstrip())


@functools.lru_cache(maxsize=4096)  # type rules of loops ask for the same types on every call
def stacked(aval, length):
    return ShapedArray((length,) + aval.shape, aval.dtype, aval.weak_type)


@functools.lru_cache(maxsize=4096)
def unstacked(aval):
    return ShapedArray(aval.shape[1:], aval.dtype, aval.weak_type)
