"""Checking shapes given by users: a shape is a tuple of concrete non-negative Python ints.

``int(2.5)`` would silently make a float shape ``(2,)`` and ``int(tracer)`` fails deep inside
with a message about iteration; one check here names the function, the bad value and the fix.
"""

import operator

import numpy as np

from funcjax.core.errors import ConcretizationTypeError
from funcjax.core.trace import Tracer


def canonicalize_shape(shape, where, what="shape"):
    """``shape`` (an int or a sequence of ints) as a tuple of ints, or a clear error."""
    if isinstance(shape, Tracer) or any(isinstance(d, Tracer) for d in _dims(shape)):
        traced = shape if isinstance(shape, Tracer) else next(
            d for d in _dims(shape) if isinstance(d, Tracer))
        raise ConcretizationTypeError(
            f"{where}: the {what} must be static (concrete Python ints), but it contains a "
            f"traced value of type {traced.aval.str_short()} while tracing "
            f"{traced._trace.description}{traced.describe_dependence()}. Array shapes are "
            "fixed when a "
            "function is traced: under jit, pass the size as a static argument "
            "(jit(f, static_argnums=...) or static_argnames=...), or derive it from x.shape.")
    dims = []
    for d in _dims(shape):
        if isinstance(d, (bool, np.bool_)) or not _is_integer(d):
            raise TypeError(f"{where}: the {what} must be an integer or a sequence of "
                            f"integers, got {_show(shape)} (element {d!r} of type "
                            f"{type(d).__name__}); "
                            "convert sizes with int(...) where rounding is intended")
        dims.append(operator.index(d))
    return tuple(dims)


def _dims(shape):
    if isinstance(shape, (tuple, list)):
        return shape
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        return list(shape)
    return (shape,)


def _is_integer(d):
    try:
        operator.index(d)
    except TypeError:
        return False
    return True


def _show(shape):
    return repr(tuple(shape)) if isinstance(shape, (tuple, list)) else repr(shape)
