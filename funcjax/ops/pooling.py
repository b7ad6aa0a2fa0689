"""Windowed reductions (pooling) as primitives, and the two linear maps of max-pooling's
derivative.

``reduce_window_sum``, ``reduce_window_max`` and ``reduce_window_min`` reduce every window of
their operand from the reduction's identity. Their params are canonical (``lax.reduce_window``
normalises what users write): ``window_dimensions``, ``window_strides``, ``padding`` (pairs of
non-negative ints), ``base_dilation`` and ``window_dilation``, one entry per operand axis. The
operand is dilated by ``base_dilation`` and padded, both with the identity; window ``o`` then
reads the taps ``o * stride + k * window_dilation``.

The sum is linear: its transpose spreads each cotangent back over its window, which is again a
windowed sum of the cotangent dilated by the strides. Max and min select one element per
window (the first maximum, or the first NaN, as ``np.argmax`` does), so their tangent is
``select_and_gather_add(t, x)``: the tangent at each window's selected position. That map is
linear in ``t``; its transpose ``select_and_scatter_add(ct, x)`` adds each window's cotangent
at its selected position, and the transpose of that is the gather again. The selection does
not move under small changes of ``x``, so neither map has a derivative in ``x``.

vmap gives the mapped axis a window of one.
"""

import numpy as np

from funcjax.core import cost
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import move_batch_axis
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import Zero, deflinear, instantiate_tangent, tangent_aval
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import check_kinds

WINDOW_PARAMS = ("window_dimensions", "window_strides", "padding", "base_dilation",
                 "window_dilation")


def identity(kind, dtype):
    """The value padding and base dilation insert: the reduction's identity."""
    dtype = np.dtype(dtype)
    if kind == "sum":
        return dtype.type(0)
    if dtype.kind == "f":
        return dtype.type(-np.inf if kind == "max" else np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.min if kind == "max" else info.max)


def dilated(shape, base_dilation):
    return tuple(0 if n == 0 else 1 + b * (n - 1) for n, b in zip(shape, base_dilation))


