"""Arrays during lowering: a ``Value`` produces the element at any index on demand.

A ``Buffer`` is an array in memory (row-major, contiguous): loading an element is an address
computation and a load. A ``Lazy`` value is a recipe: loading its element at an index emits
the scalar code that computes it from its operands' elements. Elementwise and indexing
primitives return lazy values, so a chain of them becomes one expression evaluated inside
whichever loop finally consumes it: that is all the fusion the backend needs.
"""

import numpy as np

from funcjax.backend.llvm import types


class Value:
    """An array of type ``aval``; ``load(idx)`` emits code giving one element (compute type).

    ``cheap`` values cost only index arithmetic and loads to recompute."""

    __slots__ = ("aval", "cheap")

    def __init__(self, aval, cheap):
        self.aval = aval
        self.cheap = cheap

    def load(self, idx):
        raise NotImplementedError


class Lazy(Value):
    __slots__ = ("fn",)

    def __init__(self, aval, fn, cheap=False):
        super().__init__(aval, cheap)
        self.fn = fn

    def load(self, idx):
        return self.fn(list(idx))


class Buffer(Value):
    """A contiguous row-major array at ``ptr`` (an LLVM pointer value)."""

    __slots__ = ("b", "_ptr", "strides")

    def __init__(self, b, ptr, aval):
        super().__init__(aval, True)
        self.b, self._ptr = b, ptr
        self.strides = row_major_strides(aval.shape)

    @property
    def ptr(self):
        """The pointer in the function being emitted (see ``lowering.PartBuilder``)."""
        pointer = getattr(self.b, "pointer", None)
        return self._ptr if pointer is None else pointer(self._ptr)

    def address(self, idx):
        offset = None
        for i, stride, n in zip(idx, self.strides, self.aval.shape):
            if n == 1:
                continue
            term = i if stride == 1 else self.b.mul(i, types.i64(stride), flags=("nsw",))
            offset = term if offset is None else self.b.add(offset, term, flags=("nsw",))
        return self.element(offset if offset is not None else types.i64(0))

    def element(self, linear):
        return self.b.gep(self.ptr, [linear], inbounds=True,
                          source_etype=types.storage_type(self.aval.dtype))

    def load(self, idx):
        typ = types.storage_type(self.aval.dtype)
        return types.from_storage(self.b, self.aval.dtype, self.b.load(self.address(idx), typ=typ))

    def store(self, idx, value):
        self.b.store(types.to_storage(self.b, self.aval.dtype, value), self.address(idx))

    def reshaped(self, aval):
        """The same memory seen with another shape (contiguous, so a reshape is free)."""
        return Buffer(self.b, self._ptr, aval)


def row_major_strides(shape):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= n
    return strides[::-1]


def constant_value(aval, value):
    """A value all of whose elements are the Python/numpy scalar ``value``."""
    c = types.const(aval.dtype, np.asarray(value))
    return Lazy(aval, lambda idx: c, cheap=True)


def unravel(b, linear, shape):
    """Row-major multi-index of a linear i64 index (for reshapes of lazy values)."""
    idx = []
    for stride, n in zip(row_major_strides(shape), shape):
        if n == 1:
            idx.append(types.i64(0))
            continue
        q = b.udiv(linear, types.i64(stride)) if stride != 1 else linear
        idx.append(b.urem(q, types.i64(n)))
    return idx


def ravel(b, idx, shape):
    offset = types.i64(0)
    for i, stride in zip(idx, row_major_strides(shape)):
        offset = b.add(offset, b.mul(i, types.i64(stride)))
    return offset

