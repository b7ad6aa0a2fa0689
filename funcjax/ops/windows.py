"""``reduce_window`` (pooling) as a composition: the padded, base-dilated operand is read
once per window tap through a strided slice, and the slices are folded with the reduction.

No new primitive is needed, so every transformation comes from the rules of pad, slice and
the elementwise ops: the transpose of a sum-pool is a sum of pads; max and min fold with
``select(x > acc, x, acc)``, so the gradient of max-pooling flows to the first maximum of
each window (as JAX's select-and-scatter), and a NaN in a window wins. Under jit the slices
are views and the fold fuses into one loop over the output.
"""

import itertools
import math

import numpy as np

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


def _chooser(better):
    def fold(acc, x):
        take = lax.bitwise_or(better(x, acc), lax.ne(x, x))
        return lax.select(take, x, acc)
    return fold


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
    dilated = [0 if s == 0 else 1 + b * (s - 1) for s, b in zip(shape, base)]
    eff = [1 + d * (w - 1) for w, d in zip(window, wdil)]
    pads = _pads(name, dilated, eff, strides, padding)
    padded = [s + lo + hi for s, (lo, hi) in zip(dilated, pads)]
    if any(e > p for e, p in zip(eff, padded)):
        raise ValueError(f"{name}: the window {tuple(window)} (dilated: {tuple(eff)}) is larger "
                         f"than the operand of shape {tuple(shape)} after dilation and padding "
                         f"{tuple(padded)}; pad the operand or use a smaller window")
    dtype = operand.dtype if hasattr(operand, "dtype") else np.asarray(operand).dtype
    init = lax.convert_element_type(init_value, dtype)
    x = lax.pad(operand, init, [(lo, hi, b - 1) for (lo, hi), b in zip(pads, base)])
    out = [(p - e) // s + 1 for p, e, s in zip(padded, eff, strides)]
    fold = {id(lax.max): _chooser(lax.gt), id(lax.min): _chooser(lax.lt)}.get(
        id(computation), computation)
    acc = None
    for taps in itertools.product(*(range(w) for w in window)):
        start = [t * d for t, d in zip(taps, wdil)]
        limit = [s0 + (o - 1) * s + 1 for s0, o, s in zip(start, out, strides)]
        part = lax.slice(x, start, limit, strides)
        acc = part if acc is None else fold(acc, part)
    if acc is None or not _is_identity(computation, init_value):
        # XLA starts each window from init_value; for an identity that changes nothing.
        first = lax.full(out, init_value, dtype)
        acc = first if acc is None else fold(first, acc)
    return acc


def _is_identity(computation, init_value):
    try:
        value = float(np.asarray(init_value))
    except TypeError:  # a traced init value
        return False
    return {id(lax.add): 0.0, id(lax.max): -math.inf, id(lax.min): math.inf}.get(
        id(computation)) == value or (computation in (lax.max, lax.min) and value in (
            float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max)))
