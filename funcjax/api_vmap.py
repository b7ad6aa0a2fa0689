"""vmap and its pytree plumbing: ``in_axes``/``out_axes`` prefixes to one axis per leaf, the
mapped size, and outputs moved to where ``out_axes`` asks. The batching interpreter only sees
flat lists. The errors follow JAX's rules but name the function, the argument and its shape,
and say how to fix the call."""

import functools

import numpy as np

from funcjax.api_util import (
    abstractify_arguments,
    argument_names,
    check_callable,
    flat_argument_names,
    fun_name,
)
from funcjax.core.pytree import (
    broadcast_prefix,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_unflatten,
)
from funcjax.interpreters.batching import (
    AxisData,
    batch_flat,
    move_batch_axis,
    not_mapped,
    unbatched_shape,
)
from funcjax.interpreters.eval import aval_of


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, axis_size=None):
    """Vectorises ``fun`` over one axis of its arguments, as if it were called on each slice and
    the results stacked, but in one pass: each primitive runs once on the whole batch.

    ``in_axes``/``out_axes`` are ints, None (not mapped) or pytree prefixes of the positional
    arguments / outputs; keyword arguments are mapped over axis 0. ``axis_name`` lets
    collectives (``lax.psum(x, axis_name)``, ...) work across the mapped axis; ``axis_size``
    gives the size when no argument is mapped.
    """
    check_callable(fun, "vmap")
    name = fun_name(fun)
    in_axes = check_axes_spec(name, "in_axes", in_axes)
    check_axes_spec(name, "out_axes", out_axes)

    @functools.wraps(fun)
    def vmapped(*args, **kwargs):
        leaves, in_tree = tree_flatten((args, kwargs))
        dims, names = flat_in_axes(fun, in_axes, args, kwargs)
        size = mapped_size(name, leaves, names, dims, axis_size)
        out_trees = []

        def flat_fun(*flat):
            fun_args, fun_kwargs = tree_unflatten(in_tree, flat)
            out_leaves, out_tree = tree_flatten(fun(*fun_args, **fun_kwargs))
            out_trees.append(out_tree)
            return out_leaves

        outs, out_dims = batch_flat(flat_fun, leaves, dims, AxisData(axis_name, size),
                                    f"vmap({name})")
        outs = place_outputs(name, out_axes, out_trees[0], outs, out_dims, size)
        return tree_unflatten(out_trees[0], outs)
    return vmapped


def check_axes_spec(name, what, spec):
    """The spec as vmap uses it (a top-level list of in_axes means a tuple), or a TypeError."""
    if what == "in_axes":
        if isinstance(spec, list):
            spec = tuple(spec)
        if not (spec is None or type(spec) is int or type(spec) is tuple):
            raise TypeError(
                f"vmap({name}): in_axes must be an int, None, or a tuple with one entry per "
                f"positional argument, got {spec!r}. Wrap a dict or list spec in a tuple: "
                f"in_axes=({spec!r},) for a function of one argument.")
    leaves, _ = tree_flatten(spec, is_leaf=lambda x: x is None)
    bad = [x for x in leaves if x is not None and type(x) is not int]
    if bad:
        raise TypeError(f"vmap({name}): {what} must be an int, None, or a (nested) tuple, list "
                        f"or dict of them, got {spec!r} (its entry {bad[0]!r} is neither)")
    return spec


