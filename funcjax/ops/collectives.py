"""Collectives: operations across the members of a named mapped axis.

A collective names an axis bound by an enclosing ``vmap(..., axis_name=...)`` (or ``pmap``).
Under vmap the members are the lanes of the batch, and the batch rules below are the
reference semantics that pmap's per-device implementation must match. Outside every such axis
there is no one to communicate with, so ``impl`` raises ``NameError``.

psum, pmax and pmin take a tuple of names (nested maps) and reduce over all of them; the other
collectives act over one axis. Every trace that binds a named axis carries ``axis_data``
(name, size): ``axis_env`` reads it to check names, and to record the axis size in the
parameters of collectives whose result shape depends on it.
"""

import numpy as np

from funcjax.core import cost
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.core.trace import current_trace
from funcjax.interpreters.batching import move_batch_axis, not_mapped
from funcjax.interpreters.jvp import defjvp_zero, deflinear
from funcjax.ops.lazy import lax
from funcjax.ops.reductions import reduce_max_p, reduce_min_p, reduce_sum_p
from funcjax.ops.typing import ANY, NUMBER, check_axes, check_kinds


# -- axis names in scope ---------------------------------------------------------------------
def axis_env():
    """The named axes of the enclosing maps, innermost first, as ``AxisData``."""
    env, trace = [], current_trace()
    while trace is not None:
        data = getattr(trace, "axis_data", None)
        if data is not None and data.name is not None:
            env.append(data)
        trace = trace.parent
    return env


def unbound_axis_message(where, name, in_scope):
    scope = (f"the axis names in scope are {tuple(in_scope)}" if in_scope else
             "no named axis is in scope")
    return (f"unbound axis name {name!r} in {where}: {scope}. Collectives need an enclosing "
            f"vmap(..., axis_name={name!r}) or pmap(..., axis_name={name!r}).")


def axis_sizes(where, axis_name):
    """The size of each named axis (innermost binding wins), or a NameError naming the axes
    in scope."""
    env = axis_env()
    sizes = []
    for name in axis_name:
        size = next((a.size for a in env if a.name == name), None)
        if size is None:
            raise NameError(unbound_axis_message(where, name, [a.name for a in env]))
        sizes.append(size)
    return sizes


def _unbound(*args, axis_name, **params):
    name = axis_name[0] if isinstance(axis_name, tuple) else axis_name
    raise NameError(unbound_axis_message("a collective", name, ()))


def _check_tiling(where, size, axis_size, tiled, dim):
    if size != axis_size and not (tiled and size % axis_size == 0):
        need = f"a multiple of {axis_size}" if tiled else f"equal to {axis_size}"
        raise ValueError(f"{where}: dimension {dim} has size {size}, which must be {need} "
                         f"(the size of the mapped axis) with tiled={tiled}")


# -- psum, pmax, pmin ------------------------------------------------------------------------
def _reduction(name, kinds):
    def type_rule(x, *, axis_name):
        check_kinds(name, [x], kinds)
        return x
    return define_primitive(name, _unbound, type_rule)


psum_p = _reduction("psum", NUMBER)
pmax_p = _reduction("pmax", ANY)
pmin_p = _reduction("pmin", ANY)
deflinear(psum_p)


def _extremum_jvp(prim):
    """Ties share the derivative equally, as in the jvp of reduce_max."""
    def rule(primals, tangents, *, axis_name):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axis_name=axis_name)
        hit = lax.convert_element_type(lax.eq(x, out), x.dtype)
        count = psum_p.bind(hit, axis_name=axis_name)
        return out, lax.div(psum_p.bind(lax.mul(t, hit), axis_name=axis_name), count)
    prim.def_jvp(rule)


_extremum_jvp(pmax_p)
_extremum_jvp(pmin_p)


def _linear_transpose(transposed):
    """Transpose rule of a collective linear in its one operand."""
    return lambda ct, x, **params: [transposed(ct, **params)]


psum_p.def_transpose(_linear_transpose(lambda ct, axis_name: psum_p.bind(
    ct, axis_name=axis_name)))


