"""The ``fft`` primitive: discrete Fourier transforms over the trailing axes.

``fft_type`` is one of FFT (complex -> complex), IFFT (its inverse, scaled 1/N), RFFT
(real -> the non-negative half spectrum) and IRFFT (its inverse, real output);
``fft_lengths`` are the logical lengths of the transformed trailing axes. The impl is numpy's
pocketfft; under jit the equation touches complex values, so it is outlined into a host call
of that impl (``backend/llvm/host_call.py``).

Every transform is linear, so the jvp is the transform of the tangent. Transposes use the
plain (unconjugated) convention of ``complex_ops``: the DFT matrix is symmetric, so FFT and
IFFT are their own transposes; RFFT transposes to ``real(fft(ct padded to n))``; IRFFT to
``conj(w * rfft(ct)) / N`` with w = 1 at the zero (and, for even n, the Nyquist) bin and 2 in
between, because each interior bin stands for itself and its mirror image.
"""

import math

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import move_batch_axis
from funcjax.interpreters.jvp import deflinear
from funcjax.ops.lazy import lax

FFT_TYPES = ("FFT", "IFFT", "RFFT", "IRFFT")


def _axes(x, lengths):
    return tuple(range(np.ndim(x) - len(lengths), np.ndim(x)))


def _fft_impl(x, *, fft_type, fft_lengths):
    axes = _axes(x, fft_lengths)
    if fft_type == "FFT":
        out = np.fft.fftn(x, axes=axes)
    elif fft_type == "IFFT":
        out = np.fft.ifftn(x, axes=axes)
    elif fft_type == "RFFT":
        out = np.fft.rfftn(x, s=fft_lengths, axes=axes)
        return out.astype(dtypes.complex_dtype(x.dtype), copy=False)
    else:
        out = np.fft.irfftn(x, s=fft_lengths, axes=axes)
        return out.astype(dtypes.real_dtype(x.dtype), copy=False)
    return out.astype(x.dtype, copy=False)  # numpy >= 2 transforms float32 natively


def _fft_type(x, *, fft_type, fft_lengths):
    name = f"fft ({fft_type})"
    if fft_type not in FFT_TYPES:
        raise ValueError(f"fft: fft_type must be one of {FFT_TYPES}, got {fft_type!r}")
    k = len(fft_lengths)
    if not 1 <= k <= 3 or k > x.ndim:
        raise ValueError(f"{name}: transforms 1 to 3 trailing axes of an operand with that "
                         f"many, got fft_lengths {tuple(fft_lengths)} for {x.str_short()}")
    if any(n < 1 for n in fft_lengths):
        raise ValueError(f"{name}: fft_lengths must be positive, got {tuple(fft_lengths)}")
    lead, trail = x.shape[:x.ndim - k], tuple(x.shape[x.ndim - k:])
    if fft_type == "RFFT":
        if x.dtype.kind != "f":
            raise TypeError(f"{name} needs a real floating operand, got {x.str_short()}")
        if trail != tuple(fft_lengths):
            raise ValueError(f"{name}: the trailing axes {trail} of {x.str_short()} must equal "
                             f"fft_lengths {tuple(fft_lengths)}")
        shape = lead + trail[:-1] + (fft_lengths[-1] // 2 + 1,)
        return ShapedArray(shape, dtypes.complex_dtype(x.dtype), x.weak_type)
    if x.dtype.kind != "c":
        raise TypeError(f"{name} needs a complex operand, got {x.str_short()}; convert with "
                        ".astype(complex64) or use RFFT")
    if fft_type == "IRFFT":
        want = tuple(fft_lengths[:-1]) + (fft_lengths[-1] // 2 + 1,)
        if trail != want:
            raise ValueError(f"{name}: the trailing axes {trail} of {x.str_short()} must be "
                             f"{want} for fft_lengths {tuple(fft_lengths)}")
        return ShapedArray(lead + tuple(fft_lengths), dtypes.real_dtype(x.dtype), x.weak_type)
    if trail != tuple(fft_lengths):
        raise ValueError(f"{name}: the trailing axes {trail} of {x.str_short()} must equal "
                         f"fft_lengths {tuple(fft_lengths)}")
    return ShapedArray(x.shape, x.dtype, x.weak_type)


fft_p = define_primitive("fft", _fft_impl, _fft_type)
deflinear(fft_p)


def fft(x, fft_type, fft_lengths):
    return fft_p.bind(x, fft_type=fft_type, fft_lengths=tuple(int(n) for n in fft_lengths))


def _irfft_weights(n, bins, dtype):
    """1 for the zero bin (and the Nyquist bin of an even n), 2 for the bins in between."""
    w = np.full(bins, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return lax.convert_element_type(w, dtype)


def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    if fft_type in ("FFT", "IFFT"):
        return [fft(ct, fft_type, fft_lengths)]
    if fft_type == "RFFT":
        n = fft_lengths[-1]
        config = [(0, 0, 0)] * (ct.ndim - 1) + [(0, n - ct.shape[-1], 0)]
        full = lax.pad(ct, lax.convert_element_type(0, ct.dtype), config)
        return [lax.real(fft(full, "FFT", fft_lengths))]
    spectrum = fft(ct, "RFFT", fft_lengths)
    weights = _irfft_weights(fft_lengths[-1], spectrum.shape[-1], spectrum.dtype)
    scaled = lax.mul(spectrum, lax.broadcast_in_dim(weights, spectrum.shape,
                                                    (spectrum.ndim - 1,)))
    scaled = lax.mul(scaled, lax.full(scaled.shape, 1 / math.prod(fft_lengths), scaled.dtype))
    return [lax.conj(scaled)]


fft_p.def_transpose(_fft_transpose)


def _fft_batch(axis_data, args, dims, *, fft_type, fft_lengths):
    (x,), (d,) = args, dims
    return fft(move_batch_axis(x, d, 0, axis_data.size), fft_type, fft_lengths), 0


fft_p.def_batch(_fft_batch)


def _fft_cost(in_avals, out_avals, *, fft_type, fft_lengths):
    """About 5 N log2 N flops per transform of N points (the radix-2 count)."""
    n = math.prod(fft_lengths)
    batches = max(in_avals[0].size, out_avals[0].size) // max(n, 1)
    return cost.Cost(flops=int(5 * n * max(math.log2(max(n, 2)), 1) * max(batches, 1)))


fft_p.def_cost(_fft_cost)
