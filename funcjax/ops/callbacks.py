"""Host callbacks: traced or compiled code calling back into Python.

``callback_p`` applies a ``HostCallback`` (a Python function of flat numpy arrays returning
flat numpy arrays of declared types) to its inputs. Param ``kind`` says what the function is:

- ``"pure"`` (``pure_callback``): no side effects, so an unused result may be dropped like any
  other value; no derivative (wrap it in ``custom_jvp``); vmap follows ``vmap_method``.
- ``"io"`` (``io_callback``): has effects, so it is never dropped; ``ordered=True`` refuses
  vmap (the order of the per-example calls would be invented).
- ``"debug"`` (``debug.callback``/``debug.print``): has effects and no results; under
  differentiation it sees the primal values, under vmap it runs once per example.

Effects are kept and ordered without tokens: liveness treats an effectful equation as used
(``ir.has_effects``), the backend lowers equations in program order, and each callback is an
opaque call that LLVM may neither remove nor move across another. Under jit the lowering
(``backend/llvm/lower_callback.py``) calls a ctypes trampoline, which holds the GIL only for
the duration of the Python call.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.array import Array
from funcjax.core.primitive import Primitive
from funcjax.core.pytree import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from funcjax.interpreters.batching import move_batch_axis, not_mapped
from funcjax.interpreters.eval import aval_of
from funcjax.ops.control_flow.scan import scan

VMAP_METHODS = ("sequential", "sequential_unrolled", "expand_dims", "broadcast_all",
                "legacy_vectorized")


class HostCallback:
    """A flat Python callback with the types its results must have. ``native`` is the
    backend's trampoline for it, made the first time it is compiled."""

    __slots__ = ("fn", "name", "result_avals", "result_paths", "native")

    def __init__(self, fn, name, result_avals, result_paths=None):
        self.fn, self.name = fn, name
        self.result_avals = tuple(result_avals)
        self.result_paths = result_paths or [f"result {k}" for k in range(len(result_avals))]
        self.native = None

    def __call__(self, *arrays):
        outs = self.fn(*arrays)
        return [_checked(self.name, out, aval, path)
                for out, aval, path in zip(outs, self.result_avals, self.result_paths)]

    def __repr__(self):
        return self.name


def _checked(name, value, aval, path):
    if isinstance(value, (np.ndarray, np.generic, Array)):
        array = np.asarray(value)
    else:  # a Python number or list: it has no dtype of its own to be wrong
        array = np.asarray(value, aval.dtype)
    if array.shape != aval.shape or array.dtype != aval.dtype:
        raise TypeError(
            f"{name}: the callback returned {array.dtype.name}{list(array.shape)} for "
            f"{path}, but result_shape_dtypes declares {aval.dtype.name}{list(aval.shape)}. "
            "Return arrays of the declared shapes and dtypes (e.g. np.asarray(r, "
            f"np.{aval.dtype.name})) or correct result_shape_dtypes.")
    return array


callback_p = Primitive("callback", multiple_results=True)
callback_p.effectful = lambda params: params["kind"] != "pure"
callback_p.def_impl(lambda *args, callback, **_: callback(*args))
callback_p.def_abstract_eval(lambda *avals, callback, **_: list(callback.result_avals))


def _callback_jvp(primals, tangents, *, callback, kind, ordered, vmap_method):
    if kind == "debug":  # prints and debug callbacks see primal values, as in JAX
        callback_p.bind(*primals, callback=callback, kind=kind, ordered=ordered,
                        vmap_method=vmap_method)
        return [], []
    raise ValueError(
        f"{callback.name} cannot be differentiated: a host callback has no derivative "
        "rule. Wrap the function that calls it in funcjax.custom_jvp (or custom_vjp) and "
        "give the derivative there, e.g. with another callback.")


callback_p.def_jvp(_callback_jvp)


def _unbatched(avals, size):
    return [ShapedArray((size,) + a.shape, a.dtype, a.weak_type) for a in avals]


