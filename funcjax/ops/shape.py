"""Structural primitives: they move, copy or pad elements without arithmetic.

broadcast_in_dim, reshape, squeeze, expand_dims, transpose, concatenate, pad, rev, slice, iota.
"""

import math

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import (
    align_batch_axes,
    batched_axis,
    move_batch_axis,
    not_mapped,
)
from funcjax.interpreters.jvp import defjvp_zero, deflinear
from funcjax.interpreters.transpose import is_undefined_primal
from funcjax.ops.lazy import lax
from funcjax.ops.typing import check_axes, describe


def _scalar(value, dtype):
    return np.array(value, dtype)


# -- broadcast_in_dim ------------------------------------------------------------------------
def _broadcast_in_dim(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for src, dst in enumerate(broadcast_dimensions):
        expanded[dst] = x.shape[src]
    if math.prod(shape) <= 4096:
        # Small results are filled: np.broadcast_to costs several times a small numpy op.
        out = np.empty(shape, x.dtype)
        out[...] = x.reshape(expanded)
        return out
    return np.broadcast_to(x.reshape(expanded), shape)


def _broadcast_in_dim_type(x, *, shape, broadcast_dimensions):
    shape, dims = tuple(shape), tuple(broadcast_dimensions)
    if len(dims) != x.ndim:
        raise TypeError(f"broadcast_in_dim: operand {x.str_short()} needs {x.ndim} "
                        f"broadcast_dimensions, got {dims}")
    if any(b <= a for a, b in zip(dims, dims[1:])) or any(not 0 <= d < len(shape)
                                                           for d in dims):
        raise TypeError(f"broadcast_in_dim: broadcast_dimensions {dims} must be strictly "
                        f"increasing and within the target rank {len(shape)}")
    for src, dst in enumerate(dims):
        if x.shape[src] not in (1, shape[dst]):
            raise TypeError(f"broadcast_in_dim: cannot broadcast operand shape {x.shape} to "
                            f"{shape}: dimension {src} has size {x.shape[src]} but target "
                            f"dimension {dst} has size {shape[dst]}")
    if any(d < 0 for d in shape):
        raise TypeError(f"broadcast_in_dim: negative size in target shape {shape}")
    return ShapedArray(shape, x.dtype, x.weak_type)


broadcast_in_dim_p = define_primitive("broadcast_in_dim", _broadcast_in_dim, _broadcast_in_dim_type)
deflinear(broadcast_in_dim_p)


def _broadcast_in_dim_transpose(ct, x, *, shape, broadcast_dimensions):
    # Sum over the new axes and over the operand's size-1 axes that were stretched.
    stretched = [dst for src, dst in enumerate(broadcast_dimensions)
                 if x.aval.shape[src] == 1 and shape[dst] != 1]
    new = [d for d in range(len(shape)) if d not in broadcast_dimensions]
    summed = lax.reduce_sum(ct, sorted(new + stretched))
    return [lax.reshape(summed, x.aval.shape)]


broadcast_in_dim_p.def_transpose(_broadcast_in_dim_transpose)


def _broadcast_in_dim_batch(axis_data, args, dims, *, shape, broadcast_dimensions):
    x = move_batch_axis(args[0], dims[0], 0, axis_data.size)
    return broadcast_in_dim_p.bind(x, shape=(axis_data.size,) + tuple(shape),
                                   broadcast_dimensions=(0,) + tuple(
                                       d + 1 for d in broadcast_dimensions)), 0


broadcast_in_dim_p.def_batch(_broadcast_in_dim_batch)
broadcast_in_dim_p.def_cost(cost.free)


# -- reshape, squeeze, expand_dims -----------------------------------------------------------
def _reshape_type(x, *, new_sizes):
    new_sizes = tuple(new_sizes)
    if any(d < 0 for d in new_sizes) or int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise TypeError(f"reshape: cannot reshape an array of shape {x.shape} ({x.size} "
                        f"elements) into shape {new_sizes}")
    return ShapedArray(new_sizes, x.dtype, x.weak_type)


reshape_p = define_primitive("reshape", lambda x, *, new_sizes: np.reshape(x, new_sizes),
                             _reshape_type)
deflinear(reshape_p)


def _reshape_back(ct, x, **params):
    return [lax.reshape(ct, x.aval.shape)]


reshape_p.def_transpose(_reshape_back)


def _reshape_batch(axis_data, args, dims, *, new_sizes):
    x = move_batch_axis(args[0], dims[0], 0, axis_data.size)
    return reshape_p.bind(x, new_sizes=(axis_data.size,) + tuple(new_sizes)), 0


reshape_p.def_batch(_reshape_batch)
reshape_p.def_cost(cost.free)


def _squeeze_type(x, *, dimensions):
    dims = check_axes("squeeze", dimensions, x.ndim)
    for d in dims:
        if x.shape[d] != 1:
            raise ValueError(f"squeeze: cannot squeeze axis {d} of shape {x.shape}: its size "
                             f"is {x.shape[d]}, not 1")
    return ShapedArray([n for i, n in enumerate(x.shape) if i not in dims], x.dtype,
                       x.weak_type)


squeeze_p = define_primitive("squeeze", lambda x, *, dimensions: np.squeeze(x, tuple(dimensions)),
                    _squeeze_type)
deflinear(squeeze_p)
squeeze_p.def_transpose(_reshape_back)


def _batch_axis_first(prim):
    """Batch rule for squeeze/expand_dims: the batch axis goes first, ``dimensions`` shift."""
    def rule(axis_data, args, dims, *, dimensions):
        x = move_batch_axis(args[0], dims[0], 0, axis_data.size)
        return prim.bind(x, dimensions=tuple(d + 1 for d in dimensions)), 0
    return rule


squeeze_p.def_batch(_batch_axis_first(squeeze_p))
squeeze_p.def_cost(cost.free)


def _expand_dims_type(x, *, dimensions):
    dims = check_axes("expand_dims", dimensions, x.ndim + len(dimensions))
    shape = list(x.shape)
    for d in sorted(dims):
        shape.insert(d, 1)
    return ShapedArray(shape, x.dtype, x.weak_type)


expand_dims_p = define_primitive("expand_dims",
                        lambda x, *, dimensions: np.expand_dims(x, tuple(dimensions)),
                        _expand_dims_type)
deflinear(expand_dims_p)
expand_dims_p.def_transpose(_reshape_back)


expand_dims_p.def_batch(_batch_axis_first(expand_dims_p))
expand_dims_p.def_cost(cost.free)


# -- transpose -------------------------------------------------------------------------------
def _transpose_type(x, *, permutation):
    perm = tuple(permutation)
    if sorted(perm) != list(range(x.ndim)):
        raise TypeError(f"transpose: permutation {perm} is not a permutation of the axes of "
                        f"an array of shape {x.shape}")
    return ShapedArray([x.shape[p] for p in perm], x.dtype, x.weak_type)


transpose_p = define_primitive("transpose", lambda x, *, permutation: np.transpose(x, permutation),
                      _transpose_type)
deflinear(transpose_p)
transpose_p.def_transpose(lambda ct, x, *, permutation: [
    lax.transpose(ct, np.argsort(permutation))])


def _transpose_batch(axis_data, args, dims, *, permutation):
    # The batch axis stays where it is: the permutation just steps around it.
    (x,), (dim,) = args, dims
    perm = [batched_axis(p, dim) for p in permutation]
    perm.insert(dim, dim)
    return transpose_p.bind(x, permutation=tuple(perm)), dim


transpose_p.def_batch(_transpose_batch)
transpose_p.def_cost(cost.free)


# -- concatenate -----------------------------------------------------------------------------
def _concatenate_type(*xs, dimension):
    if not xs:
        raise TypeError("concatenate needs at least one operand")
    first = xs[0]
    if not 0 <= dimension < first.ndim:
        raise ValueError(f"concatenate: dimension {dimension} is out of bounds for operands "
                         f"{describe(xs)}")
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise TypeError(f"concatenate requires operands of one dtype, got {describe(xs)}")
        if x.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape,
                                       first.shape)) if i != dimension):
            raise TypeError(f"concatenate: operands must have equal shapes except along "
                            f"dimension {dimension}, got {describe(xs)}")
    shape = list(first.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(shape, first.dtype, all(x.weak_type for x in xs))


concatenate_p = define_primitive("concatenate",
                        lambda *xs, dimension: np.concatenate(xs, axis=dimension),
                        _concatenate_type)
deflinear(concatenate_p)


def _concatenate_transpose(ct, *xs, dimension):
    cts, start = [], 0
    for x in xs:
        size = x.aval.shape[dimension] if is_undefined_primal(x) else np.shape(x)[dimension]
        cts.append(lax.slice_in_dim(ct, start, start + size, axis=dimension)
                   if is_undefined_primal(x) else None)
        start += size
    return cts


concatenate_p.def_transpose(_concatenate_transpose)


def _concatenate_batch(axis_data, args, dims, *, dimension):
    args, dim = align_batch_axes(args, dims, axis_data.size)
    return concatenate_p.bind(*args, dimension=batched_axis(dimension, dim)), dim


concatenate_p.def_batch(_concatenate_batch)
concatenate_p.def_cost(cost.free)


# -- pad -------------------------------------------------------------------------------------
def _pad(x, padding_value, *, padding_config):
    """Low/high padding (negative values crop) with interior padding between elements."""
    shape = [lo + hi + n + max(n - 1, 0) * interior
             for n, (lo, hi, interior) in zip(x.shape, padding_config)]
    # Build the fully padded array from the non-negative part, then crop negative edges.
    full = [max(lo, 0) + max(hi, 0) + n + max(n - 1, 0) * interior
            for n, (lo, hi, interior) in zip(x.shape, padding_config)]
    out = np.full(full, padding_value, dtype=x.dtype)
    index = tuple(slice(max(lo, 0), max(lo, 0) + n + max(n - 1, 0) * interior, interior + 1)
                  for n, (lo, hi, interior) in zip(x.shape, padding_config))
    out[index] = x
    crop = tuple(slice(max(-lo, 0), max(-lo, 0) + s)
                 for s, (lo, hi, interior) in zip(shape, padding_config))
    return out[crop]


def _pad_type(x, padding_value, *, padding_config):
    config = tuple(tuple(c) for c in padding_config)
    if padding_value.shape != () or padding_value.dtype != x.dtype:
        raise TypeError(f"pad: the padding value must be a scalar of the operand's dtype "
                        f"{x.dtype}, got {padding_value.str_short()}")
    if len(config) != x.ndim or any(len(c) != 3 for c in config):
        raise TypeError(f"pad: padding_config needs one (low, high, interior) triple per "
                        f"dimension of {x.shape}, got {config}")
    if any(c[2] < 0 for c in config):
        raise ValueError(f"pad: interior padding must be non-negative, got {config}")
    shape = [lo + hi + n + max(n - 1, 0) * interior for n, (lo, hi, interior) in
             zip(x.shape, config)]
    if any(s < 0 for s in shape):
        raise ValueError(f"pad: padding {config} of shape {x.shape} gives negative sizes")
    return ShapedArray(shape, x.dtype, x.weak_type)


pad_p = define_primitive("pad", _pad, _pad_type)
deflinear(pad_p)


def _pad_transpose(ct, x, padding_value, *, padding_config):
    # Undo the edges (negative padding crops, positive re-grows what was cropped), then take
    # every (interior + 1)-th element.
    unpadded = lax.pad(ct, _scalar(0, ct.dtype), [(-lo, -hi, 0) for lo, hi, _ in padding_config])
    ct_x = lax.slice(unpadded, [0] * ct.ndim, unpadded.shape,
                     [interior + 1 for _, _, interior in padding_config])
    ct_value = None
    if is_undefined_primal(padding_value):
        everything = tuple(range(ct.ndim))
        ct_value = lax.sub(lax.reduce_sum(ct, everything), lax.reduce_sum(ct_x, everything))
    return [ct_x if is_undefined_primal(x) else None, ct_value]


pad_p.def_transpose(_pad_transpose)


def _pad_batch(axis_data, args, dims, *, padding_config):
    (x, value), (x_dim, value_dim) = args, dims
    x = move_batch_axis(x, x_dim, 0, axis_data.size)
    config = ((0, 0, 0),) + tuple(padding_config)
    if value_dim is not_mapped:
        return pad_p.bind(x, value, padding_config=config), 0
    # A per-example padding value: pad with anything, then select the padding by a mask.
    padded = pad_p.bind(x, lax.full((), 0, x.dtype), padding_config=config)
    inside = pad_p.bind(lax.full(x.shape, True), lax.full((), False), padding_config=config)
    fill = lax.broadcast_in_dim(value, padded.shape, (0,))
    return lax.select(inside, padded, fill), 0


pad_p.def_batch(_pad_batch)
pad_p.def_cost(cost.free)


# -- rev, slice, iota ------------------------------------------------------------------------
def _rev_type(x, *, dimensions):
    check_axes("rev", dimensions, x.ndim)
    return x


rev_p = define_primitive("rev", lambda x, *, dimensions: np.flip(x, tuple(dimensions)), _rev_type)
deflinear(rev_p)
rev_p.def_transpose(lambda ct, x, *, dimensions: [lax.rev(ct, dimensions)])


def _rev_batch(axis_data, args, dims, *, dimensions):
    (x,), (dim,) = args, dims
    return rev_p.bind(x, dimensions=tuple(batched_axis(d, dim) for d in dimensions)), dim


rev_p.def_batch(_rev_batch)
rev_p.def_cost(cost.free)


def _slice(x, *, start_indices, limit_indices, strides=None):
    strides = strides or (1,) * x.ndim
    return x[tuple(slice(s, e, st) for s, e, st in zip(start_indices, limit_indices, strides))]


def _slice_type(x, *, start_indices, limit_indices, strides=None):
    strides = tuple(strides or (1,) * x.ndim)
    if not len(start_indices) == len(limit_indices) == len(strides) == x.ndim:
        raise TypeError(f"slice: start_indices, limit_indices and strides need one entry per "
                        f"dimension of {x.shape}")
    for d, (s, e, st, n) in enumerate(zip(start_indices, limit_indices, strides, x.shape)):
        if not 0 <= s <= e <= n or st < 1:
            raise TypeError(f"slice: dimension {d} of shape {x.shape} cannot be sliced "
                            f"[{s}:{e}:{st}]")
    shape = [max(0, -(-(e - s) // st)) for s, e, st in zip(start_indices, limit_indices,
                                                           strides)]
    return ShapedArray(shape, x.dtype, x.weak_type)


slice_p = define_primitive("slice", _slice, _slice_type)
deflinear(slice_p)


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides=None):
    strides = strides or (1,) * ct.ndim
    config = []
    for n, k, start, stride in zip(x.aval.shape, ct.shape, start_indices, strides):
        used = (k - 1) * stride + 1 if k else 0
        config.append((start, n - start - used, stride - 1))
    return [lax.pad(ct, _scalar(0, ct.dtype), config)]


slice_p.def_transpose(_slice_transpose)


def _slice_batch(axis_data, args, dims, *, start_indices, limit_indices, strides=None):
    (x,), (dim,) = args, dims

    def insert(seq, value):
        seq = list(seq)
        seq.insert(dim, value)
        return tuple(seq)
    strides = None if strides is None else insert(strides, 1)
    return slice_p.bind(x, start_indices=insert(start_indices, 0),
                        limit_indices=insert(limit_indices, axis_data.size),
                        strides=strides), dim


slice_p.def_batch(_slice_batch)
slice_p.def_cost(cost.free)


def _iota(*, dtype, shape, dimension):
    index = np.arange(shape[dimension], dtype=dtype)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(index.reshape(view), shape)


def _iota_type(*, dtype, shape, dimension):
    if not 0 <= dimension < len(shape):
        raise ValueError(f"iota: dimension {dimension} is out of bounds for shape {shape}")
    return ShapedArray(shape, dtypes.canonicalize(dtype))


iota_p = define_primitive("iota", _iota, _iota_type)
defjvp_zero(iota_p)

# iota has no operands, so vmap never makes it batched: its result is the same in every lane.
iota_p.def_batch(lambda axis_data, args, dims, **params: (iota_p.bind(**params), not_mapped))
iota_p.def_cost(cost.free)