def _reduction_batch(prim, reduce, unmapped):
    """Reduces over the lanes when the named axes include this vmap's, then over the rest."""
    def rule(axis_data, args, dims, *, axis_name):
        (x,), (dim,) = args, dims
        if axis_data.name not in axis_name:
            return prim.bind(x, axis_name=axis_name), dim
        x = unmapped(x, axis_data.size) if dim is not_mapped else reduce.bind(x, axes=(dim,))
        rest = tuple(n for n in axis_name if n != axis_data.name)
        return (prim.bind(x, axis_name=rest) if rest else x), not_mapped
    return rule


psum_p.def_batch(_reduction_batch(psum_p, reduce_sum_p, lambda x, size: lax.mul(x, size)))
psum_p.def_cost(cost.per_input_element)
pmax_p.def_batch(_reduction_batch(pmax_p, reduce_max_p, lambda x, size: x))
pmax_p.def_cost(cost.per_input_element)
pmin_p.def_batch(_reduction_batch(pmin_p, reduce_min_p, lambda x, size: x))
pmin_p.def_cost(cost.per_input_element)


# -- all_gather and psum_scatter -------------------------------------------------------------
def _all_gather_type(x, *, axis_name, axis, axis_size, tiled):
    shape = list(x.shape)
    if tiled:
        check_axes("all_gather", (axis,), x.ndim)
        shape[axis] *= axis_size
    else:
        check_axes("all_gather", (axis,), x.ndim + 1)
        shape.insert(axis, axis_size)
    return ShapedArray(shape, x.dtype, x.weak_type)


all_gather_p = define_primitive("all_gather", _unbound, _all_gather_type)
deflinear(all_gather_p)


def _psum_scatter_type(x, *, axis_name, scatter_dimension, axis_size, tiled):
    check_kinds("psum_scatter", [x], NUMBER)
    check_axes("psum_scatter", (scatter_dimension,), x.ndim)
    _check_tiling("psum_scatter", x.shape[scatter_dimension], axis_size, tiled,
                  scatter_dimension)
    shape = list(x.shape)
    if tiled:
        shape[scatter_dimension] //= axis_size
    else:
        del shape[scatter_dimension]
    return ShapedArray(shape, x.dtype, x.weak_type)


psum_scatter_p = define_primitive("psum_scatter", _unbound, _psum_scatter_type)
deflinear(psum_scatter_p)


all_gather_p.def_transpose(_linear_transpose(
    lambda ct, axis_name, axis, axis_size, tiled: psum_scatter_p.bind(
        ct, axis_name=axis_name, scatter_dimension=axis, axis_size=axis_size, tiled=tiled)))
psum_scatter_p.def_transpose(_linear_transpose(
    lambda ct, axis_name, scatter_dimension, axis_size, tiled: all_gather_p.bind(
        ct, axis_name=axis_name, axis=scatter_dimension, axis_size=axis_size, tiled=tiled)))


def _merge_axes(x, axis):
    """``x`` with axes ``axis`` and ``axis + 1`` merged into one (the first one major)."""
    shape = list(np.shape(x))
    shape[axis:axis + 2] = [shape[axis] * shape[axis + 1]]
    return lax.reshape(x, shape)


