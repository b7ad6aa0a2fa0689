"""Shared pieces of the primitives' type rules and the errors they raise."""

from funcjax.core.abstract import ShapedArray

KIND_NAMES = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer",
              "b": "boolean", "c": "complex"}
FLOAT, INT, NUMBER, BITS, ANY = "f", "iu", "fiuc", "iub", "fiub"
INEXACT = "fc"  # floats and complex numbers (math functions that extend holomorphically)


def describe(avals):
    return ", ".join(a.str_short() for a in avals)


def check_kinds(name, avals, kinds):
    for a in avals:
        if a.dtype.kind not in kinds:
            allowed = " or ".join(KIND_NAMES[k] for k in dict.fromkeys(kinds))
            raise TypeError(f"{name} does not accept {a.dtype} operands (got {describe(avals)});"
                            f" it needs {allowed} values. Convert with .astype(...) first.")


def elementwise_type(name, *avals, kinds=ANY, out_dtype=None):
    """All operands share one shape and one dtype (jnp broadcasts and promotes before lax)."""
    check_kinds(name, avals, kinds)
    first = avals[0]
    for a in avals[1:]:
        if a.shape != first.shape:
            raise TypeError(f"{name} requires operands of equal shapes, got {describe(avals)}. "
                            "funcjax.numpy functions broadcast; lax functions do not.")
        if a.dtype != first.dtype:
            raise TypeError(f"{name} requires operands of equal dtypes, got {describe(avals)}. "
                            "funcjax.numpy functions promote; lax functions do not.")
    weak = all(a.weak_type for a in avals) and out_dtype is None
    return ShapedArray(first.shape, first.dtype if out_dtype is None else out_dtype, weak)


def normalize_axis(name, axis, ndim, what="axis"):
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{name}: {what} {axis} is out of bounds for an array of rank {ndim}; "
                         f"use an axis in [{-ndim}, {max(ndim, 1)})")
    return axis % ndim if ndim else 0


def check_axes(name, axes, ndim):
    axes = tuple(int(a) for a in axes)
    for a in axes:
        if not 0 <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for an array of rank {ndim}")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis in {axes}")
    return axes


def as_index_dtype(name, aval, what="indices"):
    if aval.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be integers, got {aval.str_short()}")
