"""Complex numbers in funcjax.numpy: parts, conjugates, angles and the ``is*`` predicates.

On real arrays ``real``/``conj`` are the identity and ``imag`` is zeros, as in numpy.
"""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.core.errors import ConcretizationTypeError
from funcjax.numpy._util import asarray, promote_args_inexact

__all__ = ["real", "imag", "conj", "conjugate", "angle", "iscomplexobj", "isrealobj",
           "iscomplex", "isreal", "real_if_close"]


def real(x, /):
    x = asarray(x)
    return lax.real(x) if dtypes.is_complex(x.dtype) else x


def imag(x, /):
    x = asarray(x)
    if dtypes.is_complex(x.dtype):
        return lax.imag(x)
    return lax.full(x.shape, 0, x.dtype, x.weak_type)


def conj(x, /):
    x = asarray(x)
    return lax.conj(x) if dtypes.is_complex(x.dtype) else x


conjugate = conj


def angle(z, deg=False):
    """The argument ``atan2(imag, real)`` of each element (in degrees with ``deg``)."""
    (z,) = promote_args_inexact("angle", z)
    re, im = real(z), imag(z)
    out = lax.atan2(im, re)
    return lax.mul(out, 180 / np.pi) if deg else out


def _dtype_of(x):
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def iscomplexobj(x):
    """Whether ``x`` has a complex dtype (even with zero imaginary parts)."""
    return dtypes.is_complex(_dtype_of(x))


def isrealobj(x):
    return not iscomplexobj(x)


def iscomplex(x):
    """Elementwise: a nonzero imaginary part."""
    x = asarray(x)
    return lax.ne(imag(x), lax.full(x.shape, 0, dtypes.real_dtype(x.dtype)))


def isreal(x):
    x = asarray(x)
    return lax.eq(imag(x), lax.full(x.shape, 0, dtypes.real_dtype(x.dtype)))


def real_if_close(a, tol=100):
    """The real part if every imaginary part is within ``tol`` machine epsilons of 0 (a
    decision on values: eager only, like numpy)."""
    a = asarray(a)
    if not dtypes.is_complex(a.dtype):
        return a
    if not isinstance(a, Array):
        raise ConcretizationTypeError(
            "real_if_close: the result's dtype depends on the values, so it cannot be traced "
            "(under jit/grad/vmap); use funcjax.numpy.real instead")
    eps = np.finfo(dtypes.real_dtype(a.dtype)).eps
    if np.all(np.abs(np.imag(np.asarray(a))) < tol * eps):
        return real(a)
    return a