def flat_in_axes(fun, in_axes, args, kwargs):
    """One normalised axis (or ``not_mapped``) and one name per leaf of ``(args, kwargs)``;
    keyword arguments are mapped over their leading axis, as in JAX."""
    name = fun_name(fun)
    if isinstance(in_axes, tuple) and len(in_axes) != len(args):
        raise ValueError(
            f"vmap({name}): in_axes has {len(in_axes)} entries {in_axes!r} but the function was "
            f"called with {len(args)} positional arguments. Give one entry per positional "
            "argument (None for those that are not mapped), or a single int for all of them.")
    spec = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    kwargs = dict(sorted(kwargs.items()))
    try:
        axes = broadcast_prefix((spec, {k: 0 for k in kwargs}), (tuple(args), kwargs),
                                f"vmap({name})", "in_axes")
    except ValueError as e:
        raise ValueError(f"{e}. in_axes must be a tree prefix of the positional arguments: "
                         "each entry is an int or None for a whole argument, or a container "
                         "of the argument's own structure.") from None
    leaves, _ = tree_flatten((tuple(args), kwargs))
    abstractify_arguments(f"vmap({name})", fun, args, kwargs, leaves)
    names = flat_argument_names(argument_names(fun, args) + list(kwargs),
                                list(args) + list(kwargs.values()))
    return [_normalize_in_axis(name, axis, leaf, arg)
            for axis, leaf, arg in zip(axes, leaves, names)], names


def _normalize_in_axis(name, axis, leaf, arg):
    if axis is None:
        return not_mapped
    shape = aval_of(leaf).shape  # a TypeError for a leaf that is not an array (a string, ...)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"vmap({name}): in_axes asks to map argument {arg} of shape {shape} along axis "
            f"{axis}, but it has rank {len(shape)}. Map it along an axis in "
            f"[{-len(shape)}, {len(shape)}), or use None for it in in_axes to leave it unmapped.")
    return axis % len(shape)


def mapped_size(name, leaves, names, dims, axis_size):
    """The size of the mapped axis, checked to be the same for every mapped argument."""
    sizes = [(np.shape(x)[d], f"axis {d} of argument {n} of shape {np.shape(x)}")
             for x, n, d in zip(leaves, names, dims) if d is not not_mapped]
    if axis_size is not None:
        sizes.insert(0, (axis_size, "the axis_size argument"))
    if not sizes:
        raise ValueError(
            f"vmap({name}): no argument is mapped (every in_axes entry is None, or there are no "
            "array arguments), so the size of the mapped axis is unknown. Map at least one "
            "argument, or pass axis_size=n.")
    if any(size != sizes[0][0] for size, _ in sizes):
        lines = "".join(f"\n  * size {size}: {what}" for size, what in sizes)
        raise ValueError(
            f"vmap({name}) got inconsistent sizes for the axes to be mapped:{lines}\n"
            "Every mapped axis must have the same size. Fix the shapes, or use None in in_axes "
            "for arguments that should be shared rather than mapped.")
    return sizes[0][0]


def place_outputs(name, out_axes, out_tree, outs, dims, size):
    """Each output with its batch axis where ``out_axes`` says (None: left unmapped)."""
    try:
        axes = broadcast_prefix(out_axes, out_tree.unflatten([0] * len(outs)),
                                f"vmap({name})", "out_axes")
    except ValueError as e:
        raise ValueError(f"{e}. out_axes must be an int, None, or a tree prefix of the "
                         f"function's output, whose structure is {out_tree}.") from None
    paths = [keystr(p) for p, _ in tree_flatten_with_path(out_tree.unflatten(outs))[0]]
    return [_place(name, out, dim, axis, path, size)
            for out, dim, axis, path in zip(outs, dims, axes, paths)]


def _place(name, out, dim, axis, path, size):
    where = "the output" if not path else f"output {path}"
    if axis is None:
        if dim is not not_mapped:
            raise ValueError(
                f"vmap({name}): out_axes is None for {where}, but that output depends on the "
                f"mapped arguments (it is batched along axis {dim}). Give it an int in out_axes, "
                "or make it independent of the mapped arguments.")
        return out
    shape = unbatched_shape(out, dim)
    rank = len(shape) + 1
    if not -rank <= axis < rank:
        raise ValueError(
            f"vmap({name}): out_axes asks to put the mapped axis of {where} at axis {axis}, "
            f"but that output has shape {shape} per example, so rank {rank} once mapped. Use "
            f"an axis in [{-rank}, {rank}).")
    return move_batch_axis(out, dim, axis % rank, size)
