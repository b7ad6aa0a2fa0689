"""conv_general_dilated: N-d convolution with strides, padding, dilations and groups.

Params are canonical (``funcjax.lax_conv`` normalises what users write): ``window_strides``,
``padding`` (pairs), ``lhs_dilation``, ``rhs_dilation`` (tuples of the spatial rank),
``dimension_numbers`` (a ``ConvDimensionNumbers`` of axis permutations: for lhs and out
``(batch, feature, spatial...)``, for rhs ``(out feature, in feature, spatial...)``),
``feature_group_count``, ``batch_group_count``, ``precision`` (ignored) and
``preferred_element_type``.

The convolution is bilinear, so its jvp is two convolutions and each transpose is one more
convolution (of the cotangent with the flipped kernel for lhs, of lhs with the cotangent for
rhs); vmap folds the mapped axis into the batch or feature-group axes.
"""

import collections

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import move_batch_axis, not_mapped
from funcjax.interpreters.jvp import defjvp
from funcjax.interpreters.transpose import is_undefined_primal, not_linear
from funcjax.ops.lazy import lax
from funcjax.ops.typing import NUMBER, check_kinds, describe

ConvDimensionNumbers = collections.namedtuple("ConvDimensionNumbers",
                                              ["lhs_spec", "rhs_spec", "out_spec"])


def dilate_shape(shape, dilation):
    return tuple(0 if n == 0 else 1 + d * (n - 1) for n, d in zip(shape, dilation))


def _spatial(shape, spec):
    return tuple(shape[d] for d in spec[2:])


def padtype_to_pads(in_shape, window_shape, window_strides, padding):
    """Explicit (low, high) pairs for the padding strings 'SAME', 'SAME_LOWER' and 'VALID'."""
    kind = padding.upper()
    if kind == "VALID":
        return tuple((0, 0) for _ in in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding must be 'SAME', 'SAME_LOWER', 'VALID' or a sequence of "
                         f"(low, high) pairs, got {padding!r}")
    pads = []
    for n, k, s in zip(in_shape, window_shape, window_strides):
        out = -(-n // s)
        total = max(0, (out - 1) * s + k - n)
        small = total // 2
        pads.append((small, total - small) if kind == "SAME" else (total - small, small))
    return tuple(pads)


# -- impl --------------------------------------------------------------------------------------
def _prepare_lhs(x, padding, lhs_dilation):
    """(N, C, spatial) input dilated with zeros, then padded (negative pads crop)."""
    if any(d != 1 for d in lhs_dilation):
        full = np.zeros(x.shape[:2] + dilate_shape(x.shape[2:], lhs_dilation), x.dtype)
        full[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
        x = full
    x = np.pad(x, [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding])
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0))
                 for (lo, hi), n in zip(padding, x.shape[2:]))
    return x[(slice(None), slice(None)) + crop]


def _windows(x, kernel, strides, rhs_dilation, out_spatial):
    """A strided view (N, C, out spatial..., kernel spatial...) of the prepared input."""
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, x.shape[:2] + tuple(out_spatial) + tuple(kernel),
        s[:2] + tuple(st * k for st, k in zip(s[2:], strides))
        + tuple(st * d for st, d in zip(s[2:], rhs_dilation)), writeable=False)


