"""``lax`` convolution functions: what users write (padding strings, layout strings such as
``('NHWC', 'HWIO', 'NHWC')``, ``None`` defaults) normalised to the canonical parameters of the
``conv_general_dilated`` primitive (``funcjax.ops.convolution``)."""

import numpy as np

from funcjax.ops.convolution import (
    ConvDimensionNumbers,
    conv_general_dilated_p,
    dilate_shape,
    padtype_to_pads,
)
from funcjax.ops.lazy import lax

__all__ = ["ConvDimensionNumbers", "conv", "conv_dimension_numbers", "conv_general_dilated",
           "conv_transpose", "conv_with_general_padding", "padtype_to_pads"]


def _spec_from_string(spec, pair, rhs_order, name):
    if sorted(set(spec)) != sorted(spec) or not set(pair) <= set(spec):
        raise ValueError(f"{name}: layout {spec!r} must name each axis once and contain "
                         f"{pair[0]!r} and {pair[1]!r}")
    spatial = [i for i, c in enumerate(spec) if c not in pair]
    if rhs_order is not None:
        if sorted(spec[i] for i in spatial) != sorted(rhs_order):
            raise ValueError(f"{name}: layout {spec!r} has spatial axes that differ from the "
                             f"kernel's {rhs_order!r}")
        spatial.sort(key=lambda i: rhs_order.index(spec[i]))
    return (spec.index(pair[0]), spec.index(pair[1])) + tuple(spatial)


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """``ConvDimensionNumbers`` from None (NCHW/OIHW/NCHW), three layout strings, or itself."""
    ndim = len(lhs_shape)
    if len(rhs_shape) != ndim:
        raise TypeError(f"conv_dimension_numbers: lhs shape {tuple(lhs_shape)} and rhs shape "
                        f"{tuple(rhs_shape)} must have the same rank")
    if dimension_numbers is None:
        identity = tuple(range(ndim))
        return ConvDimensionNumbers(identity, identity, identity)
    if isinstance(dimension_numbers, ConvDimensionNumbers):
        return ConvDimensionNumbers(*(tuple(int(a) for a in s) for s in dimension_numbers))
    if len(dimension_numbers) != 3 or not all(isinstance(s, str) for s in dimension_numbers):
        raise TypeError("dimension_numbers must be None, a ConvDimensionNumbers or three "
                        f"layout strings such as ('NHWC', 'HWIO', 'NHWC'), got "
                        f"{dimension_numbers!r}")
    lhs, rhs, out = dimension_numbers
    for s in dimension_numbers:
        if len(s) != ndim:
            raise TypeError(f"conv_dimension_numbers: layout {s!r} has {len(s)} letters but "
                            f"the operands have rank {ndim} (lhs shape {tuple(lhs_shape)})")
    rhs_spec = _spec_from_string(rhs, "OI", None, "conv_dimension_numbers")
    order = "".join(rhs[i] for i in rhs_spec[2:])
    return ConvDimensionNumbers(_spec_from_string(lhs, "NC", order, "conv_dimension_numbers"),
                                rhs_spec,
                                _spec_from_string(out, "NC", order, "conv_dimension_numbers"))


def _pairs(name, padding, n):
    try:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: padding must be a string or a sequence of (low, high) int "
                        f"pairs, got {padding!r}") from None
    if len(pads) != n:
        raise ValueError(f"{name}: padding {padding!r} needs {n} (low, high) pairs, one per "
                         "spatial dimension")
    return pads


def _tuple(name, what, value, n):
    value = (1,) * n if value is None else tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"{name}: {what} {value} needs {n} entries, one per spatial dimension")
    return value


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """General N-d convolution (cross-correlation, as XLA's), see ``jax.lax``'s docs."""
    name = "conv_general_dilated"
    lhs_shape, rhs_shape = np.shape(lhs), np.shape(rhs)
    dn = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    n = len(lhs_shape) - 2
    strides = _tuple(name, "window_strides", window_strides, n)
    lhs_dilation = _tuple(name, "lhs_dilation", lhs_dilation, n)
    rhs_dilation = _tuple(name, "rhs_dilation", rhs_dilation, n)
    if isinstance(padding, str):
        if len(lhs_shape) < 2 or len(rhs_shape) != len(lhs_shape):
            raise TypeError(f"{name}: lhs shape {lhs_shape} and rhs shape {rhs_shape} must "
                            "have the same rank >= 2")
        in_sp = dilate_shape([lhs_shape[d] for d in dn.lhs_spec[2:]], lhs_dilation)
        window = dilate_shape([rhs_shape[d] for d in dn.rhs_spec[2:]], rhs_dilation)
        padding = padtype_to_pads(in_sp, window, strides, padding)
    padding = _pairs(name, padding, n)
    return conv_general_dilated_p.bind(
        lhs, rhs, window_strides=strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dn,
        feature_group_count=int(feature_group_count), batch_group_count=int(batch_group_count),
        precision=None, preferred_element_type=preferred_element_type)


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """Convolution in NCHW/OIHW layout with no dilation."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                precision=precision,
                                preferred_element_type=preferred_element_type)


def _transpose_padding(k, s, padding):
    """Padding of the dilated-input convolution that transposes a forward conv's padding."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    else:
        pads = tuple(k - p - 1 for p in padding)
        low, total = pads[0], sum(pads)
    return low, total - low


_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                      4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel=False, precision=None, preferred_element_type=None):
    """Transposed ("deconvolution") convolution: the input is dilated by the strides."""
    ndim = np.ndim(lhs)
    if dimension_numbers is None:
        if ndim not in _TRANSPOSE_LAYOUTS:
            raise ValueError(f"conv_transpose: no default layout for rank {ndim}; pass "
                             "dimension_numbers")
        dimension_numbers = _TRANSPOSE_LAYOUTS[ndim]
    dn = conv_dimension_numbers(np.shape(lhs), np.shape(rhs), dimension_numbers)
    n = ndim - 2
    strides = _tuple("conv_transpose", "strides", strides, n)
    rhs_dilation = _tuple("conv_transpose", "rhs_dilation", rhs_dilation, n)
    kernel = dilate_shape([np.shape(rhs)[d] for d in dn.rhs_spec[2:]], rhs_dilation)
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"conv_transpose: padding must be 'SAME', 'VALID' or pairs, got "
                             f"{padding!r}")
        pads = tuple(_transpose_padding(k, s, padding) for k, s in zip(kernel, strides))
    else:
        pads = _pairs("conv_transpose", padding, n)
    if transpose_kernel:
        rhs = lax.rev(rhs, tuple(dn.rhs_spec[2:]))
        perm = list(range(ndim))
        perm[dn.rhs_spec[0]], perm[dn.rhs_spec[1]] = dn.rhs_spec[1], dn.rhs_spec[0]
        rhs = lax.transpose(rhs, perm)
    return conv_general_dilated(lhs, rhs, (1,) * n, pads, lhs_dilation=strides,
                                rhs_dilation=rhs_dilation, dimension_numbers=dn,
                                precision=precision, preferred_element_type=preferred_element_type)
