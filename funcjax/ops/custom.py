"""custom_jvp and custom_vjp: functions that carry derivative rules written by the user.

``custom_jvp_call`` and ``custom_vjp_call`` are higher-order primitives: they evaluate the
function's jaxpr, except under differentiation, where their ``jvp`` rules call the user's rule
instead. A custom_vjp function under reverse mode runs ``fwd`` now and leaves a
``custom_lin`` equation in the linear jaxpr; transposing it calls ``bwd``. Forward mode has no
rule to use for a custom_vjp function, so ``custom_lin`` refuses to run forwards.

The user's rules receive and return pytrees; the primitives carry flat versions of them.
Values the function closes over are passed as leading arguments (``num_consts``) so that
transformations see them; differentiating with respect to them is an error, because the
user's rule only covers the explicit arguments.
"""

import functools
import inspect

from funcjax.api_util import fun_name
from funcjax.core import cost, dtypes
from funcjax.core.primitive import Primitive
from funcjax.core.pytree import tree_flatten, tree_map, tree_unflatten
from funcjax.interpreters.batching import batch_jaxpr, batched_callable, move_batch_axis
from funcjax.interpreters.eval import aval_of, eval_closed_jaxpr
from funcjax.interpreters.jvp import (
    Zero,
    add_tangents,
    instantiate_tangent,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.ops.lazy import lax

custom_jvp_call_p = Primitive("custom_jvp_call", multiple_results=True)
custom_jvp_call_p.def_impl(lambda *args, call_jaxpr, **_: eval_closed_jaxpr(call_jaxpr, *args))
custom_jvp_call_p.def_abstract_eval(lambda *avals, call_jaxpr, **_: call_jaxpr.out_avals)


def _explicit_tangents(name, tangents, num_consts):
    if any(type(t) is not Zero for t in tangents[:num_consts]):
        raise TypeError(
            f"Differentiating the custom-rule function '{name}' with respect to a value it "
            "closes over is not supported: its rule only says how to differentiate with "
            "respect to its explicit arguments. Pass that value as an argument instead.")
    return tangents[num_consts:]


def _custom_jvp_call_jvp(primals, tangents, *, call_jaxpr, jvp, num_consts, name):
    tangents = _explicit_tangents(name, tangents, num_consts)
    return jvp(primals[num_consts:], [instantiate_tangent(t) for t in tangents])


custom_jvp_call_p.def_jvp(_custom_jvp_call_jvp)


def _batch_all(axis_data, args, dims, call_jaxpr):
    """Every argument batched at axis 0 and the function's jaxpr batched to match: the user's
    rules are then vmapped as a whole (see ``batched_callable``)."""
    args = [move_batch_axis(a, d, 0, axis_data.size) for a, d in zip(args, dims)]
    batched, _ = batch_jaxpr(call_jaxpr, axis_data, [True] * len(args), instantiate=True)
    return args, batched


def _custom_jvp_call_batch(axis_data, args, dims, *, call_jaxpr, jvp, num_consts, name):
    args, batched = _batch_all(axis_data, args, dims, call_jaxpr)
    outs = custom_jvp_call_p.bind(*args, call_jaxpr=batched, num_consts=num_consts, name=name,
                                  jvp=batched_callable(jvp, axis_data))
    return outs, [0] * len(outs)


custom_jvp_call_p.def_batch(_custom_jvp_call_batch)
custom_jvp_call_p.def_cost(cost.call("call_jaxpr"))

custom_vjp_call_p = Primitive("custom_vjp_call", multiple_results=True)
custom_vjp_call_p.def_impl(lambda *args, call_jaxpr, **_: eval_closed_jaxpr(call_jaxpr, *args))
custom_vjp_call_p.def_abstract_eval(lambda *avals, call_jaxpr, **_: call_jaxpr.out_avals)


def _custom_vjp_call_jvp(primals, tangents, *, call_jaxpr, fwd, bwd, num_consts, name):
    tangents = _explicit_tangents(name, tangents, num_consts)
    outs, residuals = fwd(*primals[num_consts:])
    nonzero = tuple(type(t) is not Zero for t in tangents)
    out_avals = tuple(tangent_aval(aval_of(o)) for o in outs)
    lin_outs = iter(custom_lin_p.bind(
        *residuals, *[t for t in tangents if type(t) is not Zero], num_res=len(residuals),
        bwd=bwd, nonzero=nonzero, out_avals=out_avals, name=name))
    return outs, [next(lin_outs) if dtypes.is_inexact(a.dtype) else Zero(a) for a in out_avals]


custom_vjp_call_p.def_jvp(_custom_vjp_call_jvp)


def _custom_vjp_call_batch(axis_data, args, dims, *, call_jaxpr, fwd, bwd, num_consts, name):
    args, batched = _batch_all(axis_data, args, dims, call_jaxpr)
    outs = custom_vjp_call_p.bind(*args, call_jaxpr=batched, num_consts=num_consts, name=name,
                                  fwd=batched_callable(fwd, axis_data),
                                  bwd=batched_callable(bwd, axis_data))
    return outs, [0] * len(outs)


custom_vjp_call_p.def_batch(_custom_vjp_call_batch)
custom_vjp_call_p.def_cost(cost.call("call_jaxpr"))


def forward_mode_error(*args, name, **params):
    raise TypeError(
        f"Cannot apply forward-mode differentiation (jvp, jacfwd, linearize) to '{name}': it is "
        "a custom_vjp function, whose rule only covers reverse mode (grad, vjp, jacrev). Use "
        "reverse mode, or make it a custom_jvp function to give it a forward-mode rule.")


# custom_lin(residuals..., nonzero tangents...) -> tangents of the float outputs. It exists
# only to be transposed.
custom_lin_p = Primitive("custom_lin", multiple_results=True)
custom_lin_p.def_impl(forward_mode_error)
custom_lin_p.def_abstract_eval(
    lambda *avals, out_avals, **_: [a for a in out_avals if dtypes.is_inexact(a.dtype)])
custom_lin_p.def_jvp(forward_mode_error)


def _custom_lin_transpose(cts, *args, num_res, bwd, nonzero, out_avals, name):
    it = iter(cts)
    cts_out = [instantiate_tangent(next(it)) if dtypes.is_inexact(a.dtype) else zeros_like_aval(a)
               for a in out_avals]
    cts_in = bwd(args[:num_res], cts_out)
    return [None] * num_res + [c for c, nz in zip(cts_in, nonzero) if nz]


custom_lin_p.def_transpose(_custom_lin_transpose)


def _custom_lin_batch(axis_data, args, dims, *, num_res, bwd, nonzero, out_avals, name):
    args = [move_batch_axis(a, d, 0, axis_data.size) for a, d in zip(args, dims)]
    out_avals = tuple(a.update(shape=(axis_data.size,) + a.shape) for a in out_avals)
    outs = custom_lin_p.bind(*args, num_res=num_res, bwd=batched_callable(bwd, axis_data),
                             nonzero=nonzero, out_avals=out_avals, name=name)
    return outs, [0] * len(outs)


custom_lin_p.def_batch(_custom_lin_batch)
custom_lin_p.def_cost(cost.free)


# -- the user-facing decorators --------------------------------------------------------------
def _positional(fun, args, kwargs):
    """Keyword arguments moved into positions, so nondiff_argnums can refer to them."""
    if not kwargs:
        return args
    bound = inspect.signature(fun).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.args


def _trace(fun, args, nondiff_argnums, what):
    """The function's jaxpr over its differentiable leaves, with constants hoisted."""
    from funcjax.api import trace_pytree_function
    from funcjax.interpreters.staging import hoist_consts
    closed, in_tree, out_tree = trace_pytree_function(fun, args, {}, what, nondiff_argnums)
    jaxpr, consts = hoist_consts(closed)
    diff = [a for i, a in enumerate(args) if i not in nondiff_argnums]
    return jaxpr, consts, tree_flatten((tuple(diff), {}))[0], in_tree, out_tree


def _merge(args, nondiff_argnums, diff):
    it = iter(diff)
    return [args[i] if i in nondiff_argnums else next(it) for i in range(len(args))]


def _check_like(name, what, expected_tree, expected_avals, tree, leaves):
    if tree != expected_tree:
        raise TypeError(f"the custom rule of '{name}' returned {what} with structure {tree}, "
                        f"but the function's output has structure {expected_tree}")
    for i, (e, x) in enumerate(zip(expected_avals, leaves)):
        got = aval_of(x)
        if got.shape != e.shape or got.dtype != e.dtype:
            raise TypeError(f"the custom rule of '{name}' returned {what} whose leaf {i} is "
                            f"{got.str_short()}, but it must be {e.str_short()} to match the "
                            "function's output")


class custom_jvp:  # noqa: N801 - JAX's name
    """A function with a forward-mode rule: ``f.defjvp(rule)`` where ``rule(primals,
    tangents) -> (primal_out, tangent_out)``; reverse mode transposes that rule."""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun, self.nondiff_argnums, self.jvp = fun, tuple(nondiff_argnums), None

    def defjvp(self, jvp, symbolic_zeros=False):
        if symbolic_zeros:
            raise NotImplementedError("custom_jvp.defjvp(symbolic_zeros=True) is not supported; "
                                      "the rule receives zeros as arrays")
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps):
        """One rule per argument: ``jvp_i(tangent_i, primal_out, *primals)``; None for
        arguments that do not affect the output."""
        def jvp(primals, tangents):
            out = self(*primals)
            total = None
            for rule, t in zip(jvps, tangents):
                if rule is not None:
                    part = rule(t, out, *primals)
                    total = part if total is None else tree_map(add_tangents, total, part)
            return out, total
        self.defjvp(jvp)

    def __call__(self, *args, **kwargs):
        name = fun_name(self.fun)
        if self.jvp is None:
            raise AttributeError(f"custom_jvp function '{name}' has no rule: define one with "
                                 f"@{name}.defjvp before calling it")
        args = _positional(self.fun, args, kwargs)
        nondiff = self.nondiff_argnums
        jaxpr, consts, leaves, in_tree, out_tree = _trace(self.fun, args, nondiff, "custom_jvp")
        out_avals = jaxpr.out_avals

        def flat_jvp(primals, tangents):
            diff = tree_unflatten(in_tree, primals)[0]
            diff_t = tree_unflatten(in_tree, tangents)[0]
            nondiff_args = [args[i] for i in nondiff]
            result = self.jvp(*nondiff_args, tuple(diff), tuple(diff_t))
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                got = getattr(getattr(result, "aval", None), "str_short", None)
                raise TypeError(
                    f"the jvp rule of custom_jvp function '{name}' must return a pair "
                    f"(primal_out, tangent_out), got "
                    + (f"a single array of type {got()}" if got else
                       f"{type(result).__name__}" + (f" of length {len(result)}" if isinstance(
                           result, (tuple, list)) else ""))
                    + "; return both, e.g. `return f(x), df(x) * t`")
            primal_out, tangent_out = result
            p_leaves, p_tree = tree_flatten(primal_out)
            t_leaves, t_tree = tree_flatten(tangent_out)
            _check_like(name, "a primal output", out_tree, out_avals, p_tree, p_leaves)
            _check_like(name, "a tangent output", out_tree, [tangent_aval(a) for a in out_avals],
                        t_tree, t_leaves)
            return p_leaves, [t if dtypes.is_inexact(a.dtype) else Zero(tangent_aval(a))
                              for t, a in zip(t_leaves, out_avals)]

        outs = custom_jvp_call_p.bind(*consts, *leaves, call_jaxpr=jaxpr, jvp=flat_jvp,
                                      num_consts=len(consts), name=name)
        return tree_unflatten(out_tree, outs)


