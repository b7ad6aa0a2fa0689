"""``pmap``: trace the per-device function once per signature, compile it once, run it on N
virtual devices in parallel threads (``backend/llvm/spmd_program.py``), and return sharded
arrays. Under another transformation it binds ``pmap_p``, whose rules compose."""

import functools
import threading

import numpy as np

from funcjax import devices as _devices
from funcjax.api_util import check_callable, fun_name, shaped_abstractify
from funcjax.api_vmap import check_axes_spec, flat_in_axes, mapped_size
from funcjax.core import dtypes, processes
from funcjax.core.array import Array, to_numpy
from funcjax.core.ir import ClosedJaxpr, Jaxpr
from funcjax.core.placement import CommittedArray, ShardedArray
from funcjax.core.pytree import broadcast_prefix, tree_flatten, tree_unflatten
from funcjax.core.trace import Tracer, current_trace
from funcjax.interpreters.batching import AxisData, move_batch_axis, not_mapped
from funcjax.interpreters.eval import EvalTrace
from funcjax.interpreters.spmd import trace_per_device
from funcjax.ops.pmap import pmap_p


def pmap(fun, axis_name=None, *, in_axes=0, out_axes=0, static_broadcasted_argnums=(),
         devices=None, backend=None, axis_size=None, donate_argnums=(),
         global_arg_shapes=None):
    """Runs ``fun`` on N devices at once, device k on slice k of the mapped axis of each
    argument; collectives (``lax.psum(x, axis_name)``, ...) combine values across devices.

    As ``vmap`` but parallel: the per-device program is compiled once and the devices run it
    in OS threads. N must not exceed ``funcjax.device_count()`` (set
    ``FUNCJAX_NUM_CPU_DEVICES`` for more virtual devices). ``static_broadcasted_argnums``
    name hashable arguments passed by value to every device. ``donate_argnums``: as in JAX,
    the donated arguments' arrays are deleted by the call, and outputs of the same per-device
    shape and dtype are written into their buffers (when no one else can see that memory;
    otherwise into a copy), so a step like ``params = step(params, x)`` allocates nothing.

    Inside ``jit`` a pmap still runs on its devices. A pmap nested in another pmap has no
    devices left and computes as the equivalent ``vmap`` (JAX 0.10.2 refuses nested pmaps
    with a mesh-mismatch error; older JAX gave them this meaning).
    """
    check_callable(fun)
    name = fun_name(fun)
    if backend not in (None, "cpu"):
        raise ValueError(f"pmap({name}): funcjax has only the 'cpu' backend, not {backend!r}")
    in_axes = _renamed(check_axes_spec, name, "in_axes", in_axes)
    _renamed(check_axes_spec, name, "out_axes", out_axes)
    statics = (static_broadcasted_argnums,) if isinstance(static_broadcasted_argnums, int) \
        else tuple(static_broadcasted_argnums)
    donate = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    both = sorted(set(donate) & set(statics))
    if both:
        raise ValueError(f"pmap({name}): arguments {both} are both static and donated; remove "
                         "them from donate_argnums")
    return PmapFunction(fun, name, axis_name, in_axes, out_axes, statics,
                        None if devices is None else tuple(devices), axis_size, donate)


