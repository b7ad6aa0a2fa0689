"""``funcjax.numpy.fft``: numpy's FFT API over the ``fft`` primitive (``funcjax.ops.fft``).

Each function moves the axes it transforms to the end, crops or zero-pads them to the
requested lengths, binds the primitive, applies the ``norm`` scaling and moves the axes back.
"""

import math

import numpy as np

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.core import dtypes
from funcjax.numpy._util import asarray, canonical_axes
from funcjax.ops.fft import fft as _fft_bind

__all__ = ["fftfreq", "rfftfreq", "fftshift", "ifftshift", "fft", "ifft", "rfft", "irfft",
           "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn", "hfft",
           "ihfft"]


def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies ``[0, 1, ..., n/2 - 1, -n/2, ..., -1] / (d n)``."""
    n = int(n)
    if n < 1:
        raise ValueError(f"fftfreq: n must be positive, got {n}")
    k = np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    dtype = jnp.float32 if dtype is None else dtype
    return asarray(k, dtype) / (asarray(d, dtype) * n)


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of rfft: ``[0, 1, ..., n/2] / (d n)``."""
    n = int(n)
    if n < 1:
        raise ValueError(f"rfftfreq: n must be positive, got {n}")
    dtype = jnp.float32 if dtype is None else dtype
    return asarray(np.arange(n // 2 + 1), dtype) / (asarray(d, dtype) * n)


def _shift(name, x, axes, sign):
    x = asarray(x)
    axes = tuple(range(x.ndim)) if axes is None else canonical_axes(name, axes, x.ndim)
    return jnp.roll(x, [sign * (x.shape[a] // 2) for a in axes], axes)


def fftshift(x, axes=None):
    """Moves the zero frequency to the centre."""
    return _shift("fftshift", x, axes, 1)


def ifftshift(x, axes=None):
    """The inverse of fftshift (they differ for odd lengths)."""
    return _shift("ifftshift", x, axes, -1)


_NORMS = (None, "backward", "ortho", "forward")


def _scale(name, x, n, norm, inverse):
    """numpy's normalisations: backward scales the inverse by 1/n (the primitive already
    does), forward the forward transform, ortho both by 1/sqrt(n)."""
    if norm not in _NORMS:
        raise ValueError(f"jnp.fft.{name}: norm must be 'backward', 'ortho' or 'forward', "
                         f"got {norm!r}")
    if norm in (None, "backward"):
        return x
    if norm == "ortho":
        factor = math.sqrt(n) if inverse else 1 / math.sqrt(n)
    else:
        factor = n if inverse else 1 / n
    return x * lax.convert_element_type(factor, dtypes.real_dtype(x.dtype))


def _resize(x, axis, n):
    """``x`` cropped or zero-padded to length ``n`` along ``axis``."""
    m = x.shape[axis]
    if n == m:
        return x
    if n < m:
        return lax.slice_in_dim(x, 0, n, axis=axis)
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (0, n - m, 0)
    return lax.pad(x, lax.convert_element_type(0, x.dtype), config)


def _prepare(name, a, s, axes, complex_input):
    a = asarray(a)
    if a.dtype.kind in "biu":
        a = a.astype(dtypes.default_float())
    if complex_input and a.dtype.kind != "c":
        a = a.astype(dtypes.complex_dtype(a.dtype))
    if not complex_input and a.dtype.kind == "c":
        raise TypeError(f"jnp.fft.{name}: the input must be real, got {a.dtype}")
    if axes is None:
        axes = tuple(range(-len(s), 0)) if s is not None else tuple(range(a.ndim))
    axes = canonical_axes(f"jnp.fft.{name}", axes, a.ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"jnp.fft.{name}: repeated axes {axes}")
    if s is not None and len(s) != len(axes):
        raise ValueError(f"jnp.fft.{name}: s {tuple(s)} and axes {axes} differ in length")
    if not 1 <= len(axes) <= 3:
        raise ValueError(f"jnp.fft.{name}: transforms 1 to 3 axes, got axes {axes}")
    return a, axes


def _to_end(a, axes):
    rest = [d for d in range(a.ndim) if d not in axes]
    perm = rest + list(axes)
    return lax.transpose(a, perm), perm


def _back(x, perm):
    return lax.transpose(x, np.argsort(perm))


def _complex_nd(name, a, s, axes, norm, inverse):
    a, axes = _prepare(name, a, s, axes, True)
    lengths = [a.shape[d] for d in axes] if s is None else [int(n) for n in s]
    for d, n in zip(axes, lengths):
        a = _resize(a, d, n)
    x, perm = _to_end(a, axes)
    out = _fft_bind(x, "IFFT" if inverse else "FFT", lengths)
    return _scale(name, _back(out, perm), math.prod(lengths), norm, inverse)


def _real_nd(name, a, s, axes, norm):
    a, axes = _prepare(name, a, s, axes, False)
    lengths = [a.shape[d] for d in axes] if s is None else [int(n) for n in s]
    for d, n in zip(axes, lengths):
        a = _resize(a, d, n)
    x, perm = _to_end(a, axes)
    out = _fft_bind(x, "RFFT", lengths)
    return _scale(name, _back(out, perm), math.prod(lengths), norm, False)


def _inverse_real_nd(name, a, s, axes, norm):
    a, axes = _prepare(name, a, s, axes, True)
    lengths = [a.shape[d] for d in axes]
    if s is None:
        lengths[-1] = 2 * (lengths[-1] - 1)
    else:
        lengths = [int(n) for n in s]
    if lengths[-1] < 1:
        raise ValueError(f"jnp.fft.{name}: the output length must be positive, got "
                         f"{lengths[-1]}")
    for d, n in zip(axes[:-1], lengths[:-1]):
        a = _resize(a, d, n)
    a = _resize(a, axes[-1], lengths[-1] // 2 + 1)
    x, perm = _to_end(a, axes)
    out = _fft_bind(x, "IRFFT", lengths)
    return _scale(name, _back(out, perm), math.prod(lengths), norm, True)


def _one(n, axis):
    return (None if n is None else (n,)), (axis,)


def fft(a, n=None, axis=-1, norm=None):
    return _complex_nd("fft", a, *_one(n, axis), norm, False)


def ifft(a, n=None, axis=-1, norm=None):
    return _complex_nd("ifft", a, *_one(n, axis), norm, True)


def rfft(a, n=None, axis=-1, norm=None):
    return _real_nd("rfft", a, *_one(n, axis), norm)


def irfft(a, n=None, axis=-1, norm=None):
    return _inverse_real_nd("irfft", a, *_one(n, axis), norm)


def fftn(a, s=None, axes=None, norm=None):
    return _complex_nd("fftn", a, s, axes, norm, False)


def ifftn(a, s=None, axes=None, norm=None):
    return _complex_nd("ifftn", a, s, axes, norm, True)


def rfftn(a, s=None, axes=None, norm=None):
    return _real_nd("rfftn", a, s, axes, norm)


def irfftn(a, s=None, axes=None, norm=None):
    return _inverse_real_nd("irfftn", a, s, axes, norm)


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return _complex_nd("fft2", a, s, axes, norm, False)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return _complex_nd("ifft2", a, s, axes, norm, True)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    return _real_nd("rfft2", a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return _inverse_real_nd("irfft2", a, s, axes, norm)


_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def hfft(a, n=None, axis=-1, norm=None):
    """The FFT of a Hermitian-symmetric signal given by its first half (a real spectrum)."""
    if norm not in _NORMS:
        raise ValueError(f"jnp.fft.hfft: norm must be 'backward', 'ortho' or 'forward', got "
                         f"{norm!r}")
    return irfft(jnp.conj(asarray(a)), n, axis, _SWAP[norm])


def ihfft(a, n=None, axis=-1, norm=None):
    if norm not in _NORMS:
        raise ValueError(f"jnp.fft.ihfft: norm must be 'backward', 'ortho' or 'forward', got "
                         f"{norm!r}")
    return jnp.conj(rfft(a, n, axis, _SWAP[norm]))