def out_shape(name, shape, *, window_dimensions, window_strides, padding, base_dilation,
              window_dilation):
    """The output shape, or a ValueError naming the shapes when a window does not fit."""
    n = len(shape)
    for what, value in zip(WINDOW_PARAMS, (window_dimensions, window_strides, padding,
                                           base_dilation, window_dilation)):
        if len(value) != n:
            raise ValueError(f"{name}: {what} {tuple(value)} needs one entry per axis of the "
                             f"operand of shape {tuple(shape)}")
    padded = [d + lo + hi for d, (lo, hi) in zip(dilated(shape, base_dilation), padding)]
    eff = [1 + d * (w - 1) for w, d in zip(window_dimensions, window_dilation)]
    if any(e > p for e, p in zip(eff, padded)):
        raise ValueError(f"{name}: the window {tuple(window_dimensions)} (dilated: "
                         f"{tuple(eff)}) is larger than the operand of shape {tuple(shape)} "
                         f"after dilation and padding {tuple(padded)}; pad the operand or "
                         "use a smaller window")
    return tuple((p - e) // s + 1 for p, e, s in zip(padded, eff, window_strides))


# -- impl --------------------------------------------------------------------------------------
def _window_view(x, fill, *, window_dimensions, window_strides, padding, base_dilation,
                 window_dilation):
    """A strided view (output positions..., taps...) of ``x`` dilated and padded with
    ``fill``."""
    full = np.full([d + lo + hi for d, (lo, hi) in zip(dilated(x.shape, base_dilation),
                                                        padding)], fill, x.dtype)
    full[tuple(slice(lo, lo + d, b) for (lo, _), d, b in zip(
        padding, dilated(x.shape, base_dilation), base_dilation))] = x
    out = out_shape("reduce_window", x.shape, window_dimensions=window_dimensions,
                    window_strides=window_strides, padding=padding,
                    base_dilation=base_dilation, window_dilation=window_dilation)
    st = full.strides
    return np.lib.stride_tricks.as_strided(
        full, out + tuple(window_dimensions),
        tuple(s * k for s, k in zip(st, window_strides))
        + tuple(s * d for s, d in zip(st, window_dilation)), writeable=False)


def _reduce_impl(kind):
    reduce = {"sum": np.sum, "max": np.max, "min": np.min}[kind]

    def impl(x, **params):
        x = np.asarray(x)
        view = _window_view(x, identity(kind, x.dtype), **params)
        axes = tuple(range(x.ndim, 2 * x.ndim))
        return np.asarray(reduce(view, axis=axes) if x.ndim else view, dtype=x.dtype)
    return impl


def _reduce_type(kind):
    name = f"reduce_window_{kind}"

    def rule(x, **params):
        check_kinds(name, [x], "fiu")
        return ShapedArray(out_shape(name, x.shape, **params), x.dtype, x.weak_type)
    return rule


def _selected(x, select, params):
    """For every window, the flat index of its selected tap (the first max/min or NaN)."""
    view = _window_view(x, identity(select, x.dtype), **params)
    flat = view.reshape(view.shape[:x.ndim] + (-1,))
    return (np.argmax if select == "max" else np.argmin)(flat, axis=-1)


def _gather_impl(t, x, *, select, **params):
    t, x = np.asarray(t), np.asarray(x)
    pick = _selected(x, select, params)
    view = _window_view(t, t.dtype.type(0), **params)
    flat = view.reshape(view.shape[:t.ndim] + (-1,))
    return np.take_along_axis(flat, pick[..., None], axis=-1)[..., 0]


def _scatter_impl(s, x, *, select, **params):
    s, x = np.asarray(s), np.asarray(x)
    pick = _selected(x, select, params)
    window, strides = params["window_dimensions"], params["window_strides"]
    wdil, base, pads = params["window_dilation"], params["base_dilation"], params["padding"]
    taps = np.unravel_index(pick, window)  # per axis: the selected tap of every window
    grid = np.indices(pick.shape)
    pos = [o * st + k * d for o, st, k, d in zip(grid, strides, taps, wdil)]
    padded = [d + lo + hi for d, (lo, hi) in zip(dilated(x.shape, base), pads)]
    full = np.zeros(padded, s.dtype)
    np.add.at(full, tuple(pos), s)
    return np.ascontiguousarray(full[tuple(slice(lo, lo + d, b) for (lo, _), d, b in zip(
        pads, dilated(x.shape, base), base))])


def _gather_type(t, x, *, select, **params):
    """The tangent has the operand's type; the result has the output's shape."""
    name = "select_and_gather_add"
    check_kinds(name, [t, x], "fiu")
    if t.dtype != x.dtype or t.shape != x.shape:
        raise TypeError(f"{name} requires a tangent of the operand's type, got "
                        f"{t.str_short()} and {x.str_short()}")
    return ShapedArray(out_shape(name, x.shape, **params), t.dtype, t.weak_type)


def _scatter_type(s, x, *, select, **params):
    """The source has the output's shape; the result has the operand's."""
    name = "select_and_scatter_add"
    check_kinds(name, [s, x], "fiu")
    expected = out_shape(name, x.shape, **params)
    if s.dtype != x.dtype or s.shape != expected:
        raise TypeError(f"{name} requires a source of dtype {x.dtype} and shape {expected} "
                        f"for the operand {x.str_short()}, got {s.str_short()}")
    return ShapedArray(x.shape, s.dtype, s.weak_type)


reduce_window_sum_p = define_primitive("reduce_window_sum", _reduce_impl("sum"),
                                       _reduce_type("sum"))
reduce_window_max_p = define_primitive("reduce_window_max", _reduce_impl("max"),
                                       _reduce_type("max"))
reduce_window_min_p = define_primitive("reduce_window_min", _reduce_impl("min"),
                                       _reduce_type("min"))
select_and_gather_add_p = define_primitive("select_and_gather_add", _gather_impl,
                                           _gather_type)
select_and_scatter_add_p = define_primitive("select_and_scatter_add", _scatter_impl,
                                            _scatter_type)
SELECTING = {"max": reduce_window_max_p, "min": reduce_window_min_p}


# -- jvp and transpose -------------------------------------------------------------------------
deflinear(reduce_window_sum_p)


def _sum_transpose(ct, x, *, window_dimensions, window_strides, padding, base_dilation,
                   window_dilation):
    """``y[o] = sum_k xp[o*s + k*wd]``: the cotangent of ``xp`` at ``p`` sums ``ct[o]`` over
    ``o*s + k*wd = p``: a windowed sum of ``ct`` dilated by the strides and padded so that
    every window of the padded operand gets one output."""
    shape = x.aval.shape
    dil = dilated(shape, base_dilation)
    padded = [d + lo + hi for d, (lo, hi) in zip(dil, padding)]
    eff = [1 + d * (w - 1) for w, d in zip(window_dimensions, window_dilation)]
    spread = dilated(ct.shape, window_strides)
    config = [(e - 1, p - s, st - 1) for e, p, s, st in zip(eff, padded, spread, window_strides)]
    ct = lax.pad(ct, lax.full((), 0, ct.dtype), config)
    n = len(shape)
    xp = reduce_window_sum_p.bind(ct, window_dimensions=tuple(window_dimensions),
                                  window_strides=(1,) * n, padding=((0, 0),) * n,
                                  base_dilation=(1,) * n,
                                  window_dilation=tuple(window_dilation))
    start = [lo for lo, _ in padding]
    limit = [lo + d for lo, d in zip(start, dil)]
    return [lax.slice(xp, start, limit, base_dilation)]


reduce_window_sum_p.def_transpose(_sum_transpose)


def _select_jvp(kind):
    prim = SELECTING[kind]

    def rule(primals, tangents, **params):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, **params)
        if type(t) is Zero:
            return out, Zero(tangent_aval(aval_of(out)))
        return out, select_and_gather_add_p.bind(instantiate_tangent(t), x, select=kind,
                                                 **params)
    return rule


