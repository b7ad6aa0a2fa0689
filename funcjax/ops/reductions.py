"""Reductions over axes (sum, max, min, prod, and, or), argmax/argmin and cumulative scans."""

import numpy as np

from funcjax.core import dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import batched_axis
from funcjax.ops.typing import ANY, BITS, NUMBER, check_axes, check_kinds


def _reduction(name, impl, kinds):
    def type_rule(x, *, axes):
        check_kinds(name, [x], kinds)
        axes = check_axes(name, axes, x.ndim)
        if name in ("reduce_max", "reduce_min") and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name}: cannot reduce an empty axis of shape {x.shape} "
                             "(the reduction has no identity)")
        return ShapedArray([n for i, n in enumerate(x.shape) if i not in axes], x.dtype,
                           x.weak_type)

    def run(x, *, axes):
        return np.asarray(impl(x, axis=tuple(axes))).astype(x.dtype)
    return define_primitive(name, run, type_rule)


reduce_sum_p = _reduction("reduce_sum", np.sum, NUMBER)
reduce_prod_p = _reduction("reduce_prod", np.prod, NUMBER)
reduce_max_p = _reduction("reduce_max", np.max, ANY)
reduce_min_p = _reduction("reduce_min", np.min, ANY)
reduce_and_p = _reduction("reduce_and", np.bitwise_and.reduce, BITS)
reduce_or_p = _reduction("reduce_or", np.bitwise_or.reduce, BITS)


def _reduction_batch(prim):
    def rule(axis_data, args, dims, *, axes):
        (x,), (dim,) = args, dims
        axes = tuple(batched_axis(a, dim) for a in axes)
        return prim.bind(x, axes=axes), dim - sum(a < dim for a in axes)
    return rule


for _p in (reduce_sum_p, reduce_prod_p, reduce_max_p, reduce_min_p, reduce_and_p, reduce_or_p):
    _p.def_batch(_reduction_batch(_p))


def _arg_reduction(name, impl):
    def type_rule(x, *, axis, index_dtype):
        check_kinds(name, [x], ANY)
        check_axes(name, (axis,), x.ndim)
        if x.shape[axis] == 0:
            raise ValueError(f"{name}: cannot take {name} of an empty axis (shape {x.shape})")
        return ShapedArray([n for i, n in enumerate(x.shape) if i != axis],
                           dtypes.canonicalize(index_dtype))

    def run(x, *, axis, index_dtype):
        # NaN wins, as in JAX: the first NaN's position is the answer.
        out = impl(x, axis=axis)
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            out = np.where(np.any(nan, axis=axis), np.argmax(nan, axis=axis), out)
        return out.astype(index_dtype)
    return define_primitive(name, run, type_rule)


argmax_p = _arg_reduction("argmax", np.argmax)
argmin_p = _arg_reduction("argmin", np.argmin)


def _arg_reduction_batch(prim):
    def rule(axis_data, args, dims, *, axis, index_dtype):
        (x,), (dim,) = args, dims
        axis = batched_axis(axis, dim)
        return prim.bind(x, axis=axis, index_dtype=index_dtype), dim - (axis < dim)
    return rule


for _p in (argmax_p, argmin_p):
    _p.def_batch(_arg_reduction_batch(_p))


def _cumulative(name, impl, kinds):
    def type_rule(x, *, axis, reverse=False):
        check_kinds(name, [x], kinds)
        check_axes(name, (axis,), x.ndim)
        return x

    def run(x, *, axis, reverse=False):
        if reverse:
            return np.flip(impl(np.flip(x, axis), axis=axis), axis).astype(x.dtype)
        return impl(x, axis=axis).astype(x.dtype)
    return define_primitive(name, run, type_rule)


cumsum_p = _cumulative("cumsum", np.cumsum, NUMBER)
cumprod_p = _cumulative("cumprod", np.cumprod, NUMBER)
cummax_p = _cumulative("cummax", np.maximum.accumulate, ANY)
cummin_p = _cumulative("cummin", np.minimum.accumulate, ANY)


def _cumulative_batch(prim):
    def rule(axis_data, args, dims, *, axis, reverse=False):
        (x,), (dim,) = args, dims
        return prim.bind(x, axis=batched_axis(axis, dim), reverse=reverse), dim
    return rule


for _p in (cumsum_p, cumprod_p, cummax_p, cummin_p):
    _p.def_batch(_cumulative_batch(_p))
