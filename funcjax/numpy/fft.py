"""``funcjax.numpy.fft``: sample frequencies and shifts.

The transforms themselves (fft, ifft, rfft, irfft, fft2, fftn, ...) produce complex arrays;
they arrive with complex dtypes (see the issue note): until then each raises a clear error
instead of returning something wrong.
"""

import numpy as np

from funcjax import numpy as jnp
from funcjax.numpy._util import asarray, canonical_axes

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


def _needs_complex(name):
    def transform(*args, **kwargs):
        raise NotImplementedError(
            f"jnp.fft.{name}: Fourier transforms return complex arrays, and this funcjax has "
            "no complex dtypes yet; fftfreq/rfftfreq/fftshift/ifftshift work. For now, "
            "compute the transform with numpy.fft on np.asarray(x).")
    transform.__name__ = name
    return transform


fft = _needs_complex("fft")
ifft = _needs_complex("ifft")
rfft = _needs_complex("rfft")
irfft = _needs_complex("irfft")
fft2 = _needs_complex("fft2")
ifft2 = _needs_complex("ifft2")
rfft2 = _needs_complex("rfft2")
irfft2 = _needs_complex("irfft2")
fftn = _needs_complex("fftn")
ifftn = _needs_complex("ifftn")
rfftn = _needs_complex("rfftn")
irfftn = _needs_complex("irfftn")
hfft = _needs_complex("hfft")
ihfft = _needs_complex("ihfft")
