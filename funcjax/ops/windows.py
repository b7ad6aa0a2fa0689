"""``lax.reduce_window``: a windowed sum, max or min from its identity binds one of the
primitives of ``funcjax.ops.pooling`` (an init value that is not the identity is folded in
afterwards); any other computation is a composition: the padded, base-dilated operand is read
once per window tap through a strided slice, and the slices are folded with the computation,
so its transformations come from the rules of pad, slice and the computation.
"""

import itertools

import numpy as np

from funcjax.ops import pooling
from funcjax.ops.convolution import padtype_to_pads
from funcjax.ops.lazy import lax


def _pads(name, shape, window, strides, padding):
    if isinstance(padding, str):
        return padtype_to_pads(shape, window, strides, padding)
    try:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: padding must be a string or (low, high) pairs, got "
                        f"{padding!r}") from None
    if len(pads) != len(shape):
        raise ValueError(f"{name}: padding {padding!r} needs one pair per operand axis "
                         f"({len(shape)} for shape {tuple(shape)})")
    return pads


def _ints(name, what, value, n, default=1):
    value = (default,) * n if value is None else tuple(int(v) for v in value)
    if len(value) != n or any(v < 1 for v in value):
        raise ValueError(f"{name}: {what} {value} needs {n} positive entries, one per axis of "
                         "the operand")
    return value


def reduce_window(operand, init_value, computation, window_dimensions, window_strides=None,
                  padding="VALID", base_dilation=None, window_dilation=None):
    """Reduces each window of ``operand`` with ``computation`` (lax.add/max/min or any
    associative binary function of arrays), starting from ``init_value``."""
    name = "reduce_window"
    shape = np.shape(operand)
    n = len(shape)
    window = _ints(name, "window_dimensions", window_dimensions, n)
    strides = _ints(name, "window_strides", window_strides, n)
    base = _ints(name, "base_dilation", base_dilation, n)
    wdil = _ints(name, "window_dilation", window_dilation, n)
    eff = [1 + d * (w - 1) for w, d in zip(window, wdil)]
    pads = _pads(name, pooling.dilated(shape, base), eff, strides, padding)
    params = dict(window_dimensions=window, window_strides=strides, padding=pads,
                  base_dilation=base, window_dilation=wdil)
    pooling.out_shape(name, shape, **params)  # the error for windows that do not fit
    dtype = operand.dtype if hasattr(operand, "dtype") else np.asarray(operand).dtype
    kind = {id(lax.add): "sum", id(lax.max): "max", id(lax.min): "min"}.get(id(computation))
    if kind is not None and np.dtype(dtype).kind in "fiu" and all(lo >= 0 and hi >= 0
                                                                  for lo, hi in pads):
        prim = {"sum": pooling.reduce_window_sum_p, "max": pooling.reduce_window_max_p,
                "min": pooling.reduce_window_min_p}[kind]
        out = prim.bind(operand, **params)
        if _is_identity(kind, init_value, dtype):
            return out
        return computation(out, lax.full(out.shape, init_value, dtype))
    return _composed(operand, init_value, computation, dtype, **params)


def _is_identity(kind, init_value, dtype):
    try:
        value = np.asarray(init_value)
    except TypeError:  # a traced init value
        return False
    return value.shape == () and value.astype(dtype) == pooling.identity(kind, dtype)


def _composed(operand, init_value, computation, dtype, *, window_dimensions, window_strides,
              padding, base_dilation, window_dilation):
    shape = np.shape(operand)
    init = lax.convert_element_type(init_value, dtype)
    x = lax.pad(operand, init, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)])
    padded = x.shape
    eff = [1 + d * (w - 1) for w, d in zip(window_dimensions, window_dilation)]
    out = [(p - e) // s + 1 for p, e, s in zip(padded, eff, window_strides)]
    acc = lax.full(out, init_value, dtype) if not shape or not all(shape) else None
    for taps in itertools.product(*(range(w) for w in window_dimensions)):
        start = [t * d for t, d in zip(taps, window_dilation)]
        limit = [s0 + (o - 1) * s + 1 for s0, o, s in zip(start, out, window_strides)]
        part = lax.slice(x, start, limit, window_strides)
        acc = part if acc is None else computation(acc, part)
    # XLA starts each window from init_value
    return computation(lax.full(out, init_value, dtype), acc)
