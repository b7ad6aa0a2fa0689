"""Gradient checking against finite differences, as ``jax.test_util.check_grads``."""

import numpy as np

from funcjax.core import dtypes
from funcjax.core.namespace import public_dir
from funcjax.core.pytree import tree_flatten, tree_map
from funcjax.interpreters.eval import aval_of

_DEFAULT_TOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 2e-2,
                np.dtype(np.float64): 1e-5, np.dtype(np.complex64): 2e-2,
                np.dtype(np.complex128): 1e-5}


def _tolerance(leaves, tol):
    if tol is not None:
        return tol
    return max((_DEFAULT_TOL.get(np.dtype(aval_of(x).dtype), 1e-5) for x in leaves),
               default=1e-5)


def _random_like(rng, tree):
    def draw(x):
        aval = aval_of(x)
        if not dtypes.is_inexact(aval.dtype):
            return np.zeros(aval.shape, dtypes.float0)
        if dtypes.is_complex(aval.dtype):
            return (rng.standard_normal(aval.shape)
                    + 1j * rng.standard_normal(aval.shape)).astype(aval.dtype)
        return rng.standard_normal(aval.shape).astype(aval.dtype)
    return tree_map(draw, tree)


def _inner(a, b):
    """The real pairing ``Re sum(a * b)`` under which JAX's vjp is the transpose of its jvp
    (complex values pair as the real vectors (re, im))."""
    return sum(float(np.real(np.sum(np.asarray(x, np.complex128) * np.asarray(y, np.complex128))))
               for x, y in zip(tree_flatten(a)[0], tree_flatten(b)[0])
               if np.asarray(x).dtype != dtypes.float0)


def _check_close(what, got, want, atol, rtol):
    for g, w in zip(tree_flatten(got)[0], tree_flatten(want)[0]):
        g, w = np.asarray(g, np.complex128), np.asarray(w, np.complex128)
        if not np.allclose(g, w, atol=atol, rtol=rtol, equal_nan=True):
            raise AssertionError(f"check_grads: {what} disagree (atol={atol}, rtol={rtol}):\n"
                                 f"  got      {g}\n  expected {w}\n  max error "
                                 f"{np.max(np.abs(g - w))}")


def _shift(args, direction, step):
    return tree_map(lambda x, d: x if np.asarray(d).dtype == dtypes.float0 else
                    np.asarray(x) + step * np.asarray(d).astype(np.asarray(x).dtype),
                    args, direction)


def check_jvp(f, args, atol=None, rtol=None, eps=1e-4, rng=None):
    """jvp along a random direction against a central difference."""
    from funcjax.api import jvp
    rng = rng or np.random.default_rng(0)
    direction = _random_like(rng, args)
    _, tangent = jvp(f, args, direction)
    numeric = tree_map(lambda a, b: (np.asarray(a, np.complex128) - np.asarray(b, np.complex128))
                       / (2 * eps), f(*_shift(args, direction, eps)),
                       f(*_shift(args, direction, -eps)))
    tol = _tolerance(tree_flatten(args)[0], atol)
    _check_close("jvp and finite differences", tangent, numeric, tol,
                 _tolerance(tree_flatten(args)[0], rtol))


def check_vjp(f, args, atol=None, rtol=None, rng=None):
    """<u, J v> from jvp against <J^T u, v> from vjp, for random u and v."""
    from funcjax.api import jvp, vjp
    rng = rng or np.random.default_rng(1)
    v = _random_like(rng, args)
    out, tangent = jvp(f, args, v)
    _, pullback = vjp(f, *args)
    u = _random_like(rng, out)
    leaves = tree_flatten(args)[0]
    _check_close("vjp and jvp", _inner(pullback(u), v), _inner(u, tangent),
                 _tolerance(leaves, atol), _tolerance(leaves, rtol))


def check_grads(f, args, order, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Checks the derivatives of ``f`` at ``args`` up to ``order``: forward mode against
    central differences, reverse mode against forward mode; higher orders check the
    directional derivatives of the directional derivative, recursively."""
    args = tuple(args)
    leaves = tree_flatten(args)[0]
    if eps is None:
        eps = 1e-4 if all(aval_of(x).dtype.itemsize == 8 * (1 + dtypes.is_complex(
            aval_of(x).dtype)) for x in leaves if dtypes.is_inexact(aval_of(x).dtype)) else 1e-2
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r}; modes are 'fwd' and 'rev'")
    if "fwd" in modes:
        check_jvp(f, args, atol, rtol, eps)
    if "rev" in modes:
        check_vjp(f, args, atol, rtol)
    if order > 1:
        from funcjax.api import jvp, vjp
        rng = np.random.default_rng(order)
        if "fwd" in modes:
            v = _random_like(rng, args)
            check_grads(lambda *a: jvp(f, a, v)[1], args, order - 1, ("fwd",), atol, rtol, eps)
        if "rev" in modes:
            u = _random_like(rng, f(*args))
            check_grads(lambda *a: vjp(f, *a)[1](u), args, order - 1, ("rev",), atol, rtol, eps)




__dir__ = public_dir(globals())