def _callback_batch(axis_data, args, dims, *, callback, kind, ordered, vmap_method):
    size = axis_data.size
    params = dict(kind=kind, ordered=ordered, vmap_method=vmap_method)
    if kind == "io" and ordered:
        raise ValueError(f"{callback.name}: cannot vmap an ordered io_callback "
                         "(the order of the per-example calls is not defined). Use "
                         "ordered=False, or call it on the whole batch outside vmap.")
    if kind == "pure" and vmap_method not in VMAP_METHODS:
        raise NotImplementedError(
            f"{callback.name} is under vmap but says nothing about how to "
            f"batch it: pass vmap_method= one of {', '.join(map(repr, VMAP_METHODS))} "
            "('sequential' calls it once per example).")
    method = "sequential" if kind != "pure" else vmap_method
    if method in ("expand_dims", "broadcast_all", "legacy_vectorized"):
        # expand_dims: unmapped arguments get a leading axis of size 1; broadcast_all: of size
        # ``size``. Either way the callback is called once, on the whole batch.
        width = 1 if method != "broadcast_all" else size
        args = [move_batch_axis(x, d, 0, size if d is not not_mapped else width)
                for x, d in zip(args, dims)]
        batched = HostCallback(callback.fn, callback.name,
                               _unbatched(callback.result_avals, size), callback.result_paths)
        return callback_p.bind(*args, callback=batched, **params), [0] * len(batched.result_avals)
    mapped = [d is not not_mapped for d in dims]
    xs = [move_batch_axis(x, d, 0, size) for x, d, m in zip(args, dims, mapped) if m]
    fixed = [x for x, m in zip(args, mapped) if not m]

    def one(carry, x_slices):
        it_x, it_f = iter(x_slices), iter(fixed)
        return carry, callback_p.bind(*[next(it_x) if m else next(it_f) for m in mapped],
                                      callback=callback, **params)

    # One call per example, in order: a scan whose body calls back (unrolled if asked).
    outs = scan(one, (), xs, length=size,
                unroll=max(size, 1) if method == "sequential_unrolled" else 1)[1]
    return list(outs), [0] * len(outs)


callback_p.def_batch(_callback_batch)
callback_p.def_cost(cost.free)


# -- the functions users call ------------------------------------------------------------------
def _result_avals(what, result_shape_dtypes):
    leaves, tree = tree_flatten(result_shape_dtypes)
    avals = []
    for leaf in leaves:
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            raise TypeError(f"{what}: result_shape_dtypes must be a pytree of objects with "
                            f"shape and dtype (funcjax.ShapeDtypeStruct), got {leaf!r}")
        avals.append(ShapedArray(leaf.shape, dtypes.canonicalize(leaf.dtype)))
    paths = ["the result" + keystr(p) for p, _ in tree_flatten_with_path(result_shape_dtypes)[0]]
    return avals, tree, paths


def host_call(what, fn, result_shape_dtypes, args, kwargs, *, kind, ordered=False,
              vmap_method=None, convert=np.asarray):
    """Binds ``callback_p`` on the leaves of ``args``; ``fn(*args, **kwargs)`` is called with
    the leaves converted by ``convert`` and must return ``result_shape_dtypes``' structure."""
    if not callable(fn):
        raise TypeError(f"{what}: the callback must be callable, got {type(fn).__name__}")
    leaves, in_tree = tree_flatten((args, kwargs))  # keyword arguments may be traced too
    avals, out_tree, paths = _result_avals(what, result_shape_dtypes)
    name = f"{what}({getattr(fn, '__name__', type(fn).__name__)})"

    def flat(*arrays):
        a, k = tree_unflatten(in_tree, [convert(x) for x in arrays])
        out = fn(*a, **k)
        out_leaves, tree = tree_flatten(out)
        if tree != out_tree:
            raise TypeError(f"{name}: the callback returned a value of structure {tree}, but "
                            f"result_shape_dtypes declares {out_tree}")
        return out_leaves

    for x in leaves:
        aval_of(x)  # a clear error for a non-array argument, before anything is staged
    outs = callback_p.bind(*leaves, callback=HostCallback(flat, name, avals, paths),
                           kind=kind, ordered=bool(ordered), vmap_method=vmap_method)
    return tree_unflatten(out_tree, outs)


def pure_callback(callback, result_shape_dtypes, *args, sharding=None, vmap_method=None,
                  vectorized=None, **kwargs):
    """``callback(*args, **kwargs)`` run on the host with numpy arrays, also from compiled
    code; it must be pure and return ``result_shape_dtypes``' shapes and dtypes."""
    if vectorized is not None:
        if vmap_method is not None:
            raise ValueError("pure_callback: pass vmap_method or the legacy vectorized, not "
                             "both")
        vmap_method = "legacy_vectorized" if vectorized else "sequential"
    if vmap_method is not None and vmap_method not in VMAP_METHODS:
        raise ValueError(f"pure_callback: vmap_method must be one of {list(VMAP_METHODS)} or "
                         f"None, got {vmap_method!r}")
    return host_call("pure_callback", callback, result_shape_dtypes, args, kwargs, kind="pure",
                     vmap_method=vmap_method)


def io_callback(callback, result_shape_dtypes, *args, sharding=None, ordered=False, **kwargs):
    """``callback(*args, **kwargs)`` run on the host for its effects (never dropped; with
    ``ordered=True`` in program order with other ordered effects); returns its results."""
    return host_call("io_callback", callback, result_shape_dtypes, args, kwargs, kind="io",
                     ordered=ordered)