def _split_axis(x, axis, parts):
    """``x`` with axis ``axis`` split into ``(parts, size // parts)``."""
    shape = list(np.shape(x))
    shape[axis:axis + 1] = [parts, shape[axis] // parts]
    return lax.reshape(x, shape)


def _all_gather_batch(axis_data, args, dims, *, axis_name, axis, axis_size, tiled):
    (x,), (dim,) = args, dims
    if axis_name != axis_data.name:
        x = move_batch_axis(x, dim, 0, axis_data.size)
        return all_gather_p.bind(x, axis_name=axis_name, axis=axis + 1, axis_size=axis_size,
                                 tiled=tiled), 0
    # Every member receives the whole batch: the result is the same in every lane.
    out = move_batch_axis(x, dim, axis, axis_data.size)
    return (_merge_axes(out, axis) if tiled else out), not_mapped


all_gather_p.def_batch(_all_gather_batch)
all_gather_p.def_cost(cost.free)


def _psum_scatter_batch(axis_data, args, dims, *, axis_name, scatter_dimension, axis_size,
                        tiled):
    (x,), (dim,) = args, dims
    if axis_name != axis_data.name:
        x = move_batch_axis(x, dim, 0, axis_data.size)
        return psum_scatter_p.bind(x, axis_name=axis_name, scatter_dimension=scatter_dimension
                                   + 1, axis_size=axis_size, tiled=tiled), 0
    total = (lax.mul(x, axis_data.size) if dim is not_mapped else
             reduce_sum_p.bind(x, axes=(dim,)))
    # Member k keeps block k of the sum: the scattered dimension becomes the batch axis.
    if tiled:
        total = _split_axis(total, scatter_dimension, axis_data.size)
    return total, scatter_dimension


psum_scatter_p.def_batch(_psum_scatter_batch)
psum_scatter_p.def_cost(cost.per_input_element)


# -- all_to_all ------------------------------------------------------------------------------
def _all_to_all_type(x, *, axis_name, split_axis, concat_axis, axis_size, tiled):
    check_axes("all_to_all", (split_axis,), x.ndim)
    _check_tiling("all_to_all", x.shape[split_axis], axis_size, tiled, split_axis)
    check_axes("all_to_all", (concat_axis,), x.ndim)
    shape = list(x.shape)
    if tiled:
        shape[split_axis] //= axis_size
        shape[concat_axis] *= axis_size
    else:
        del shape[split_axis]
        shape.insert(concat_axis, axis_size)
    return ShapedArray(shape, x.dtype, x.weak_type)


all_to_all_p = define_primitive("all_to_all", _unbound, _all_to_all_type)
deflinear(all_to_all_p)
all_to_all_p.def_transpose(_linear_transpose(
    lambda ct, axis_name, split_axis, concat_axis, axis_size, tiled: all_to_all_p.bind(
        ct, axis_name=axis_name, split_axis=concat_axis, concat_axis=split_axis,
        axis_size=axis_size, tiled=tiled)))


def _all_to_all_batch(axis_data, args, dims, *, axis_name, split_axis, concat_axis, axis_size,
                      tiled):
    (x,), (dim,) = args, dims
    size = axis_data.size
    x = move_batch_axis(x, dim, 0, size)
    if axis_name != axis_data.name:
        return all_to_all_p.bind(x, axis_name=axis_name, split_axis=split_axis + 1,
                                 concat_axis=concat_axis + 1, axis_size=axis_size,
                                 tiled=tiled), 0
    # Lane m's chunk k goes to lane k: the chunk axis becomes the batch axis and the sender
    # axis m takes the place of the concatenated axis.
    if tiled:
        x = _split_axis(x, 1 + split_axis, size)
    x = move_batch_axis(move_batch_axis(x, 1 + split_axis, 0, size), 1, 1 + concat_axis, size)
    return (_merge_axes(x, 1 + concat_axis) if tiled else x), 0


all_to_all_p.def_batch(_all_to_all_batch)
all_to_all_p.def_cost(cost.free)


# -- ppermute and axis_index -----------------------------------------------------------------
ppermute_p = define_primitive("ppermute", _unbound, lambda x, *, axis_name, perm: x)
deflinear(ppermute_p)
ppermute_p.def_transpose(_linear_transpose(lambda ct, axis_name, perm: ppermute_p.bind(
    ct, axis_name=axis_name, perm=tuple((t, s) for s, t in perm))))


def _ppermute_batch(axis_data, args, dims, *, axis_name, perm):
    (x,), (dim,) = args, dims
    if axis_name != axis_data.name:
        return ppermute_p.bind(x, axis_name=axis_name, perm=perm), dim
    # Lane t reads lane s for each (s, t) pair; lanes that receive nothing get zeros.
    source = np.zeros((axis_data.size, 1), np.int32)
    receives = np.zeros(axis_data.size, bool)
    for s, t in perm:
        source[t], receives[t] = s, True
    x = move_batch_axis(x, dim, 0, axis_data.size)
    out = lax.gather(x, source, axes=(0,))
    if not receives.all():
        mask = lax.broadcast_in_dim(receives, np.shape(out), (0,))
        out = lax.select(mask, out, lax.full(np.shape(out), 0, out.dtype))
    return out, 0


ppermute_p.def_batch(_ppermute_batch)
ppermute_p.def_cost(cost.free)

axis_index_p = define_primitive("axis_index", _unbound,
                                lambda *, axis_name: ShapedArray((), np.int32))
defjvp_zero(axis_index_p)
axis_index_p.def_batch(lambda axis_data, args, dims, *, axis_name: (
    lax.iota(np.int32, axis_data.size), 0))
axis_index_p.def_cost(cost.free)
