"""User-facing transformations. Each one flattens pytrees, runs an interpreter over flat lists
and rebuilds the output structure; the interpreters never see pytrees."""

import functools

from funcjax.api_util import (
    argument_names,
    flat_argument_names,
    fun_name,
    merge_static,
    normalize_argnums,
    shaped_abstractify,
    split_static,
)
from funcjax.api_vmap import check_axes_spec, flat_in_axes, mapped_size, place_outputs
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.interpreters.batching import AxisData, batch_flat
from funcjax.interpreters.staging import trace_to_jaxpr


def trace_pytree_function(fun, args, kwargs, description, static_argnums=()):
    """Stages ``fun(*args, **kwargs)`` (pytrees) into a ClosedJaxpr over the flat leaves of the
    non-static arguments. Returns ``(closed_jaxpr, in_tree, out_tree)``."""
    nargs = len(args)
    dynamic, static = split_static(args, static_argnums)
    names = argument_names(fun, args, kwargs)
    dyn_names = [n for i, n in enumerate(names[:nargs]) if i not in static]
    leaves, in_tree = tree_flatten((tuple(dynamic), kwargs))
    flat_names = flat_argument_names(dyn_names + list(kwargs), list(dynamic) +
                                     list(kwargs.values()))
    out_tree_box = []

    def flat_fun(*flat):
        dyn_args, kw = tree_unflatten(in_tree, flat)
        out = fun(*merge_static(dyn_args, static, nargs), **kw)
        out_leaves, out_tree = tree_flatten(out)
        out_tree_box.append(out_tree)
        return out_leaves

    closed = trace_to_jaxpr(flat_fun, [shaped_abstractify(x) for x in leaves],
                            f"{description}({fun_name(fun)})", flat_names)
    return closed, in_tree, out_tree_box[0]


def make_jaxpr(fun, static_argnums=(), return_shape=False):
    """``make_jaxpr(f)(*args)`` returns the ClosedJaxpr that ``f`` performs on such args."""
    @functools.wraps(fun)
    def make(*args, **kwargs):
        static, _ = normalize_argnums("make_jaxpr", static_argnums, len(args), "static_argnums")
        closed, _, out_tree = trace_pytree_function(fun, args, kwargs, "make_jaxpr", static)
        if return_shape:
            from funcjax.core.abstract import ShapedArray  # noqa: F401
            shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
            return closed, tree_unflatten(out_tree, shapes)
        return closed
    return make


class ShapeDtypeStruct:
    """Shape and dtype without data: stands for an argument in ``make_jaxpr``/``jit.lower``."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type=False):
        import numpy as np
        self.shape, self.dtype, self.weak_type = tuple(shape), np.dtype(dtype), weak_type

    ndim = property(lambda self: len(self.shape))

    def __repr__(self):
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other):
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype) == \
            (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))


def eval_shape(fun, *args, **kwargs):
    """The output shapes and dtypes of ``fun(*args)`` without computing anything."""
    closed, _, out_tree = trace_pytree_function(fun, args, kwargs, "eval_shape")
    return tree_unflatten(out_tree, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type)
                                     for a in closed.out_avals])


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, axis_size=None):
    """Vectorises ``fun`` over one axis of its arguments, as if it were called on each slice and
    the results stacked, but in one pass: each primitive runs once on the whole batch.

    ``in_axes``/``out_axes`` are ints, None (not mapped) or pytree prefixes of the positional
    arguments / outputs; keyword arguments are mapped over axis 0. ``axis_name`` lets
    collectives (``lax.psum(x, axis_name)``, ...) work across the mapped axis; ``axis_size``
    gives the size when no argument is mapped.
    """
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
