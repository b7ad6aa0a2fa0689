"""Array creation in funcjax.numpy. Shapes and ranges are static; values come from
``broadcast_in_dim`` of a scalar or from ``iota``, so creation stages cheaply under tracing."""

import math

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.core.errors import ConcretizationTypeError
from funcjax.core.shapes import canonicalize_shape
from funcjax.core.trace import Tracer
from funcjax.numpy._util import _dtype_and_weak, asarray, broadcast_to_shape

__all__ = ["array", "asarray", "zeros", "ones", "full", "empty", "zeros_like", "ones_like",
           "full_like", "empty_like", "arange", "linspace", "logspace", "eye", "identity",
           "tri", "tril", "triu", "meshgrid", "copy", "frombuffer", "indices"]


def array(object, dtype=None, copy=True, ndmin=0):  # noqa: A002 - numpy's name
    """A funcjax Array from an array-like (nested lists may contain Arrays and tracers)."""
    if copy and isinstance(object, Array):
        object = copy_array(object)  # noqa: A001 - a copy must own its buffer (donation)
    out = asarray(object, None if dtype is None else dtypes.canonicalize(dtype, "jnp.array",
                                                                          warn=True))
    if ndmin > out.ndim:
        out = lax.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def copy(a):
    """A new Array with its own buffer: donating the copy never deletes ``a``."""
    return copy_array(a) if isinstance(a, Array) else asarray(a)


def copy_array(a):
    return Array(np.array(a._value), weak_type=a.weak_type, device=a.device)


def frombuffer(buffer, dtype=float, count=-1, offset=0):
    return asarray(np.frombuffer(buffer, dtype, count, offset))


def _shape(shape, where):
    shape = canonicalize_shape(shape, f"jnp.{where}")
    if any(d < 0 for d in shape):
        raise ValueError(f"jnp.{where}: negative dimensions are not allowed, got shape {shape}")
    return shape


def _dtype(dtype, where):
    return dtypes.canonicalize(dtype, where, warn=True) if dtype is not None \
        else dtypes.default_float()


def zeros(shape, dtype=None):
    return lax.full(_shape(shape, "zeros"), 0, _dtype(dtype, "jnp.zeros"))


def ones(shape, dtype=None):
    return lax.full(_shape(shape, "ones"), 1, _dtype(dtype, "jnp.ones"))


empty = zeros


def full(shape, fill_value, dtype=None):
    """``fill_value`` (a scalar or an array that broadcasts) repeated to ``shape``."""
    fill = asarray(fill_value, None if dtype is None else dtypes.canonicalize(
        dtype, "jnp.full", warn=True))
    shape = _shape(shape, "full")
    if np.ndim(fill) and not all(d in (1, n) for d, n in zip(fill.shape[::-1], shape[::-1])):
        raise ValueError(f"full: fill_value of shape {fill.shape} does not broadcast to "
                         f"shape {shape}")
    return broadcast_to_shape(fill, shape)  # a Python scalar fill stays weakly typed, as in JAX


def _like(a, dtype, shape):
    dt, _ = _dtype_and_weak(a)
    shape = np.shape(a) if shape is None else _shape(shape, "zeros_like")
    return shape, (dt if dtype is None else dtype)


def zeros_like(a, dtype=None, shape=None):
    return zeros(*_like(a, dtype, shape))


def ones_like(a, dtype=None, shape=None):
    return ones(*_like(a, dtype, shape))


empty_like = zeros_like


def full_like(a, fill_value, dtype=None, shape=None):
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def _concrete_scalar(name, what, v):
    if isinstance(v, Tracer):
        raise ConcretizationTypeError(
            f"{name}: {what} must be a concrete value because it decides the length of the "
            f"result, but got a traced value of type {v.aval.str_short()}. Pass a Python "
            "number, or make the argument static (static_argnums).")
    return np.asarray(v).item()