def _renamed(fn, *args):
    """``fn(*args)`` with vmap's argument checks reported as pmap's."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as e:
        raise type(e)(str(e).replace("vmap(", "pmap(")) from None


class _Entry:
    """One traced signature: the per-device jaxpr, the params pmap_p is bound with, and the
    compiled program once an eager call needed it."""

    __slots__ = ("closed", "consts", "out_tree", "out_axes", "moves_outputs", "params",
                 "program", "mapped", "donated", "deleted")

    def __init__(self, closed, consts, out_tree, out_axes):
        self.closed, self.consts, self.out_tree, self.out_axes = closed, consts, out_tree, \
            out_axes
        self.moves_outputs = any(a not in (None, 0) for a in out_axes)
        self.params = self.program = self.mapped = None
        self.donated = ()  # flat input indices of the donated, mapped leaves
        self.deleted = ()  # positions among the argument leaves of every donated leaf


class PmapFunction:
    """What ``pmap(f)`` returns: call it, or inspect its cache with ``cache_info()``."""

    def __init__(self, fun, name, axis_name, in_axes, out_axes, statics, devices, axis_size,
                 donate=()):
        functools.update_wrapper(self, fun)
        self._fun, self._name, self._axis_name = fun, name, axis_name
        self._in_axes, self._out_axes, self._statics = in_axes, out_axes, statics
        self._devices, self._axis_size, self._donate = devices, axis_size, donate
        self._cache = {}
        self._donated_why = f"it was donated to pmap({name})"
        self._counts = {"hits": 0, "misses": 0, "traces": 0}
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<pmap-compiled function {self._name}>"

    def cache_info(self):
        from funcjax.api_jit import CacheInfo
        c = self._counts
        compiles = sum(e.program is not None for e in self._cache.values())
        return CacheInfo(c["hits"], c["misses"], c["traces"], compiles, len(self._cache))

    def clear_cache(self):
        self._cache.clear()

    def _split_static(self, args):
        nargs = len(args)
        static = sorted({s % nargs for s in self._statics if -nargs <= s < nargs})
        bad = [s for s in self._statics if not -nargs <= s < nargs]
        if bad:
            raise ValueError(f"pmap({self._name}): static_broadcasted_argnums={self._statics} "
                             f"but the function was called with {nargs} positional arguments")
        for s in static:
            try:
                hash(args[s])
            except TypeError:
                raise ValueError(f"pmap({self._name}): static argument {s} has unhashable type "
                                 f"{type(args[s]).__name__}; pass a tuple or a hashable "
                                 "value") from None
        return static, [a for i, a in enumerate(args) if i not in static], tuple(
            (i, args[i]) for i in static)

    def _device_list(self, size):
        """The devices of a mapped axis of ``size`` (checked once per traced signature)."""
        available = _devices.local_devices()
        if self._devices is not None:
            if len(self._devices) != size:
                raise ValueError(
                    f"pmap({self._name}): devices={list(self._devices)} has "
                    f"{len(self._devices)} devices but the mapped axis has size {size}; give "
                    "one device per slice of the mapped axis")
            return self._devices
        if size > len(available):
            raise ValueError(
                f"pmap({self._name}): the mapped axis has size {size}, but there are only "
                f"{len(available)} devices ({available}). Map over at most {len(available)} "
                "slices (reshape the leading axis to (devices, -1)), or get more virtual "
                f"devices by setting FUNCJAX_NUM_CPU_DEVICES={size} (or "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={size}) before funcjax "
                "creates its devices.")
        return tuple(available[:size])

    def __call__(self, *args, **kwargs):
        static_pos, dyn_args, statics = self._split_static(args) if self._statics else (
            (), args, ())
        if not kwargs and all(type(a) in _ARRAY_TYPES for a in dyn_args):
            leaves, in_tree = dyn_args, len(dyn_args)  # arrays only: no pytree to flatten
        else:
            leaves, in_tree = tree_flatten((tuple(dyn_args), kwargs))
        in_axes = self._in_axes
        if static_pos and isinstance(in_axes, tuple) and len(in_axes) == len(args):
            in_axes = tuple(a for i, a in enumerate(in_axes) if i not in static_pos)
        dims, size = _fast_in_axes(in_axes, leaves, kwargs, self._axis_size)
        names = None
        if dims is None:  # the general path, with its errors naming the arguments
            dims, names = _renamed(flat_in_axes, self._fun, in_axes, tuple(dyn_args), kwargs)
            size = _renamed(mapped_size, self._name, leaves, names, dims, self._axis_size)
        avals = tuple(x._aval if type(x) in _FUNCJAX_ARRAYS else shaped_abstractify(x)
                      for x in leaves)
        key = (in_tree, avals, tuple(dims), statics, dtypes.x64_enabled(),
               processes.state.count)
        entry = self._cache.get(key)
        with self._lock:
            self._counts["hits" if entry is not None else "misses"] += 1
        if entry is None:
            in_avals = [a if d is not_mapped else a.update(shape=a.shape[:d] + a.shape[d + 1:])
                        for a, d in zip(avals, dims)]
            if type(in_tree) is int:
                in_tree = tree_flatten(((None,) * in_tree, {}), is_leaf=lambda x: x is None)[1]
            entry = self._trace(args, static_pos, in_tree, in_avals, size, names, key)
            entry.params = dict(
                jaxpr=entry.closed, axis_name=self._axis_name, axis_size=size,
                in_axes=(None,) * len(entry.consts) + tuple(
                    None if d is not_mapped else 0 for d in dims),
                out_axes=tuple(0 if a is not None else None for a in entry.out_axes),
                name=self._name, devices=self._device_list(size))
            if self._donate:
                entry.deleted = self._donated_leaves(args, static_pos)
                entry.donated = tuple(len(entry.consts) + j for j in entry.deleted
                                      if dims[j] is not not_mapped)
        moved = [x if d is not_mapped or d == 0 else _move_to_front(x, d, size)
                 for x, d in zip(leaves, dims)]
        flat = entry.consts + moved
        if isinstance(current_trace(), EvalTrace) and not any(
                isinstance(x, Tracer) for x in flat):
            outs = self._run(entry, flat, leaves)
        else:
            outs = pmap_p.bind(*flat, **entry.params)
        if entry.moves_outputs:
            outs = [o if a in (None, 0) else move_batch_axis(o, 0, a, size)
                    for o, a in zip(outs, entry.out_axes)]
        return tree_unflatten(entry.out_tree, outs)

    def _donated_leaves(self, args, static_pos):
        """The positions among the flat argument leaves of the donated arguments' leaves
        (the mapped ones are the buffers the program may write its outputs into)."""
        nargs = len(args)
        donate = {i % nargs for i in self._donate if -nargs <= i < nargs}
        flat, k = [], 0
        for i, a in enumerate(args):
            if i in static_pos:
                continue
            n = len(tree_flatten(a)[0])
            if i in donate:
                flat += range(k, k + n)
            k += n
        return tuple(flat)

    def _run(self, entry, flat, leaves):
        params = entry.params
        if entry.program is None:
            from funcjax.backend.llvm.spmd_program import spmd_program_for
            entry.program = spmd_program_for(entry.closed, self._name, self._axis_name,
                                              params["axis_size"], processes.multi_process(),
                                              entry.donated)
            entry.mapped = [a is not None for a in params["in_axes"]]
        arrays = [_buffer(x, a.dtype) for x, a in zip(flat, entry.closed.in_avals)]
        for k in entry.deleted:  # as in JAX, a donated argument's arrays are deleted
            if isinstance(leaves[k], Array):
                leaves[k]._delete(self._donated_why)
        outs = entry.program.run(arrays, entry.mapped, flat)
        devices = params["devices"]
        return [ShardedArray(o, aval.weak_type, devices) if a is not None else
                Array(o[0], aval.weak_type)
                for o, a, aval in zip(outs, params["out_axes"], entry.closed.out_avals)]

    def _trace(self, args, static_pos, in_tree, in_avals, size, names, key):
        fun, nargs = self._fun, len(args)
        if names is None:
            dyn = tuple(a for i, a in enumerate(args) if i not in static_pos)
            _, names = flat_in_axes(fun, 0, dyn, in_tree.unflatten(in_avals)[1])
        statics = {i: args[i] for i in static_pos}
        out_trees = []

        def flat_fun(*flat):
            dyn, kw = tree_unflatten(in_tree, flat)
            dyn = iter(dyn)
            full = [statics[i] if i in statics else next(dyn) for i in range(nargs)]
            out_leaves, out_tree = tree_flatten(fun(*full, **kw))
            out_trees.append(out_tree)
            return out_leaves

        closed = trace_per_device(flat_fun, in_avals,
                                  AxisData(self._axis_name, _global_size(self._name, size)),
                                  f"pmap({self._name})", names)
        with self._lock:
            self._counts["traces"] += 1
        jaxpr = closed.jaxpr
        converted = ClosedJaxpr(Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.eqns,
                                      jaxpr.outvars), [])
        out_tree = out_trees[0]
        entry = _Entry(converted, list(closed.consts), out_tree,
                       self._flat_out_axes(out_tree, closed.out_avals))
        if not any(isinstance(c, Tracer) for c in closed.consts):
            self._cache[key] = entry
        return entry

    def _flat_out_axes(self, out_tree, out_avals):
        try:
            axes = broadcast_prefix(self._out_axes, out_tree.unflatten([0] * len(out_avals)),
                                    f"pmap({self._name})", "out_axes")
        except ValueError as e:
            raise ValueError(f"{e}. out_axes must be an int, None, or a tree prefix of the "
                             f"function's output, whose structure is {out_tree}.") from None
        flat = []
        for axis, aval in zip(axes, out_avals):
            if axis is None:
                flat.append(None)
                continue
            rank = aval.ndim + 1
            if not -rank <= axis < rank:
                raise ValueError(f"pmap({self._name}): out_axes={axis} for an output of "
                                 f"per-device shape {aval.shape} (rank {rank} once mapped); "
                                 f"use an axis in [{-rank}, {rank})")
            flat.append(axis % rank)
        return flat


def _global_size(name, size):
    """The mapped axis spans every process's devices: each passes its local device count."""
    if not processes.multi_process():
        return size
    local = _devices.local_device_count()
    if size != local:
        raise ValueError(f"pmap({name}): in a multi-process run each process maps over its "
                         f"{local} local devices, but the mapped axis has size {size}; "
                         f"reshape this process's data to ({local}, ...)")
    return sum(processes.state.local_counts)