class custom_vjp:  # noqa: N801 - JAX's name
    """A function with a reverse-mode rule: ``f.defvjp(fwd, bwd)`` where ``fwd(*args) ->
    (output, residuals)`` and ``bwd(residuals, ct) -> one cotangent per argument``."""

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun, self.nondiff_argnums = fun, tuple(nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd, symbolic_zeros=False):
        if symbolic_zeros:
            raise NotImplementedError("custom_vjp.defvjp(symbolic_zeros=True) is not supported")
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        name = fun_name(self.fun)
        if self.fwd is None:
            raise AttributeError(f"custom_vjp function '{name}' has no rule: define one with "
                                 f"{name}.defvjp(fwd, bwd) before calling it")
        args = _positional(self.fun, args, kwargs)
        nondiff = self.nondiff_argnums
        jaxpr, consts, leaves, in_tree, out_tree = _trace(self.fun, args, nondiff, "custom_vjp")
        out_avals = jaxpr.out_avals
        diff_avals = [aval_of(x) for x in leaves]
        nondiff_args = [args[i] for i in nondiff]
        res_trees = []

        def flat_fwd(*primals):
            diff = tree_unflatten(in_tree, primals)[0]
            result = self.fwd(*_merge(args, nondiff, diff))
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                raise TypeError(f"the fwd rule of custom_vjp function '{name}' must return a "
                                "pair (output, residuals)")
            out_leaves, tree = tree_flatten(result[0])
            _check_like(name, "an output from fwd", out_tree, out_avals, tree, out_leaves)
            res_leaves, res_tree = tree_flatten(result[1])
            res_trees.append(res_tree)
            return out_leaves, res_leaves

        def flat_bwd(residuals, cts):
            res = tree_unflatten(res_trees[-1], residuals)
            cts_in = self.bwd(*nondiff_args, res, tree_unflatten(out_tree, cts))
            return _flatten_cotangents(name, cts_in, in_tree, diff_avals)

        outs = custom_vjp_call_p.bind(*consts, *leaves, call_jaxpr=jaxpr, fwd=flat_fwd,
                                      bwd=flat_bwd, num_consts=len(consts), name=name)
        return tree_unflatten(out_tree, outs)


