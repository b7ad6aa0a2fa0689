"""Plumbing shared by the user-facing transformations: argument names, static arguments,
flattening pytrees of arguments into the flat lists that interpreters work on."""

import dataclasses
import inspect

from funcjax.core.abstract import ShapedArray
from funcjax.core.pytree import keystr, tree_flatten, tree_flatten_with_path
from funcjax.interpreters.eval import aval_of


def check_callable(fun, what=None):
    if not callable(fun):
        where = f"{what}: " if what else ""
        fix = f" (write {what}(f), not {what}(f(x)))" if what else ""
        raise TypeError(f"{where}Expected a callable value, got {fun!r:.80} of type "
                        f"{type(fun).__name__}; pass the function itself{fix}")


def fun_name(fun):
    return getattr(fun, "__name__", type(fun).__name__)


def argument_names(fun, args, kwargs=None):
    """A readable name for every positional argument (``x``, ``params``, ``args[2]``)."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(len(args)):
        if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                                  params[i].POSITIONAL_OR_KEYWORD):
            names.append(params[i].name)
        elif params and params[-1].kind == params[-1].VAR_POSITIONAL:
            names.append(f"{params[-1].name}[{i}]")
        else:
            names.append(f"args[{i}]")
    return names + list((kwargs or {}).keys())


def flat_argument_names(names, args):
    """One name per leaf: ``params['w']``, ``xs[0]``."""
    out = []
    for name, arg in zip(names, args):
        for path, _ in tree_flatten_with_path(arg)[0]:
            out.append(name + (keystr(path) if path else ""))
    return out


def normalize_argnums(name, argnums, nargs, what="argnums"):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    out = []
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(f"{name}: {what}={argnums!r} refers to a positional argument "
                             f"that does not exist; the function was called with {nargs} "
                             "positional arguments")
        out.append(n % nargs)
    return out, single


def split_static(args, static_argnums):
    """(dynamic args, static args by position) for a call with ``static_argnums``."""
    static = {i: args[i] for i in static_argnums}
    dynamic = [a for i, a in enumerate(args) if i not in static]
    return dynamic, static


def merge_static(dynamic, static, nargs):
    it = iter(dynamic)
    return [static[i] if i in static else next(it) for i in range(nargs)]


def shaped_abstractify(x):
    """The abstract value of an argument leaf (``ShapeDtypeStruct`` is accepted too)."""
    if hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "aval") and \
            type(x).__name__ == "ShapeDtypeStruct":
        return ShapedArray(x.shape, x.dtype, getattr(x, "weak_type", False))
    return aval_of(x)


def flatten_args(args):
    leaves, tree = tree_flatten(tuple(args))
    return leaves, tree


def bad_argument_error(what, fun, args, kwargs=None, static_fix=False, positions=None):
    """The TypeError for the first argument leaf that is not an array (naming the argument
    with its pytree path and the fix), or None if every leaf is one. ``positions`` limits
    the search to those positional arguments."""
    kwargs = kwargs or {}
    names = argument_names(fun, args, kwargs)
    for k, (name, value) in enumerate(zip(names, list(args) + list(kwargs.values()))):
        if positions is not None and k not in positions:
            continue
        for path, leaf in tree_flatten_with_path(value)[0]:
            try:
                shaped_abstractify(leaf)
            except TypeError:
                kind = "a dataclass" if dataclasses.is_dataclass(leaf) else "a value"
                static = (", or mark the argument static (static_argnums / static_argnames)"
                          if static_fix else "")
                return TypeError(
                    f"{what}: argument '{name}{keystr(path)}' is {kind} of type "
                    f"{type(leaf).__name__}, which is neither an array nor a registered pytree. "
                    "Register its class as a pytree (funcjax.tree_util.register_dataclass or "
                    f"register_pytree_node){static}, or pass its array fields instead.")
    return None


def abstractify_arguments(what, fun, args, kwargs, leaves, static_fix=False):
    """The abstract values of ``leaves`` (the flattened ``args``/``kwargs``), with a clear
    error naming the argument when one of them is not an array."""
    try:
        return [shaped_abstractify(x) for x in leaves]
    except TypeError:
        error = bad_argument_error(what, fun, args, kwargs, static_fix)
        if error is None:
            raise
        raise error from None
