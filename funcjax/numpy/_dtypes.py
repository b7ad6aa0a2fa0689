"""dtypes in funcjax.numpy: scalar types that build Arrays, and the promotion queries.

``jnp.float32`` is a class, as in JAX: ``jnp.float32(3)`` is a (strongly typed) funcjax Array,
``np.dtype(jnp.float32)`` is numpy's float32 (via the ``dtype`` attribute), and
``isinstance(np.float32(1), jnp.float32)`` holds.
"""

import builtins

import numpy as np

from funcjax.core import dtypes
from funcjax.numpy._util import _dtype_and_weak, asarray

__all__ = ["bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64", "int_", "uint", "float_", "dtype", "finfo",
           "iinfo", "generic", "number", "integer", "signedinteger", "unsignedinteger",
           "inexact", "floating", "bool", "result_type", "promote_types", "can_cast",
           "issubdtype", "isdtype", "complex64", "complex128", "complex_", "csingle",
           "cdouble", "complexfloating"]


class _ScalarMeta(type):
    def __call__(cls, x):
        return asarray(x, cls.dtype)

    def __instancecheck__(cls, instance):
        return isinstance(instance, cls.dtype.type)

    def __eq__(cls, other):
        return cls is other or cls.dtype.type == other

    def __ne__(cls, other):
        return not cls == other

    def __hash__(cls):
        return hash(cls.dtype.type)

    def __repr__(cls):
        return f"<class 'funcjax.numpy.{cls.__name__}'>"


def _scalar_type(name, np_type):
    return _ScalarMeta(name, (object,), {"dtype": np.dtype(np_type), "__module__": __name__})


bool_ = _scalar_type("bool_", np.bool_)
int8, int16 = _scalar_type("int8", np.int8), _scalar_type("int16", np.int16)
int32, int64 = _scalar_type("int32", np.int32), _scalar_type("int64", np.int64)
uint8, uint16 = _scalar_type("uint8", np.uint8), _scalar_type("uint16", np.uint16)
uint32, uint64 = _scalar_type("uint32", np.uint32), _scalar_type("uint64", np.uint64)
float16, float32 = _scalar_type("float16", np.float16), _scalar_type("float32", np.float32)
float64 = _scalar_type("float64", np.float64)
complex64 = _scalar_type("complex64", np.complex64)
complex128 = _scalar_type("complex128", np.complex128)
csingle, cdouble = complex64, complex128
# The 64-bit defaults narrow to 32 bits unless jax_enable_x64 is set (like JAX's).
int_, uint, float_, complex_ = int64, uint64, float64, complex128
bool = bool_  # noqa: A001 - numpy 2's name for the boolean scalar type

dtype, finfo, iinfo = np.dtype, np.finfo, np.iinfo
generic, number, integer = np.generic, np.number, np.integer
signedinteger, unsignedinteger = np.signedinteger, np.unsignedinteger
inexact, floating, complexfloating = np.inexact, np.floating, np.complexfloating


def _pair(x):
    """(dtype, weak) of an array, scalar, dtype or scalar type: Python types are weak."""
    if x is int or x is float:
        return dtypes.python_scalar_dtype(x(0)), True
    if x is builtins.bool:
        return dtypes.bool_, False
    if isinstance(x, (np.dtype, type, str)):
        return dtypes.canonicalize(x), False
    return _dtype_and_weak(x)


def result_type(*args, return_weak_type_flag=False):
    """JAX's promotion over arrays, dtypes, scalar types and Python scalars."""
    if not args:
        raise ValueError("result_type: at least one array or dtype is required")
    out, weak = dtypes.result_type(*map(_pair, args))
    return (out, weak) if return_weak_type_flag else out


def promote_types(a, b):
    """The dtype both ``a`` and ``b`` promote to (no weak types: dtypes only)."""
    return dtypes.result_type((dtypes.canonicalize(a), False), (dtypes.canonicalize(b), False))[0]


def can_cast(from_, to, casting="safe"):
    """Whether ``from_`` converts to ``to`` without loss under numpy's rules."""
    src = _pair(from_)[0]
    return np.can_cast(src, np.dtype(to), casting)


def issubdtype(arg1, arg2):
    return np.issubdtype(arg1, arg2)


_KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
          "real floating": "f", "numeric": "iuf"}


def isdtype(dtype, kind):
    """The array API's kind test: ``kind`` is a dtype, a kind name or a tuple of those."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    dt = np.dtype(dtype)
    for k in kinds:
        if isinstance(k, str):
            if k not in _KINDS:
                raise ValueError(f"isdtype: unknown kind {k!r}; kinds are {sorted(_KINDS)}")
            if dt.kind in _KINDS[k]:
                return True
        elif dt == np.dtype(k):
            return True
    return False