def arange(start, stop=None, step=None, dtype=None):
    """``start, start + step, ...`` below ``stop``; the bounds must be concrete (as in JAX)."""
    start = _concrete_scalar("arange", "start", start)
    stop = None if stop is None else _concrete_scalar("arange", "stop", stop)
    step = 1 if step is None else _concrete_scalar("arange", "step", step)
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        is_float = any(isinstance(v, float) for v in (start, stop, step))
        dtype = dtypes.default_float() if is_float else dtypes.default_int()
    dtype = dtypes.canonicalize(dtype)
    n = max(math.ceil((stop - start) / step), 0)
    if float(start) == 0 and float(step) == 1:
        return lax.iota(dtype, n)
    compute = dtype if dtype.kind != "b" else dtypes.default_int()
    out = lax.add(lax.mul(lax.iota(compute, n), lax.full((n,), step, compute)),
                  lax.full((n,), start, compute))
    return lax.convert_element_type(out, dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop``; the last is exactly ``stop``
    when ``endpoint``. Array bounds give one sequence per element along ``axis``."""
    num = int(_concrete_scalar("linspace", "num", num))
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    out_dtype = dtypes.canonicalize(dtype) if dtype is not None else None
    start, stop = (asarray(v) for v in (start, stop))
    compute = dtypes.default_float()
    for v in (start, stop):
        if v.dtype.kind == "f":
            compute = dtypes.result_type((compute, True), (v.dtype, False))[0]
    if out_dtype is not None and out_dtype.kind == "f":
        compute = out_dtype
    from funcjax.numpy._util import broadcast_shapes
    bshape = broadcast_shapes("linspace", start.shape, stop.shape)
    start, stop = (broadcast_to_shape(lax.convert_element_type(v, compute), bshape)
                   for v in (start, stop))
    div = (num - 1) if endpoint else num
    delta = lax.sub(stop, start)
    step = lax.div(delta, lax.full(bshape, max(div, 1), compute))
    shape = (num,) + bshape
    steps = lax.broadcasted_iota(compute, shape, 0)
    bdims = range(1, len(shape))
    out = lax.add(lax.broadcast_in_dim(start, shape, bdims),
                  lax.mul(steps, lax.broadcast_in_dim(step, shape, bdims)))
    if endpoint and num > 1:
        last = lax.reshape(stop, (1,) + bshape)
        out = lax.concatenate([lax.slice_in_dim(out, 0, num - 1), last], 0)
    from funcjax.numpy._shape import moveaxis
    out = moveaxis(out, 0, axis)
    if out_dtype is not None:
        out = lax.convert_element_type(out, out_dtype)
    return (out, step) if retstep else out


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    from funcjax.numpy._ufuncs import power
    exponents = linspace(start, stop, num, endpoint, dtype=None, axis=axis)
    out = power(lax.full(exponents.shape, base, exponents.dtype), exponents)
    return out if dtype is None else lax.convert_element_type(out, dtypes.canonicalize(dtype))


def _diagonal_mask(n, m, k, compare):
    rows = lax.broadcasted_iota(dtypes.default_int(), (n, m), 0)
    cols = lax.broadcasted_iota(dtypes.default_int(), (n, m), 1)
    return compare(lax.add(rows, lax.full((n, m), int(k), rows.dtype)), cols)


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - numpy's names
    """Ones on the ``k``-th diagonal of an ``N x M`` matrix."""
    M = N if M is None else M
    mask = _diagonal_mask(int(N), int(M), k, lax.eq)
    return lax.convert_element_type(mask, _dtype(dtype, "jnp.eye"))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - numpy's names
    """Ones at and below the ``k``-th diagonal."""
    M = N if M is None else M
    mask = _diagonal_mask(int(N), int(M), k, lax.ge)
    return lax.convert_element_type(mask, _dtype(dtype, "jnp.tri"))


def _triangle(name, compare):
    def fn(m, k=0):
        m = asarray(m)
        if m.ndim < 2:
            raise ValueError(f"{name}: needs at least 2 dimensions, got shape {m.shape}")
        n, cols = m.shape[-2:]
        mask = lax.broadcast_in_dim(_diagonal_mask(n, cols, k, compare), m.shape,
                                    (m.ndim - 2, m.ndim - 1))
        return lax.select(mask, m, lax.full(m.shape, 0, m.dtype))
    fn.__name__ = name
    fn.__doc__ = f"The {'lower' if name == 'tril' else 'upper'} triangle of the last two axes."
    return fn


tril = _triangle("tril", lax.ge)
# triu keeps j >= i + k, i.e. where (i + k) <= j.
triu = _triangle("triu", lax.le)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate grids from 1-D arrays; ``indexing='xy'`` swaps the first two axes."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [asarray(x) for x in xi]
    for i, x in enumerate(arrays):
        if x.ndim != 1:
            raise ValueError(f"meshgrid: argument {i} must be 1-D, got shape {x.shape}")
    shape = [x.shape[0] for x in arrays]
    if indexing == "xy" and len(arrays) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(arrays):
        axis = {0: 1, 1: 0}.get(i, i) if indexing == "xy" and len(arrays) > 1 else i
        target = [1] * len(shape) if sparse else list(shape)
        target[axis] = x.shape[0]
        out.append(lax.broadcast_in_dim(x, target, (axis,)))
    return out


def indices(dimensions, dtype=None, sparse=False):
    """Grids of the index along each axis of an array of shape ``dimensions``."""
    dims = _shape(dimensions, "indices")
    dt = dtypes.canonicalize(dtype) if dtype is not None else dtypes.default_int()
    out = []
    for i, n in enumerate(dims):
        shape = [1] * len(dims) if sparse else list(dims)
        shape[i] = n
        out.append(lax.broadcasted_iota(dt, shape, i))
    if sparse:
        return tuple(out)
    from funcjax.numpy._joining import stack
    return stack(out) if out else lax.full((0,), 0, dt)


