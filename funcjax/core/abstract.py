"""Abstract values: what a transformation knows about an array without its data."""

import functools
import math
import numbers

import numpy as np

from funcjax.core import dtypes


class ShapedArray:
    """Shape, dtype and weak type: the type of every value in a jaxpr."""

    __slots__ = ("shape", "dtype", "weak_type", "_hash")

    def __init__(self, shape, dtype, weak_type=False):
        self.shape = tuple(map(int, shape))
        self.dtype = np.dtype(dtype)
        self.weak_type = bool(weak_type)
        # Avals key the type-rule cache: hash once, not on every lookup.
        self._hash = hash((self.shape, self.dtype, self.weak_type))

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))  # exact; np.prod costs 3 us

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def strip_weak_type(self):
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self

    def update(self, shape=None, dtype=None, weak_type=None):
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype,
                           self.weak_type if weak_type is None else weak_type)

    def __eq__(self, other):
        return (isinstance(other, ShapedArray) and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self):
        return self._hash

    def __reduce__(self):  # the cached hash is per process: rebuild it on unpickling
        return ShapedArray, (self.shape, self.dtype, self.weak_type)

    def str_short(self):
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __str__(self):
        """``float32[2,3]``: JAX's text, with the full dtype name (jaxprs use ``str_short``)."""
        return f"{np.dtype(self.dtype).name}[{','.join(map(str, self.shape))}]"

    def __repr__(self):
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapedArray({self}{weak})"


@functools.lru_cache(maxsize=None)
def scalar_aval(dtype, weak_type):
    """The shared type of 0-d values of ``dtype`` (scalars are made often)."""
    return ShapedArray((), dtype, weak_type)


def same_type(a, b):
    """Type equality that ignores weak types (what a jaxpr's typecheck compares)."""
    return a.shape == b.shape and a.dtype == b.dtype


def concrete_aval(x):
    """The abstract value of a concrete value: numpy array/scalar, Python scalar or Array."""
    if isinstance(x, (bool, numbers.Integral, float, complex)) and not isinstance(x, np.generic):
        if isinstance(x, int) and not isinstance(x, bool):
            _check_python_int(x)
        return ShapedArray((), dtypes.python_scalar_dtype(x), weak_type=not isinstance(x, bool))
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(np.shape(x), dtypes.canonicalize(x.dtype))
    raise TypeError(f"value of type {type(x).__name__} is not a valid funcjax type: {x!r}")


def _check_python_int(x):
    info = np.iinfo(dtypes.default_int())
    if not info.min <= x <= info.max:
        raise OverflowError(
            f"Python int {x} is too large for {dtypes.default_int()}; "
            "enable 64-bit types with funcjax.config.update('jax_enable_x64', True)")