_FUNCJAX_ARRAYS = {Array, ShardedArray, CommittedArray}
_ARRAY_TYPES = _FUNCJAX_ARRAYS | {np.ndarray}


def _buffer(x, dtype):
    """``x``'s C-contiguous numpy buffer of ``dtype`` (no copy when it already is one)."""
    value = x._value if type(x) in _FUNCJAX_ARRAYS else to_numpy(x)
    if value.dtype == dtype and value.flags.c_contiguous:
        return value
    return np.ascontiguousarray(value, dtype)


def _fast_in_axes(in_axes, leaves, kwargs, axis_size):
    """``(dims, size)`` for the common call (an int ``in_axes``, no keyword arguments, array
    leaves of one mapped size); ``(None, None)`` sends other calls down the general path."""
    if type(in_axes) is not int or kwargs or not leaves:
        return None, None
    dims, size = [], axis_size
    for x in leaves:
        shape = getattr(x, "shape", None)
        if shape is None or not -len(shape) <= in_axes < len(shape):
            return None, None
        d = in_axes % len(shape)
        if size is None:
            size = shape[d]
        elif shape[d] != size:
            return None, None
        dims.append(d)
    return dims, size


def _move_to_front(x, d, size):
    if isinstance(x, Tracer):
        return move_batch_axis(x, d, 0, size)
    return np.moveaxis(np.asarray(x), d, 0)

