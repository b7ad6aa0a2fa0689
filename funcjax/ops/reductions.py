"""Reductions over axes (sum, max, min, prod, and, or), argmax/argmin and cumulative scans."""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import batched_axis
from funcjax.interpreters.jvp import defjvp, defjvp2, defjvp_composite, defjvp_zero, deflinear
from funcjax.ops.lazy import lax
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
        if x.size >= COMPILED_SIZE and name in _COMPILED and x.dtype.isnative:
            from funcjax.ops.control_flow.eager import compiled_loop
            program = compiled_loop(prim, [x], {"axes": tuple(axes)}, x.size, after=2)
            if program is not None:
                return program(x)[0]
        return np.asarray(impl(x, axis=tuple(axes))).astype(x.dtype, copy=False)
    prim = define_primitive(name, run, type_rule)
    return prim


# Eager sums and products of this many elements or more run the compiled reduction (jit's:
# blocked, float sums in float64 blocks, several times faster than numpy's pairwise
# ``add.reduce``, and far faster over inner or strided axes), from the second call with the
# same types on. Eager and jitted results are then the same numbers. numpy's max and min are
# already as fast.
COMPILED_SIZE = 1 << 16
_COMPILED = ("reduce_sum", "reduce_prod")


def _kept_dims(ndim, axes):
    return [d for d in range(ndim) if d not in axes]


def _unreduce(x, shape, axes):
    """Broadcasts a reduction's result back over the reduced axes."""
    return lax.broadcast_in_dim(x, shape, _kept_dims(len(shape), axes))


reduce_sum_p = _reduction("reduce_sum", np.add.reduce, NUMBER)  # np.sum's wrapper costs more
deflinear(reduce_sum_p)
reduce_sum_p.def_transpose(lambda ct, x, *, axes: [_unreduce(ct, x.aval.shape, axes)])


def _product_of_others(x, axes):
    """For each element, the product of the others along ``axes``, without dividing (so zeros
    are fine): an exclusive cumulative product from each side, multiplied."""
    keep = _kept_dims(x.ndim, axes)
    perm = keep + list(axes)
    moved = lax.transpose(x, perm)
    kept_shape = [x.shape[d] for d in keep]
    flat = lax.reshape(moved, kept_shape + [int(np.prod([x.shape[a] for a in axes]))])
    edge = [(0, 0, 0)] * len(keep)
    one = np.array(1, x.dtype)
    before = lax.cumprod(lax.pad(flat, one, edge + [(1, -1, 0)]), axis=len(keep))
    after = lax.cumprod(lax.pad(flat, one, edge + [(-1, 1, 0)]), axis=len(keep), reverse=True)
    others = lax.reshape(lax.mul(before, after), moved.shape)
    return lax.transpose(others, np.argsort(perm))


reduce_prod_p = _reduction("reduce_prod", np.prod, NUMBER)
defjvp(reduce_prod_p, lambda t, x, *, axes: lax.reduce_sum(
    lax.mul(t, _product_of_others(x, axes)), axes))


def _chooser_jvp(t, ans, x, *, axes):
    """Tangent of max/min: the mean of the tangents at the positions that attain it."""
    hit = lax.convert_element_type(lax.eq(x, _unreduce(ans, x.shape, axes)), x.dtype)
    return lax.div(lax.reduce_sum(lax.mul(t, hit), axes), lax.reduce_sum(hit, axes))


reduce_max_p = _reduction("reduce_max", np.max, ANY + "c")  # complex: lexicographic
defjvp2(reduce_max_p, _chooser_jvp)
reduce_min_p = _reduction("reduce_min", np.min, ANY + "c")
defjvp2(reduce_min_p, _chooser_jvp)
reduce_and_p = _reduction("reduce_and", np.bitwise_and.reduce, BITS)
defjvp_zero(reduce_and_p)
reduce_or_p = _reduction("reduce_or", np.bitwise_or.reduce, BITS)
defjvp_zero(reduce_or_p)


def _reduction_batch(prim):
    def rule(axis_data, args, dims, *, axes):
        (x,), (dim,) = args, dims
        axes = tuple(batched_axis(a, dim) for a in axes)
        return prim.bind(x, axes=axes), dim - sum(a < dim for a in axes)
    return rule


for _p in (reduce_sum_p, reduce_prod_p, reduce_max_p, reduce_min_p, reduce_and_p, reduce_or_p):
    _p.def_batch(_reduction_batch(_p))
    _p.def_cost(cost.per_input_element)


def _arg_reduction(name, impl):
    def type_rule(x, *, axis, index_dtype):
        check_kinds(name, [x], ANY)
        check_axes(name, (axis,), x.ndim)
        if x.shape[axis] == 0:
            # As in JAX (eager and jit alike): there is no position to return.
            raise ValueError(f"{name}: cannot take {name} of an empty axis (axis {axis} of "
                             f"shape {x.shape}); check the size first, or pad the operand")
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
defjvp_zero(argmax_p)
argmin_p = _arg_reduction("argmin", np.argmin)
defjvp_zero(argmin_p)


def _arg_reduction_batch(prim):
    def rule(axis_data, args, dims, *, axis, index_dtype):
        (x,), (dim,) = args, dims
        axis = batched_axis(axis, dim)
        return prim.bind(x, axis=axis, index_dtype=index_dtype), dim - (axis < dim)
    return rule


for _p in (argmax_p, argmin_p):
    _p.def_batch(_arg_reduction_batch(_p))
    _p.def_cost(cost.per_input_element)


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


def _prefix_scan(combine):
    """A cumulative scan written with elementwise ops and shifts (Hillis and Steele's doubling
    scan). Its derivative is the cumulative scans' derivative, zeros and ties included."""
    def scan(x, *, axis, reverse=False):
        if reverse:
            x = lax.rev(x, (axis,))
        position = lax.broadcasted_iota(np.int32, x.shape, axis)
        step = 1
        while step < x.shape[axis]:
            shift = [(step, -step, 0) if d == axis else (0, 0, 0) for d in range(x.ndim)]
            earlier = lax.pad(x, np.array(0, x.dtype), shift)
            x = lax.select(lax.ge(position, step), combine(x, earlier), x)
            step *= 2
        return lax.rev(x, (axis,)) if reverse else x
    return scan


cumsum_p = _cumulative("cumsum", np.cumsum, NUMBER)
deflinear(cumsum_p)
cumsum_p.def_transpose(lambda ct, x, *, axis, reverse=False: [
    lax.cumsum(ct, axis, reverse=not reverse)])
cumprod_p = _cumulative("cumprod", np.cumprod, NUMBER)
defjvp_composite(cumprod_p, _prefix_scan(lambda a, b: lax.mul(a, b)))
cummax_p = _cumulative("cummax", np.maximum.accumulate, ANY)
defjvp_composite(cummax_p, _prefix_scan(lambda a, b: lax.max(a, b)))
cummin_p = _cumulative("cummin", np.minimum.accumulate, ANY)
defjvp_composite(cummin_p, _prefix_scan(lambda a, b: lax.min(a, b)))


def _cumulative_batch(prim):
    def rule(axis_data, args, dims, *, axis, reverse=False):
        (x,), (dim,) = args, dims
        return prim.bind(x, axis=batched_axis(axis, dim), reverse=reverse), dim
    return rule


for _p in (cumsum_p, cumprod_p, cummax_p, cummin_p):
    _p.def_batch(_cumulative_batch(_p))
    _p.def_cost(cost.per_input_element)
