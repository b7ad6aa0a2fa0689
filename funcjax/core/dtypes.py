"""dtypes: the supported set, canonicalisation under the x64 flag, and JAX's promotion lattice.

Python scalars are *weakly typed*: they take the dtype of the array they meet instead of
widening it (``f16_array * 2.0`` stays float16). Promotion is the least upper bound in JAX's
type lattice, which never silently turns ``int32 + float16`` into float64 as numpy would.
"""

import functools
import warnings

import numpy as np

from funcjax.config import config
from funcjax.core.source_info import user_stacklevel

bool_ = np.dtype(np.bool_)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
float16, float32, float64 = (np.dtype(t) for t in (np.float16, np.float32, np.float64))
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

SUPPORTED = (bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
             float16, float32, float64, complex64, complex128)

# float0 is the dtype of tangents of integer and boolean values (JAX's ``float0``).
float0 = np.dtype([("float0", np.void, 0)])

_X64_NARROWING = {int64: int32, uint64: uint32, float64: float32, complex128: complex64}

SHORT_NAMES = {bool_: "bool", int8: "i8", int16: "i16", int32: "i32", int64: "i64",
               uint8: "u8", uint16: "u16", uint32: "u32", uint64: "u64",
               float16: "f16", float32: "f32", float64: "f64", complex64: "c64",
               complex128: "c128", float0: "float0"}


def x64_enabled():
    return config.jax_enable_x64


def canonicalize(dtype, where=None, warn=False):
    """Maps a dtype-like to the dtype funcjax computes in (64-bit types narrow without x64).

    ``where`` names the user's function in the error for an unsupported dtype; ``warn`` says
    the user asked for ``dtype`` explicitly, so narrowing it warns, as JAX does
    (``jnp.array(x, dtype=jnp.float64)`` gives float32 without x64)."""
    try:  # called per operation: remember each answer (dtype-likes are hashable but lists)
        result = _canonical[dtype, config.jax_enable_x64]
    except (KeyError, TypeError):
        result = _canonicalize(dtype, where or "funcjax")
        try:
            _canonical[dtype, config.jax_enable_x64] = result
        except TypeError:
            pass
    # Python's int, float and complex mean "the default type", which narrows silently.
    if warn and not x64_enabled() and dtype not in (int, float, complex):
        asked = np.dtype(dtype).newbyteorder("=")
        if asked in _X64_NARROWING:
            warnings.warn(
                f"{where}: dtype {asked} is not available without 64-bit mode, so the "
                f"result is {result}. Enable 64-bit types with "
                "funcjax.config.update('jax_enable_x64', True) or JAX_ENABLE_X64=1.",
                UserWarning, stacklevel=user_stacklevel())
    return result


_canonical = {}


def _canonicalize(dtype, where):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: {dtype!r:.60} is not a dtype; pass one such as jnp.float32 "
                        "or 'int32'") from None
    if dt == float0:
        return dt
    if dt.byteorder == ">" or (dt.byteorder == "<" and not dt.isnative):
        dt = dt.newbyteorder("=")  # big-endian input: computed in native order, as in JAX
    if dt not in SUPPORTED:
        raise TypeError(f"{where}: funcjax does not support dtype {dt}; convert the data to one "
                        "of the supported dtypes: " + ", ".join(str(d) for d in SUPPORTED))
    if not x64_enabled():
        return _X64_NARROWING.get(dt, dt)
    return dt


def default_int():
    return int64 if x64_enabled() else int32


def default_float():
    return float64 if x64_enabled() else float32


def default_complex():
    return complex128 if x64_enabled() else complex64


def to_inexact(dtype):
    """The float type integers and booleans compute in where a float is needed (``sin``,
    ``mean``): JAX maps by width, so only 64-bit integers give float64 (with x64)."""
    dt = np.dtype(dtype)
    if dt.kind in "fc":
        return dt
    return canonicalize(np.float64 if dt.itemsize == 8 else np.float32)


def is_float(dtype):
    return np.dtype(dtype).kind == "f"


def is_int(dtype):
    return np.dtype(dtype).kind in "iu"


def is_bool(dtype):
    return np.dtype(dtype) == bool_


def is_complex(dtype):
    return np.dtype(dtype).kind == "c"


def is_inexact(dtype):
    """Floats and complex numbers: the dtypes that have tangents."""
    return np.dtype(dtype).kind in "fc"


def real_dtype(dtype):
    """The dtype of the real and imaginary parts (complex64 -> float32); others unchanged."""
    dt = np.dtype(dtype)
    return np.dtype(f"f{dt.itemsize // 2}") if dt.kind == "c" else dt


def complex_dtype(dtype):
    """The complex dtype whose parts have ``dtype`` (float16 widens to complex64)."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return dt
    return canonicalize(complex128 if dt.itemsize == 8 else complex64)


def finfo(dtype):
    return np.finfo(np.dtype(dtype))


def iinfo(dtype):
    return np.iinfo(np.dtype(dtype))


# -- promotion lattice -----------------------------------------------------------------------
# Nodes are dtypes plus the weak categories "i*", "f*", "c*" (Python int, float, complex).
_WEAK_INT, _WEAK_FLOAT, _WEAK_COMPLEX = "i*", "f*", "c*"
_EDGES = {
    bool_: [_WEAK_INT],
    _WEAK_INT: [uint8, int8],
    uint8: [int16, uint16], uint16: [int32, uint32], uint32: [int64, uint64],
    uint64: [_WEAK_FLOAT],
    int8: [int16], int16: [int32], int32: [int64], int64: [_WEAK_FLOAT],
    _WEAK_FLOAT: [float16, _WEAK_COMPLEX], float16: [float32], float32: [float64, complex64],
    float64: [complex128], _WEAK_COMPLEX: [complex64], complex64: [complex128], complex128: [],
}


@functools.cache
def _upper_bounds(node):
    seen = {node}
    todo = [node]
    while todo:
        for nxt in _EDGES[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def _node(dtype, weak):
    dtype = np.dtype(dtype)
    if weak:
        if dtype.kind in "iu":
            return _WEAK_INT
        if dtype.kind == "f":
            return _WEAK_FLOAT
        if dtype.kind == "c":
            return _WEAK_COMPLEX
    return dtype


@functools.cache
def _join(a, b):
    common = _upper_bounds(a) & _upper_bounds(b)
    # The least upper bound is the common bound whose own bounds contain all the others.
    for cand in common:
        if common <= _upper_bounds(cand):
            return cand
    raise TypeError(f"no common dtype for {a} and {b}")  # unreachable for this lattice


def result_type(*dtypes_and_weak):
    """Promotes ``(dtype, weak_type)`` pairs; returns ``(dtype, weak_type)`` of the result."""
    node = None
    for dtype, weak in dtypes_and_weak:
        n = _node(dtype, weak)
        node = n if node is None else _join(node, n)
    if node == _WEAK_INT:
        return default_int(), True
    if node == _WEAK_FLOAT:
        return default_float(), True
    if node == _WEAK_COMPLEX:
        return default_complex(), True
    # A weak value never decides the width: only if every input was weak is the result weak.
    return canonicalize(node), False


def python_scalar_dtype(value):
    """The (canonical) dtype a Python scalar gets; Python scalars are weakly typed."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return default_int()
    if isinstance(value, float):
        return default_float()
    if isinstance(value, complex):
        return default_complex()
    raise TypeError(f"{value!r} is not a Python scalar")


def short_name(dtype):
    return SHORT_NAMES.get(np.dtype(dtype), str(dtype))
