"""Indexing primitives: dynamic_slice, dynamic_update_slice, gather and the scatter family.

``gather(operand, indices, axes=...)``: ``indices`` has shape ``B + (len(axes),)``; each row
picks one position along ``axes``, and the result has shape ``B + (the other axes of
operand)``. This is numpy's advanced indexing on a set of axes, and it stays closed under
vmap (a batch axis becomes one more indexed axis driven by an iota). Scatters take
``updates`` of the gather's result shape. Out-of-range indices never touch memory outside the
array: ``mode="clip"`` clamps them, ``mode="fill"`` gives ``fill_value`` (gather) or drops the
update (scatter), as JAX does.
"""

import numpy as np

from funcjax.core import cost
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import batched_axis, move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import (
    Zero,
    defjvp,
    instantiate_tangent,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import as_index_dtype, check_axes, describe

MODES = ("clip", "fill")


def _zeros_like(x):
    return zeros_like_aval(x.aval if is_undefined_primal(x) else aval_of(x))


def _jvp_linear_in(primitive, linear):
    """Rule for primitives linear in the inputs at positions ``linear`` jointly (the others are
    indices): the tangent is the primitive applied to those inputs' tangents."""
    def rule(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(tangents[i]) is Zero for i in linear):
            return out, Zero(tangent_aval(aval_of(out)))
        args = [instantiate_tangent(t) if i in linear else p
                for i, (p, t) in enumerate(zip(primals, tangents))]
        return out, primitive.bind(*args, **params)
    primitive.def_jvp(rule)


def _clamped_starts(shape, sizes, starts):
    return [int(np.clip(int(s), 0, n - k)) for s, n, k in zip(starts, shape, sizes)]


def _check_starts(name, operand, starts):
    if len(starts) != operand.ndim:
        raise TypeError(f"{name}: needs {operand.ndim} start indices for an operand of shape "
                        f"{operand.shape}, got {len(starts)}")
    for s in starts:
        as_index_dtype(name, s, "start indices")
        if s.shape != ():
            raise TypeError(f"{name}: start indices must be scalars, got {s.str_short()}")


# -- dynamic_slice / dynamic_update_slice ----------------------------------------------------
def _dynamic_slice(x, *starts, slice_sizes):
    begin = _clamped_starts(x.shape, slice_sizes, starts)
    return x[tuple(slice(b, b + k) for b, k in zip(begin, slice_sizes))]


def _dynamic_slice_type(x, *starts, slice_sizes):
    _check_starts("dynamic_slice", x, starts)
    sizes = tuple(slice_sizes)
    if len(sizes) != x.ndim or any(not 0 <= k <= n for k, n in zip(sizes, x.shape)):
        raise TypeError(f"dynamic_slice: slice_sizes {sizes} do not fit operand shape "
                        f"{x.shape}")
    return ShapedArray(sizes, x.dtype, x.weak_type)


dynamic_slice_p = define_primitive("dynamic_slice", _dynamic_slice, _dynamic_slice_type)
_jvp_linear_in(dynamic_slice_p, (0,))
dynamic_slice_p.def_transpose(lambda ct, x, *starts, slice_sizes: [
    lax.dynamic_update_slice(_zeros_like(x), ct, starts)] + [None] * len(starts))


def _window_indices(starts, dims, shape, sizes, size):
    """Gather indices for one window per lane: ``(size,) + sizes + (1 + rank,)`` rows that
    address the batch axis (an iota) and every element of each lane's clamped window."""
    grid = (size,) + tuple(sizes)
    columns = [lax.broadcasted_iota(np.int32, grid, 0)]
    for j, (start, dim, n, k) in enumerate(zip(starts, dims, shape, sizes)):
        # Clamp in the starts' own dtype first: an int64 start cast to int32 would wrap.
        start = lax.clamp(0, move_batch_axis(start, dim, 0, size), n - k)
        start = lax.convert_element_type(start, np.int32)
        columns.append(lax.broadcast_in_dim(start, grid, (0,)) +
                       lax.broadcasted_iota(np.int32, grid, j + 1))
    return lax.concatenate([lax.expand_dims(c, (len(grid),)) for c in columns], len(grid))


def _dynamic_slice_batch(axis_data, args, dims, *, slice_sizes):
    (x, *starts), (x_dim, *start_dims) = args, dims
    if all(d is not_mapped for d in start_dims):
        starts.insert(x_dim, np.zeros((), np.int32))
        sizes = list(slice_sizes)
        sizes.insert(x_dim, axis_data.size)
        return dynamic_slice_p.bind(x, *starts, slice_sizes=tuple(sizes)), x_dim
    # Per-lane starts: one gather of every lane's window (no loop over lanes).
    x = move_batch_axis(x, x_dim, 0, axis_data.size)
    indices = _window_indices(starts, start_dims, x.shape[1:], slice_sizes, axis_data.size)
    return gather_p.bind(x, indices, axes=tuple(range(x.ndim)), mode="clip",
                         fill_value=None), 0


dynamic_slice_p.def_batch(_dynamic_slice_batch)
dynamic_slice_p.def_cost(cost.free)


def _dynamic_update_slice(x, update, *starts):
    begin = _clamped_starts(x.shape, update.shape, starts)
    out = np.array(x)
    out[tuple(slice(b, b + k) for b, k in zip(begin, update.shape))] = update
    return out


def _dynamic_update_slice_type(x, update, *starts):
    _check_starts("dynamic_update_slice", x, starts)
    if update.dtype != x.dtype or update.ndim != x.ndim or any(
            u > n for u, n in zip(update.shape, x.shape)):
        raise TypeError(f"dynamic_update_slice: update {update.str_short()} does not fit "
                        f"operand {x.str_short()} (same dtype and rank, no larger)")
    return ShapedArray(x.shape, x.dtype, x.weak_type)


dynamic_update_slice_p = define_primitive("dynamic_update_slice", _dynamic_update_slice,
                                 _dynamic_update_slice_type)
_jvp_linear_in(dynamic_update_slice_p, (0, 1))


def _dynamic_update_slice_transpose(ct, x, update, *starts):
    ct_x = ct_update = None
    if is_undefined_primal(x):
        ct_x = lax.dynamic_update_slice(ct, _zeros_like(update), starts)
    if is_undefined_primal(update):
        ct_update = lax.dynamic_slice(ct, starts, update.aval.shape)
    return [ct_x, ct_update] + [None] * len(starts)


dynamic_update_slice_p.def_transpose(_dynamic_update_slice_transpose)


def _dynamic_update_slice_batch(axis_data, args, dims):
    (x, update, *starts), (x_dim, update_dim, *start_dims) = args, dims
    x = move_batch_axis(x, x_dim, 0, axis_data.size)
    update = move_batch_axis(update, update_dim, 0, axis_data.size)
    if all(d is not_mapped for d in start_dims):
        return dynamic_update_slice_p.bind(x, update, np.zeros((), np.int32), *starts), 0
    indices = _window_indices(starts, start_dims, x.shape[1:], update.shape[1:],
                              axis_data.size)
    return scatter_p.bind(x, indices, update, axes=tuple(range(x.ndim)), mode="clip"), 0


dynamic_update_slice_p.def_batch(_dynamic_update_slice_batch)
dynamic_update_slice_p.def_cost(cost.free)


# -- gather ----------------------------------------------------------------------------------
def default_fill_value(dtype):
    """JAX's fill for out-of-range gathers: NaN (complex: NaN + NaN j), the most negative int,
    the largest uint."""
    dtype = np.dtype(dtype)
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "b":
        return True
    info = np.iinfo(dtype)
    return info.min if dtype.kind == "i" else info.max


def _rest_axes(ndim, axes):
    return [d for d in range(ndim) if d not in axes]


def _positions(operand_shape, indices, axes, mode):
    """Index tuples into the axes-first operand, plus the mask of in-range rows."""
    sizes = np.array([operand_shape[a] for a in axes], dtype=np.int64)
    idx = indices.astype(np.int64)
    valid = np.all((idx >= 0) & (idx < sizes), axis=-1)
    if mode == "clip":
        idx = np.clip(idx, 0, np.maximum(sizes - 1, 0))
    else:
        idx = np.where(valid[..., None], idx, 0)
    return tuple(idx[..., j] for j in range(len(axes))), valid


def _gather(operand, indices, *, axes, mode, fill_value=None):
    rest = _rest_axes(operand.ndim, axes)
    moved = np.transpose(operand, list(axes) + rest)
    batch = indices.shape[:-1]
    out_shape = batch + tuple(operand.shape[d] for d in rest)
    if any(operand.shape[a] == 0 for a in axes):
        fill = default_fill_value(operand.dtype) if fill_value is None else fill_value
        return np.full(out_shape, fill if mode == "fill" else 0, operand.dtype)
    pos, valid = _positions(operand.shape, indices, axes, mode)
    out = np.broadcast_to(moved[pos], out_shape) if axes else np.broadcast_to(moved, out_shape)
    if mode == "fill":
        fill = default_fill_value(operand.dtype) if fill_value is None else fill_value
        mask = valid.reshape(batch + (1,) * len(rest))
        out = np.where(mask, out, np.asarray(fill).astype(operand.dtype))
    return out


def _check_indexed(name, operand, indices, axes, mode):
    as_index_dtype(name, indices)
    axes = check_axes(name, axes, operand.ndim)
    if indices.ndim < 1 or indices.shape[-1] != len(axes):
        raise TypeError(f"{name}: indices {indices.str_short()} need a last dimension of size "
                        f"{len(axes)} (one entry per indexed axis {axes})")
    if mode not in MODES:
        raise ValueError(f"{name}: mode must be one of {MODES}, got {mode!r}")
    rest = _rest_axes(operand.ndim, axes)
    return indices.shape[:-1] + tuple(operand.shape[d] for d in rest)


def _gather_type(operand, indices, *, axes, mode, fill_value=None):
    shape = _check_indexed("gather", operand, indices, axes, mode)
    return ShapedArray(shape, operand.dtype, operand.weak_type)


gather_p = define_primitive("gather", _gather, _gather_type)
# Out-of-range rows of a "fill" gather are constants: their tangent is 0, not the fill value.
defjvp(gather_p, lambda t, x, indices, *, axes, mode, fill_value=None: lax.gather(
    t, indices, axes, mode, fill_value=0))
gather_p.def_transpose(lambda ct, x, indices, *, axes, mode, fill_value=None: [
    lax.scatter_add(_zeros_like(x), indices, ct, axes, mode), None])


def _with_lane_column(indices, size):
    """Batched indices (batch axis first) with a leading column that selects each row's lane."""
    if np.iinfo(indices.dtype).max < size - 1:
        indices = lax.convert_element_type(indices, np.int32)
    lane = lax.broadcasted_iota(indices.dtype, indices.shape[:-1] + (1,), 0)
    return lax.concatenate([lane, indices], indices.ndim - 1)


def _gather_batch(axis_data, args, dims, *, axes, mode, fill_value=None):
    (operand, indices), (operand_dim, indices_dim) = args, dims
    if indices_dim is not_mapped:
        # The batch axis is one more axis the indices do not touch.
        axes = tuple(batched_axis(a, operand_dim) for a in axes)
        out = gather_p.bind(operand, indices, axes=axes, mode=mode, fill_value=fill_value)
        rest = _rest_axes(np.ndim(operand), axes)
        return out, np.ndim(indices) - 1 + rest.index(operand_dim)
    indices = move_batch_axis(indices, indices_dim, 0, axis_data.size)
    if operand_dim is not_mapped:
        return gather_p.bind(operand, indices, axes=axes, mode=mode, fill_value=fill_value), 0
    operand = move_batch_axis(operand, operand_dim, 0, axis_data.size)
    return gather_p.bind(operand, _with_lane_column(indices, axis_data.size),
                         axes=(0,) + tuple(a + 1 for a in axes), mode=mode,
                         fill_value=fill_value), 0


gather_p.def_batch(_gather_batch)
gather_p.def_cost(cost.free)


# -- scatter family --------------------------------------------------------------------------
_COMBINE = {"scatter": None, "scatter_add": np.add, "scatter_mul": np.multiply,
            "scatter_min": np.minimum, "scatter_max": np.maximum}


def _scatter_impl(kind):
    combine = _COMBINE[kind]

    def impl(operand, indices, updates, *, axes, mode):
        rest = _rest_axes(operand.ndim, axes)
        perm = list(axes) + rest
        moved = np.transpose(operand, perm).copy()
        pos, valid = _positions(operand.shape, indices, axes, mode)
        if mode == "fill":
            pos = tuple(p[valid] for p in pos)
            updates = updates[valid]
        if any(operand.shape[a] == 0 for a in axes):
            return np.array(operand)
        if combine is None:
            moved[pos] = updates
        else:
            combine.at(moved, pos, updates)
        return np.transpose(moved, np.argsort(perm))
    return impl


def _scatter_type(kind):
    def type_rule(operand, indices, updates, *, axes, mode):
        shape = _check_indexed(kind, operand, indices, axes, mode)
        if updates.shape != shape or updates.dtype != operand.dtype:
            raise TypeError(f"{kind}: updates must have shape {shape} and dtype "
                            f"{operand.dtype} for operand and indices "
                            f"{describe([operand, indices])}, got {updates.str_short()}")
        return ShapedArray(operand.shape, operand.dtype, operand.weak_type)
    return type_rule


def _gathered(ct, indices, axes, mode):
    return lax.gather(ct, indices, axes, mode, fill_value=0)


scatter_p = define_primitive("scatter", _scatter_impl("scatter"), _scatter_type("scatter"))
_jvp_linear_in(scatter_p, (0, 2))


def _scatter_transpose(ct, x, indices, updates, *, axes, mode):
    """Assumes unique indices (as JAX does): with repeats, one update wins and the others'
    cotangents should be zero."""
    ct_x = ct_updates = None
    if is_undefined_primal(x):
        ct_x = lax.scatter(ct, indices, _zeros_like(updates), axes, mode)
    if is_undefined_primal(updates):
        ct_updates = _gathered(ct, indices, axes, mode)
    return [ct_x, None, ct_updates]


scatter_p.def_transpose(_scatter_transpose)
scatter_add_p = define_primitive("scatter_add", _scatter_impl("scatter_add"),
                        _scatter_type("scatter_add"))
_jvp_linear_in(scatter_add_p, (0, 2))
scatter_add_p.def_transpose(lambda ct, x, indices, updates, *, axes, mode: [
    ct if is_undefined_primal(x) else None, None,
    _gathered(ct, indices, axes, mode) if is_undefined_primal(updates) else None])
scatter_mul_p = define_primitive("scatter_mul", _scatter_impl("scatter_mul"),
                        _scatter_type("scatter_mul"))
# The updates' part assumes unique indices, as JAX's does.
defjvp(scatter_mul_p, lambda t, x, indices, updates, *, axes, mode: lax.scatter_mul(
    t, indices, updates, axes, mode), None, lambda t, x, indices, updates, *, axes, mode: lax.mul(
    x, lax.scatter_add(_zeros_like(x), indices, t, axes, mode)))


def _scatter_mul_transpose(ct, x, indices, updates, *, axes, mode):
    if is_undefined_primal(updates):
        raise not_linear("scatter_mul", "its updates")
    return [lax.scatter_mul(ct, indices, updates, axes, mode), None, None]


scatter_mul_p.def_transpose(_scatter_mul_transpose)


def _scatter_chooser_jvp(primitive):
    """Tangent of scatter_min/max: at each position, the mean of the tangents of the operand
    element and the updates that attain the result."""
    def rule(primals, tangents, *, axes, mode):
        x, indices, updates = primals
        out = primitive.bind(x, indices, updates, axes=axes, mode=mode)
        t_x, _, t_updates = map(instantiate_tangent, tangents)
        x_hit = lax.convert_element_type(lax.eq(x, out), x.dtype)
        u_hit = lax.convert_element_type(lax.eq(updates, _gathered(out, indices, axes, mode)),
                                          x.dtype)
        count = lax.scatter_add(x_hit, indices, u_hit, axes, mode)
        total = lax.scatter_add(lax.mul(t_x, x_hit), indices, lax.mul(t_updates, u_hit), axes,
                                mode)
        return out, lax.div(total, count)
    primitive.def_jvp(rule)


scatter_min_p = define_primitive("scatter_min", _scatter_impl("scatter_min"),
                        _scatter_type("scatter_min"))
_scatter_chooser_jvp(scatter_min_p)
scatter_max_p = define_primitive("scatter_max", _scatter_impl("scatter_max"),
                        _scatter_type("scatter_max"))
_scatter_chooser_jvp(scatter_max_p)


def _scatter_batch(prim):
    def rule(axis_data, args, dims, *, axes, mode):
        (operand, indices, updates), (operand_dim, indices_dim, updates_dim) = args, dims
        size = axis_data.size
        operand = move_batch_axis(operand, operand_dim, 0, size)
        axes = tuple(a + 1 for a in axes)
        if indices_dim is not_mapped:
            # Updates are laid out like a gather's result: index batch, then the other axes
            # of the operand, the first of which is now the batch axis.
            updates = move_batch_axis(updates, updates_dim, np.ndim(indices) - 1, size)
        else:
            indices = _with_lane_column(move_batch_axis(indices, indices_dim, 0, size), size)
            updates = move_batch_axis(updates, updates_dim, 0, size)
            axes = (0,) + axes
        return prim.bind(operand, indices, updates, axes=axes, mode=mode), 0
    return rule


for _p in (scatter_p, scatter_add_p, scatter_mul_p, scatter_min_p, scatter_max_p):
    _p.def_batch(_scatter_batch(_p))
    _p.def_cost(cost.per_input_element)