def _linear_in_first(prim):
    """jvp for maps linear in their first operand whose second operand only selects."""
    def rule(primals, tangents, **params):
        (a, x), (t, _) = primals, tangents
        out = prim.bind(a, x, **params)
        if type(t) is Zero:
            return out, Zero(tangent_aval(aval_of(out)))
        return out, prim.bind(instantiate_tangent(t), x, **params)
    return rule


for _kind, _prim in SELECTING.items():
    _prim.def_jvp(_select_jvp(_kind))
select_and_gather_add_p.def_jvp(_linear_in_first(select_and_gather_add_p))
select_and_scatter_add_p.def_jvp(_linear_in_first(select_and_scatter_add_p))


def _swap_transpose(name, other):
    def rule(ct, a, x, **params):
        if is_undefined_primal(x):
            raise not_linear(name, "its second (selecting) operand")
        return [other.bind(ct, x, **params), None]
    return rule


select_and_gather_add_p.def_transpose(
    _swap_transpose("select_and_gather_add", select_and_scatter_add_p))
select_and_scatter_add_p.def_transpose(
    _swap_transpose("select_and_scatter_add", select_and_gather_add_p))


# -- batch -------------------------------------------------------------------------------------
def _with_leading_axis(params):
    """The params for operands with one more leading axis, reduced by windows of one."""
    new = dict(params)
    for key, value in (("window_dimensions", 1), ("window_strides", 1), ("padding", (0, 0)),
                       ("base_dilation", 1), ("window_dilation", 1)):
        new[key] = (value,) + tuple(params[key])
    return new


def _batch(prim):
    def rule(axis_data, args, dims, **params):
        moved = [move_batch_axis(a, d, 0, axis_data.size) for a, d in zip(args, dims)]
        return prim.bind(*moved, **_with_leading_axis(params)), 0
    return rule


for _prim in (reduce_window_sum_p, reduce_window_max_p, reduce_window_min_p,
              select_and_gather_add_p, select_and_scatter_add_p):
    _prim.def_batch(_batch(_prim))


# -- cost --------------------------------------------------------------------------------------
def _window_cost(windows_of):
    def rule(in_avals, out_avals, *, window_dimensions, **params):
        """One combine per window per tap."""
        taps = int(np.prod(window_dimensions, dtype=np.int64))
        return cost.Cost(flops=windows_of(in_avals, out_avals).size * taps)
    return rule


for _prim in (reduce_window_sum_p, reduce_window_max_p, reduce_window_min_p,
              select_and_gather_add_p):
    _prim.def_cost(_window_cost(lambda ins, outs: outs[0]))
select_and_scatter_add_p.def_cost(_window_cost(lambda ins, outs: ins[0]))