def _flatten_cotangents(name, cts_in, in_tree, avals):
    """bwd's result (one entry per differentiable argument, None meaning zero) as leaves."""
    arg_trees = in_tree.children[0].children
    if not isinstance(cts_in, (tuple, list)) or len(cts_in) != len(arg_trees):
        raise TypeError(f"the bwd rule of custom_vjp function '{name}' must return a tuple with "
                        f"one cotangent per differentiable argument ({len(arg_trees)}), got "
                        f"{type(cts_in).__name__}"
                        + (f" of length {len(cts_in)}" if isinstance(cts_in, (tuple, list))
                           else ""))
    leaves, it = [], iter(avals)
    for i, (ct, tree) in enumerate(zip(cts_in, arg_trees)):
        arg_avals = [next(it) for _ in range(tree.num_leaves)]
        if ct is None:
            leaves.extend(zeros_like_aval(tangent_aval(a)) for a in arg_avals)
            continue
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != tree:
            raise TypeError(f"the bwd rule of custom_vjp function '{name}' returned a "
                            f"cotangent with structure {ct_tree} for argument {i}, whose "
                            f"structure is {tree}")
        leaves.extend(_checked_cotangent(name, i, ct, a) for ct, a in zip(ct_leaves, arg_avals))
    return leaves


def _checked_cotangent(name, i, ct, aval):
    """A bwd cotangent of the argument's tangent type: a wrong shape or a non-float dtype for a
    float argument is an error (it would become a wrong gradient); another float width is cast,
    and the cotangent of an integer argument is its float0 zero."""
    want = tangent_aval(aval)
    if not dtypes.is_float(aval.dtype):
        return zeros_like_aval(want)
    got = aval_of(ct)
    if tuple(got.shape) != tuple(want.shape) or not dtypes.is_float(got.dtype):
        raise ValueError(
            f"the bwd rule of custom_vjp function '{name}' returned a cotangent of type "
            f"{got.str_short()} for argument {i}, whose type is {want.str_short()}: bwd must "
            "return one cotangent per argument with the argument's shape and float dtype")
    if got.dtype != want.dtype:
        return lax.convert_element_type(ct, want.dtype)
    return ct
