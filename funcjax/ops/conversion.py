"""Primitives that change dtype or choose between values: convert_element_type, select_n,
stop_gradient."""

import numpy as np

from funcjax.core import dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import (
    align_batch_axes,
    elementwise_batch_rule,
    move_batch_axis,
    not_mapped,
    unbatched_shape,
)
from funcjax.ops.typing import describe


def _convert(x, *, new_dtype, weak_type=False):
    if x.dtype.kind == "f" and new_dtype.kind in "iu":
        # Float to int conversion as XLA does it: NaN -> 0, out of range saturates.
        info = np.iinfo(new_dtype)
        with np.errstate(invalid="ignore"):
            clipped = np.clip(np.nan_to_num(x, nan=0.0), info.min, info.max)
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
convert_element_type_p.def_batch(elementwise_batch_rule(convert_element_type_p))


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


def _select_n_batch(axis_data, args, dims):
    (which, *cases), (which_dim, *case_dims) = args, dims
    if which_dim is not_mapped and np.ndim(which) == 0:
        # One shared scalar selector: it stays a scalar, only the cases are aligned.
        cases, dim = align_batch_axes(cases, case_dims, axis_data.size)
        return select_n_p.bind(which, *cases), dim
    case_shape = unbatched_shape(cases[0], case_dims[0])
    if which_dim is not not_mapped and np.ndim(which) == 1 and case_shape:
        # A per-example scalar selector must become a full-shape one once batched.
        from funcjax import lax
        which = lax.broadcast_in_dim(move_batch_axis(which, which_dim, 0, axis_data.size),
                                     (axis_data.size,) + case_shape, (0,))
        which_dim = 0
    args, dim = align_batch_axes([which, *cases], [which_dim, *case_dims], axis_data.size)
    return select_n_p.bind(*args), dim


select_n_p.def_batch(_select_n_batch)

stop_gradient_p = define_primitive("stop_gradient", lambda x: x, lambda x: x)
stop_gradient_p.def_batch(elementwise_batch_rule(stop_gradient_p))