def _conv_impl(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
               dimension_numbers, feature_group_count, batch_group_count, precision=None,
               preferred_element_type=None):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    out_dtype = np.dtype(preferred_element_type or lhs.dtype)
    x = _prepare_lhs(np.transpose(lhs, lhs_spec).astype(out_dtype), padding, lhs_dilation)
    w = np.transpose(rhs, rhs_spec).astype(out_dtype)
    kernel = w.shape[2:]
    out_spatial = [(n - k) // s + 1 for n, k, s in zip(
        x.shape[2:], dilate_shape(kernel, rhs_dilation), window_strides)]
    win = _windows(x, kernel, window_strides, rhs_dilation, out_spatial)
    n, c, o = x.shape[0], x.shape[1], w.shape[0]
    ns, nk = int(np.prod(out_spatial, dtype=np.int64)), int(np.prod(kernel, dtype=np.int64))
    if batch_group_count > 1:  # group b: lhs rows b*N/B..., output features b*O/B...
        g, nb = batch_group_count, n // batch_group_count
        cols = win.reshape(g, nb, c, ns, nk).transpose(0, 1, 3, 2, 4).reshape(g, nb * ns, -1)
        wg = w.reshape(g, o // g, c * nk).transpose(0, 2, 1)
        out = np.matmul(cols, wg).reshape(g, nb, ns, o // g).transpose(1, 0, 3, 2)
    else:
        g, nb = feature_group_count, n
        cols = win.reshape(n, g, c // g, ns, nk).transpose(1, 0, 3, 2, 4).reshape(g, n * ns, -1)
        wg = w.reshape(g, o // g, (c // g) * nk).transpose(0, 2, 1)
        out = np.matmul(cols, wg).reshape(g, n, ns, o // g).transpose(1, 0, 3, 2)
    out = out.reshape((nb, o) + tuple(out_spatial))
    return np.ascontiguousarray(np.transpose(out, np.argsort(out_spec))).astype(out_dtype)


# -- type rule ---------------------------------------------------------------------------------
def _conv_type(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
               dimension_numbers, feature_group_count, batch_group_count, precision=None,
               preferred_element_type=None):
    name = "conv_general_dilated"
    check_kinds(name, [lhs, rhs], NUMBER)
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"{name} requires lhs and rhs of one dtype, got {describe([lhs, rhs])}")
    if lhs.ndim != rhs.ndim or lhs.ndim < 2:
        raise TypeError(f"{name}: lhs and rhs must have the same rank >= 2 (batch, feature, "
                        f"spatial...), got lhs {lhs.str_short()} and rhs {rhs.str_short()}")
    nsp = lhs.ndim - 2
    for what, value in (("window_strides", window_strides), ("padding", padding),
                        ("lhs_dilation", lhs_dilation), ("rhs_dilation", rhs_dilation)):
        if len(value) != nsp:
            raise ValueError(f"{name}: {what} {tuple(value)} needs one entry per spatial "
                             f"dimension ({nsp} for lhs {lhs.str_short()})")
    for what, value in (("window_strides", window_strides), ("lhs_dilation", lhs_dilation),
                        ("rhs_dilation", rhs_dilation)):
        if any(v < 1 for v in value):
            raise ValueError(f"{name}: {what} must be positive, got {tuple(value)}")
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    for spec in dimension_numbers:
        if sorted(spec) != list(range(lhs.ndim)):
            raise ValueError(f"{name}: dimension numbers {dimension_numbers} are not "
                             f"permutations of the {lhs.ndim} axes of lhs {lhs.str_short()}")
    fgc, bgc = feature_group_count, batch_group_count
    if fgc < 1 or bgc < 1 or (fgc > 1 and bgc > 1):
        raise ValueError(f"{name}: feature_group_count={fgc} and batch_group_count={bgc} must "
                         "be positive and at most one of them above 1")
    n, c = lhs.shape[lhs_spec[0]], lhs.shape[lhs_spec[1]]
    o, i = rhs.shape[rhs_spec[0]], rhs.shape[rhs_spec[1]]
    shapes = f"lhs {lhs.str_short()} and rhs {rhs.str_short()}"
    if c % fgc or c // fgc != i:
        raise TypeError(f"{name}: lhs has {c} input features, which must equal the rhs "
                        f"input-feature size {i} times feature_group_count={fgc} ({shapes})")
    if o % fgc or o % bgc:
        raise TypeError(f"{name}: rhs output-feature size {o} must be a multiple of "
                        f"feature_group_count={fgc} and batch_group_count={bgc} ({shapes})")
    if n % bgc:
        raise TypeError(f"{name}: lhs batch size {n} must be a multiple of "
                        f"batch_group_count={bgc} ({shapes})")
    in_sp = dilate_shape(_spatial(lhs.shape, lhs_spec), lhs_dilation)
    padded = [m + lo + hi for m, (lo, hi) in zip(in_sp, padding)]
    window = dilate_shape(_spatial(rhs.shape, rhs_spec), rhs_dilation)
    if any(k > p for k, p in zip(window, padded)):
        raise ValueError(f"{name}: the (dilated) window {tuple(window)} is larger than the "
                         f"(dilated, padded) input {tuple(padded)} for {shapes}; pad the "
                         "input or use a smaller kernel")
    out_sp = [(p - k) // s + 1 for p, k, s in zip(padded, window, window_strides)]
    canonical = [n // bgc, o] + out_sp
    shape = [0] * lhs.ndim
    for axis, size in zip(out_spec, canonical):
        shape[axis] = size
    dtype = dtypes.canonicalize(preferred_element_type or lhs.dtype)
    return ShapedArray(tuple(shape), dtype, lhs.weak_type and rhs.weak_type)


conv_general_dilated_p = define_primitive("conv_general_dilated", _conv_impl, _conv_type)


def _bind(lhs, rhs, **params):
    return conv_general_dilated_p.bind(lhs, rhs, **params)


defjvp(conv_general_dilated_p, lambda t, lhs, rhs, **p: _bind(t, rhs, **p),
       lambda t, lhs, rhs, **p: _bind(lhs, t, **p))


# -- transpose ---------------------------------------------------------------------------------
def _swap01(spec):
    return (spec[1], spec[0]) + tuple(spec[2:])


def split_axis(x, axis, groups, into):
    """Axis ``axis`` of size groups*m split into (groups, m), then the groups axis merged into
    axis ``into`` as its major part. Axis positions are those of ``x``."""
    shape = list(x.shape)
    m = shape[axis] // groups
    x = lax.reshape(x, shape[:axis] + [groups, m] + shape[axis + 1:])
    src = axis  # the groups axis
    dst = into if into < axis else into + 1
    perm = [d for d in range(x.ndim) if d != src]
    perm.insert(perm.index(dst), src)
    x = lax.transpose(x, perm)
    shape = list(x.shape)
    at = perm.index(dst) - 1
    return lax.reshape(x, shape[:at] + [shape[at] * shape[at + 1]] + shape[at + 2:])


def _lhs_padding(in_sp, kernel, strides, out_sp, padding, lhs_dilation, rhs_dilation):
    lhs_d, rhs_d = dilate_shape(in_sp, lhs_dilation), dilate_shape(kernel, rhs_dilation)
    out_d = dilate_shape(out_sp, strides)
    before = [k - lo - 1 for k, (lo, _) in zip(rhs_d, padding)]
    after = [li + k - 1 - od - b for li, k, od, b in zip(lhs_d, rhs_d, out_d, before)]
    return tuple(zip(before, after))


def _rhs_padding(in_sp, kernel, strides, out_sp, padding, lhs_dilation, rhs_dilation):
    lhs_d, rhs_d = dilate_shape(in_sp, lhs_dilation), dilate_shape(kernel, rhs_dilation)
    out_d = dilate_shape(out_sp, strides)
    return tuple((lo, od - li + k - lo - 1)
                 for (lo, _), od, li, k in zip(padding, out_d, lhs_d, rhs_d))


def _conv_transpose_rule(ct, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count, batch_group_count,
                         precision=None, preferred_element_type=None):
    if is_undefined_primal(lhs) and is_undefined_primal(rhs):
        raise not_linear("conv_general_dilated", "both of its operands at once")
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    lhs_shape = lhs.aval.shape if is_undefined_primal(lhs) else np.shape(lhs)
    rhs_shape = rhs.aval.shape if is_undefined_primal(rhs) else np.shape(rhs)
    sizes = (_spatial(lhs_shape, lhs_spec), _spatial(rhs_shape, rhs_spec), window_strides,
             _spatial(ct.shape, out_spec), padding, lhs_dilation, rhs_dilation)
    if is_undefined_primal(lhs):
        groups = max(feature_group_count, batch_group_count)
        if groups > 1:  # the groups move from rhs's output features to its input features
            rhs = split_axis(rhs, rhs_spec[0], groups, rhs_spec[1])
        flipped = lax.rev(rhs, tuple(rhs_spec[2:]))
        out = _bind(ct, flipped, window_strides=tuple(lhs_dilation),
                    padding=_lhs_padding(*sizes), lhs_dilation=tuple(window_strides),
                    rhs_dilation=tuple(rhs_dilation),
                    dimension_numbers=ConvDimensionNumbers(out_spec, _swap01(rhs_spec),
                                                           lhs_spec),
                    feature_group_count=groups, batch_group_count=1, precision=precision,
                    preferred_element_type=preferred_element_type)
        if batch_group_count > 1:
            out = split_axis(out, lhs_spec[1], batch_group_count, lhs_spec[0])
        return [lax.convert_element_type(out, lhs.aval.dtype), None]
    fgc, bgc = (1, feature_group_count) if feature_group_count > 1 else \
        (batch_group_count, 1)
    out = _bind(lhs, ct, window_strides=tuple(rhs_dilation), padding=_rhs_padding(*sizes),
                lhs_dilation=tuple(lhs_dilation), rhs_dilation=tuple(window_strides),
                dimension_numbers=ConvDimensionNumbers(_swap01(lhs_spec), _swap01(out_spec),
                                                       _swap01(rhs_spec)),
                feature_group_count=fgc, batch_group_count=bgc, precision=precision,
                preferred_element_type=preferred_element_type)
    return [None, lax.convert_element_type(out, rhs.aval.dtype)]


conv_general_dilated_p.def_transpose(_conv_transpose_rule)


# -- batch -------------------------------------------------------------------------------------
def _merge_into(x, dim, axis_after_removal, size_groups):
    """Moves batch axis ``dim`` just after the ``size_groups`` major part of the (unbatched)
    axis ``axis_after_removal`` and merges: that axis becomes (groups, batch, rest)."""
    groups, rest_axis = size_groups, axis_after_removal
    x = move_batch_axis(x, dim, 0, None)
    shape = list(x.shape)
    ax = rest_axis + 1
    m = shape[ax] // groups
    x = lax.reshape(x, [shape[0]] + shape[1:ax] + [groups, m] + shape[ax + 1:])
    perm = list(range(1, x.ndim))
    perm.insert(ax, 0)  # (..., groups, batch, m, ...)
    x = lax.transpose(x, perm)
    shape = list(x.shape)
    return lax.reshape(x, shape[:ax - 1] + [groups * shape[ax] * m] + shape[ax + 2:])


def _split_out(out, axis, groups, size):
    """Inverse of ``_merge_into`` on an output axis of layout (groups, batch, rest): the batch
    becomes axis 0."""
    shape = list(out.shape)
    m = shape[axis] // (groups * size)
    out = lax.reshape(out, shape[:axis] + [groups, size, m] + shape[axis + 1:])
    perm = [axis + 1] + [d for d in range(out.ndim) if d != axis + 1]
    out = lax.transpose(out, perm)
    shape = list(out.shape)
    return lax.reshape(out, shape[:axis + 1] + [groups * m] + shape[axis + 3:])


def _conv_batch(axis_data, args, dims, **params):
    (lhs, rhs), (ld, rd) = args, dims
    size = axis_data.size
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    fgc, bgc = params["feature_group_count"], params["batch_group_count"]
    if ld is not not_mapped and rd is not not_mapped:
        # Each example is its own group: lhs features (or batch) and rhs outputs gain groups.
        if bgc == 1:
            lhs = _merge_into(lhs, ld, lhs_spec[1], 1)
            rhs = _merge_into(rhs, rd, rhs_spec[0], 1)
            params = dict(params, feature_group_count=fgc * size)
        else:
            lhs = _merge_into(lhs, ld, lhs_spec[0], 1)
            rhs = _merge_into(rhs, rd, rhs_spec[0], 1)
            params = dict(params, batch_group_count=bgc * size)
        return _split_out(_bind(lhs, rhs, **params), out_spec[1], 1, size), 0
    if rd is not_mapped:  # the batch joins lhs's batch axis, inside its batch groups
        out = _bind(_merge_into(lhs, ld, lhs_spec[0], bgc), rhs, **params)
        return _split_out(out, out_spec[0], 1, size), 0
    groups = max(fgc, bgc)  # the batch joins rhs's output features, inside the groups
    out = _bind(lhs, _merge_into(rhs, rd, rhs_spec[0], groups), **params)
    return _split_out(out, out_spec[1], groups, size), 0


conv_general_dilated_p.def_batch(_conv_batch)


def _conv_cost(in_avals, out_avals, *, dimension_numbers, feature_group_count, **params):
    """A multiply and an add per output element per kernel tap of its group."""
    rhs = in_avals[1]
    per_output = rhs.size // rhs.shape[dimension_numbers.rhs_spec[0]]
    return cost.Cost(flops=2 * out_avals[0].size * per_output)


conv_general_dilated_p.def_cost(_conv_cost)
