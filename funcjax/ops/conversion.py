"""Primitives that change dtype or choose between values: convert_element_type, select_n,
stop_gradient."""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import (
    align_batch_axes,
    elementwise_batch_rule,
    move_batch_axis,
    not_mapped,
    unbatched_shape,
)
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import (
    Zero,
    defjvp_zero,
    instantiate_tangent,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import describe


def _convert(x, *, new_dtype, weak_type=False):
    if x.dtype.kind == "c" and new_dtype.kind != "c":
        x = np.real(x)  # as JAX: converting a complex value keeps its real part
    if x.dtype.kind == "f" and new_dtype.kind in "iu":
        # Float to int conversion as XLA does it: NaN -> 0, out of range saturates.
        info = np.iinfo(new_dtype)
        # Clipped in float64 (float16's largest value, 65504, would not saturate int32).
        clipped = x.astype(np.float64)
        np.minimum(clipped, float(info.max), out=clipped)
        np.maximum(clipped, float(info.min), out=clipped)
        np.copyto(clipped, 0.0, where=clipped != clipped)
        if info.bits < 64:  # the bounds are exact in float64
            return clipped.astype(new_dtype)
        with np.errstate(invalid="ignore"):  # 2**63 does not fit; the where picks the max
            return np.where(clipped >= float(info.max), info.max,
                            clipped.astype(new_dtype)).astype(new_dtype)
    if new_dtype == dtypes.bool_:
        return x != 0
    return x.astype(new_dtype)


def _convert_type(x, *, new_dtype, weak_type=False):
    new_dtype = np.dtype(new_dtype)
    if new_dtype not in dtypes.SUPPORTED:
        raise TypeError(f"convert_element_type: unsupported dtype {new_dtype}")
    return ShapedArray(x.shape, new_dtype, weak_type)


convert_element_type_p = define_primitive("convert_element_type", _convert, _convert_type)


def _convert_jvp(primals, tangents, *, new_dtype, weak_type=False):
    out = convert_element_type_p.bind(*primals, new_dtype=new_dtype, weak_type=weak_type)
    if not dtypes.is_inexact(new_dtype):
        return out, Zero(tangent_aval(aval_of(out)))  # rounding to integers is flat
    return out, convert_element_type_p.bind(tangents[0], new_dtype=new_dtype,
                                            weak_type=weak_type)


convert_element_type_p.def_jvp(_convert_jvp)
convert_element_type_p.def_transpose(
    lambda ct, x, **params: [lax.convert_element_type(ct, x.aval.dtype, x.aval.weak_type)])
convert_element_type_p.def_batch(elementwise_batch_rule(convert_element_type_p))
convert_element_type_p.def_cost(cost.elementwise)


def _select_n(which, *cases):
    if which.dtype == dtypes.bool_:
        return np.where(which, cases[1], cases[0]) if len(cases) == 2 else cases[0]
    return np.choose(np.clip(which, 0, len(cases) - 1), cases)


def _select_n_type(which, *cases):
    if not cases:
        raise TypeError("select_n needs at least one case")
    if which.dtype != dtypes.bool_ and which.dtype.kind not in "iu":
        raise TypeError(f"select_n: the selector must be bool or integer, got "
                        f"{which.str_short()}")
    if which.dtype == dtypes.bool_ and len(cases) > 2:
        raise TypeError(f"select_n: a boolean selector chooses between at most 2 cases, "
                        f"got {len(cases)}")
    first = cases[0]
    for c in cases[1:]:
        if c.shape != first.shape or c.dtype != first.dtype:
            raise TypeError(f"select_n: all cases must have the same shape and dtype, got "
                            f"{describe(cases)}")
    if which.shape not in ((), first.shape):
        raise TypeError(f"select_n: the selector must be a scalar or have the cases' shape "
                        f"{first.shape}, got {which.str_short()}")
    return ShapedArray(first.shape, first.dtype, all(c.weak_type for c in cases))


select_n_p = define_primitive("select_n", _select_n, _select_n_type)


def _select_n_jvp(primals, tangents):
    out = select_n_p.bind(*primals)
    if all(type(t) is Zero for t in tangents[1:]):
        return out, Zero(tangent_aval(aval_of(out)))
    return out, select_n_p.bind(primals[0], *map(instantiate_tangent, tangents[1:]))


def _select_n_transpose(ct, which, *cases):
    if is_undefined_primal(which):
        raise not_linear("select_n", "its selector")
    zeros = zeros_like_aval(aval_of(ct))
    return [None] + [select_n_p.bind(which, *[ct if j == i else zeros for j in range(len(cases))])
                     if is_undefined_primal(c) else None for i, c in enumerate(cases)]


select_n_p.def_jvp(_select_n_jvp)
select_n_p.def_transpose(_select_n_transpose)


def _select_n_batch(axis_data, args, dims):
    (which, *cases), (which_dim, *case_dims) = args, dims
    if which_dim is not_mapped and np.ndim(which) == 0:
        # One shared scalar selector: it stays a scalar, only the cases are aligned.
        cases, dim = align_batch_axes(cases, case_dims, axis_data.size)
        return select_n_p.bind(which, *cases), dim
    case_shape = unbatched_shape(cases[0], case_dims[0])
    if which_dim is not not_mapped and np.ndim(which) == 1 and case_shape:
        # A per-example scalar selector must become a full-shape one once batched.
        which = lax.broadcast_in_dim(move_batch_axis(which, which_dim, 0, axis_data.size),
                                     (axis_data.size,) + case_shape, (0,))
        which_dim = 0
    args, dim = align_batch_axes([which, *cases], [which_dim, *case_dims], axis_data.size)
    return select_n_p.bind(*args), dim


select_n_p.def_batch(_select_n_batch)
select_n_p.def_cost(cost.elementwise)

stop_gradient_p = define_primitive("stop_gradient", lambda x: x, lambda x: x)
defjvp_zero(stop_gradient_p)
stop_gradient_p.def_batch(elementwise_batch_rule(stop_gradient_p))
stop_gradient_p.def_cost(cost.free)
