"""Array creation in funcjax.numpy."""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.numpy._util import asarray as _asarray


def array(object, dtype=None, copy=True, ndmin=0):  # noqa: A002 - numpy's name
    out = _asarray(object, dtype)
    if ndmin > out.ndim:
        out = lax.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def asarray(a, dtype=None):
    return _asarray(a, dtype)


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)


def _dtype(dtype):
    return dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_float()


def zeros(shape, dtype=None):
    return lax.full(_shape(shape), 0, _dtype(dtype))


def ones(shape, dtype=None):
    return lax.full(_shape(shape), 1, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    fill = _asarray(fill_value, dtype)
    shape = _shape(shape)
    from funcjax.numpy._shape import broadcast_to
    return broadcast_to(fill, shape)


def empty(shape, dtype=None):
    return zeros(shape, dtype)


def _like(a, dtype, shape):
    a = _asarray(a)
    return (a.shape if shape is None else _shape(shape)), (a.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    return zeros(*_like(a, dtype, shape))


def ones_like(a, dtype=None, shape=None):
    return ones(*_like(a, dtype, shape))


def empty_like(a, dtype=None, shape=None):
    return zeros(*_like(a, dtype, shape))


def full_like(a, fill_value, dtype=None, shape=None):
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def arange(start, stop=None, step=None, dtype=None):
    """Concrete bounds only (as in JAX, the length must be known while tracing)."""
    for v in (start, stop, step):
        if v is not None and not isinstance(v, (int, float, np.number, Array)):
            from funcjax.core.errors import ConcretizationTypeError
            raise ConcretizationTypeError(
                "arange: start, stop and step must be concrete values because they decide the "
                "length of the result; pass them as Python numbers or static arguments")
    values = np.arange(*[np.asarray(v).item() for v in (start, stop, step) if v is not None])
    if dtype is None:
        dtype = dtypes.default_int() if values.dtype.kind in "iu" else dtypes.default_float()
    return Array(values.astype(dtypes.canonicalize(dtype)))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    dtype = _dtype(dtype)
    start, stop = _asarray(start, dtype), _asarray(stop, dtype)
    div = (num - 1) if endpoint else num
    step_ = lax.div(lax.sub(stop, start), lax.full((), max(div, 1), dtype))
    steps = lax.convert_element_type(lax.iota(dtypes.default_int(), num), dtype)
    out = lax.add(lax.full((num,), 0, dtype), lax.mul(steps, lax.broadcast(step_, (num,))))
    out = lax.add(out, lax.broadcast(start, (num,)))
    if endpoint and num > 1:
        out = lax.dynamic_update_slice(out, lax.reshape(stop, (1,)), [num - 1])
    return (out, step_) if retstep else out


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - numpy's names
    M = N if M is None else M
    rows = lax.broadcasted_iota(dtypes.default_int(), (N, M), 0)
    cols = lax.broadcasted_iota(dtypes.default_int(), (N, M), 1)
    diag = lax.eq(lax.add(rows, lax.full((N, M), k, rows.dtype)), cols)
    return lax.convert_element_type(diag, _dtype(dtype))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)
