"""``pad`` in all of numpy's modes, one axis after the other as numpy does (a later axis
pads, and takes statistics over, the earlier axes' padding too)."""

import numpy as np

from funcjax import lax
from funcjax.numpy._util import asarray

__all__ = ["pad"]

_STATS = ("maximum", "minimum", "mean", "median")
_MODES = ("constant", "empty", "edge", "wrap", "symmetric", "reflect", "linear_ramp") + _STATS


def _per_axis(name, value, ndim, dtype=np.int64):
    """``value`` (a scalar, a ``(before, after)`` pair or one pair per axis) as (ndim, 2)."""
    try:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: {name} {value} does not fit an array of rank {ndim}; give a "
                         "scalar, (before, after) or one pair per axis") from None


def pad(array, pad_width, mode="constant", constant_values=0, *, stat_length=None,
        end_values=0, reflect_type="even"):
    """numpy's ``pad``: modes constant, empty (zeros), edge, wrap, symmetric and reflect (with
    ``reflect_type`` even or odd), linear_ramp, maximum, minimum, mean and median."""
    array = asarray(array)
    if mode not in _MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; supported modes are "
                                  f"{_MODES}")
    if reflect_type not in ("even", "odd"):
        raise ValueError(f"pad: reflect_type must be 'even' or 'odd', got {reflect_type!r}")
    widths = _per_axis("pad_width", pad_width, array.ndim)
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width}")
    if mode in ("constant", "empty"):
        values = 0 if mode == "empty" else constant_values
        return _pad_constant(array, widths, _per_axis("constant_values", values, array.ndim,
                                                      object))
    if mode == "linear_ramp":
        ends = _per_axis("end_values", end_values, array.ndim, object)
    lengths = None if stat_length is None else _per_axis("stat_length", stat_length,
                                                         array.ndim)
    for ax, (lo, hi) in enumerate(widths):
        lo, hi = int(lo), int(hi)
        if not (lo or hi):
            continue
        if array.shape[ax] == 0:
            raise ValueError(f"pad: cannot pad an empty axis {ax} (shape {array.shape}) in "
                             f"mode {mode!r}")
        if mode in _STATS:
            array = _pad_stat(array, ax, lo, hi, mode, None if lengths is None else lengths[ax])
        elif mode == "linear_ramp":
            array = _pad_ramp(array, ax, lo, hi, ends[ax])
        elif reflect_type == "odd" and mode in ("reflect", "symmetric"):
            array = _pad_odd(array, ax, lo, hi, mode)
        else:
            from funcjax.numpy._indexing import take
            array = take(array, _mirror_index(mode, array.shape[ax], lo, hi), axis=ax,
                         mode="clip")
    return array


def _pad_constant(array, widths, values):
    for ax, ((lo, hi), (vlo, vhi)) in enumerate(zip(widths, values)):
        for width, value, where in ((lo, vlo, 0), (hi, vhi, 1)):
            if width:
                config = [(0, 0, 0)] * array.ndim
                config[ax] = (int(width), 0, 0) if where == 0 else (0, int(width), 0)
                fill = lax.convert_element_type(asarray(value), array.dtype)
                array = lax.pad(array, fill, config)
    return array


def _mirror_index(mode, n, lo, hi):
    """Source positions for padded positions ``-lo .. n + hi - 1`` of an axis of size n."""
    i = np.arange(-lo, n + hi)
    if mode == "edge":
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "symmetric":
        i = i % (2 * n)
        return np.where(i >= n, 2 * n - 1 - i, i)
    period = max(2 * (n - 1), 1)  # reflect: the edge element is not repeated
    i = i % period
    return np.where(i >= n, period - i, i)


def _edge(array, ax, before):
    n = array.shape[ax]
    return lax.slice_in_dim(array, 0, 1, axis=ax) if before else \
        lax.slice_in_dim(array, n - 1, n, axis=ax)


def _repeat(x, ax, n):
    shape = list(x.shape)
    shape[ax] = n
    return lax.broadcast_in_dim(lax.squeeze(x, (ax,)), tuple(shape),
                                tuple(d for d in range(x.ndim) if d != ax))


def _join(before, array, after, ax):
    return lax.concatenate([p for p in (before, array, after) if p.shape[ax]], ax)


def _pad_stat(array, ax, lo, hi, mode, lengths):
    """Each side repeats a statistic of the elements nearest it (``stat_length`` of them)."""
    from funcjax.numpy import _reductions, _ufuncs
    fn = {"maximum": _reductions.max, "minimum": _reductions.min, "mean": _reductions.mean,
          "median": _reductions.median}[mode]
    n = array.shape[ax]
    sides = []
    for width, before, length in ((lo, True, None if lengths is None else lengths[0]),
                                  (hi, False, None if lengths is None else lengths[1])):
        length = n if length is None else min(int(length), n)
        if length <= 0:
            raise ValueError("pad: a stat_length of 0 gives no value to pad with")
        part = lax.slice_in_dim(array, 0, length, axis=ax) if before else \
            lax.slice_in_dim(array, n - length, n, axis=ax)
        stat = fn(part, axis=ax, keepdims=True)
        if array.dtype.kind in "iu" and stat.dtype.kind == "f":
            stat = _ufuncs.round(stat)
        sides.append(_repeat(lax.convert_element_type(stat, array.dtype), ax, width))
    return _join(sides[0], array, sides[1], ax)


def _pad_ramp(array, ax, lo, hi, ends):
    """Linear ramps from ``end_values`` towards the edge (which they stop short of)."""
    from funcjax.numpy._ufuncs import floor
    work = np.float64 if array.dtype.itemsize == 8 else np.float32
    sides = []
    for width, before, end in ((lo, True, ends[0]), (hi, False, ends[1])):
        edge = lax.convert_element_type(_edge(array, ax, before), work)
        steps = np.arange(width, dtype=work) / max(width, 1)
        shape = [1] * array.ndim
        shape[ax] = width
        t = asarray((steps if before else steps[::-1]).reshape(shape))
        end = lax.convert_element_type(asarray(end), work)
        ramp = end + (edge - end) * t
        if array.dtype.kind in "iu":
            ramp = floor(ramp)
        sides.append(lax.convert_element_type(ramp, array.dtype))
    return _join(sides[0], array, sides[1], ax)


def _pad_odd(array, ax, lo, hi, mode):
    """Odd reflection ``2 * edge - mirror``, grown one mirror image at a time as numpy does
    (each image continues from the last one's edge)."""
    n = array.shape[ax]
    offset = 1 if mode == "reflect" and n > 1 else 0
    for width, before in ((lo, True), (hi, False)):
        while width > 0:
            step = min(width, n - offset)
            width -= step
            size = array.shape[ax]
            if before:
                part = lax.slice_in_dim(array, offset, offset + step, axis=ax)
            else:
                stop = size if mode == "symmetric" or n == 1 else size - 1
                part = lax.slice_in_dim(array, stop - step, stop, axis=ax)
            edge = _repeat(_edge(array, ax, before), ax, step)
            image = lax.sub(lax.add(edge, edge), lax.rev(part, (ax,)))
            array = lax.concatenate([image, array] if before else [array, image], ax)
    return array
