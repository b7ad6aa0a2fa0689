"""Argument handling shared by funcjax.numpy: conversion, dtype promotion and broadcasting."""

import functools

import numpy as np

from funcjax import lax
from funcjax.config import config
from funcjax.core import dtypes, type_cache
from funcjax.core.abstract import scalar_aval
from funcjax.core.array import Array, wrap_fresh
from funcjax.core.trace import Tracer, constants_compute_now
from funcjax.interpreters.eval import apply_checked, runs_now
from funcjax.interpreters.tape import TapeTracer


def is_array(x):
    return isinstance(x, (Array, Tracer))


def asarray(x, dtype=None, copy=None):
    """An Array or tracer for any array-like; Python scalars stay weakly typed. (``copy`` is
    accepted for numpy's signature: Arrays are immutable, so sharing is never observable.)"""
    if is_array(x):
        return x if dtype is None else lax.convert_element_type(x, dtype)
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        if dtype is None:
            return Array(np.asarray(x, dtypes.python_scalar_dtype(x)), weak_type=not
                         isinstance(x, bool))
        target = dtypes.canonicalize(dtype, "jnp.asarray", warn=True)
        try:
            return Array(np.asarray(x, target))
        except OverflowError:
            raise OverflowError(f"jnp.asarray: Python integer {x} out of bounds for {target}; "
                                "use a wider dtype (int64 needs jax_enable_x64) or a smaller "
                                "value") from None
    if isinstance(x, (list, tuple)) and any(is_array(e) for e in _flat(x)):
        from funcjax.numpy._joining import stack
        return stack([asarray(e) for e in x]) if dtype is None else \
            stack([asarray(e, dtype) for e in x])
    value = np.array(x)
    if value.dtype == object:
        raise TypeError(f"jnp.asarray: cannot convert {x!r:.80} to a funcjax array; pass "
                        "numbers, arrays or (nested) lists of them")
    target = dtypes.canonicalize(dtype if dtype is not None else value.dtype, "jnp.asarray",
                                 warn=dtype is not None)
    if value.dtype.kind in "iu" and target.kind in "iu" and value.size and \
            not isinstance(x, (np.ndarray, np.generic)):
        info = np.iinfo(target)  # Python ints that do not fit: an error, not a wrap (as JAX)
        if value.min() < info.min or value.max() > info.max:
            bad = value.min() if value.min() < info.min else value.max()
            raise OverflowError(f"jnp.asarray: Python integer {bad} out of bounds for {target}; "
                                "use a wider dtype (int64 needs jax_enable_x64) or a smaller "
                                "value")
    return Array(value.astype(target, copy=False))


def _flat(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def _dtype_and_weak(x):
    if type(x) is Array:
        aval = x._aval
        return aval.dtype, aval.weak_type
    if isinstance(x, Tracer):
        return x.dtype, x.weak_type
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        return dtypes.python_scalar_dtype(x), not isinstance(x, bool)
    return dtypes.canonicalize(np.asarray(x).dtype), False


def result_type(*args):
    """JAX's promotion over arrays, dtypes and Python scalars."""
    pairs = []
    for a in args:
        if isinstance(a, (np.dtype, type)) or isinstance(a, str):
            pairs.append((dtypes.canonicalize(a), False))
        else:
            pairs.append(_dtype_and_weak(a))
    return dtypes.result_type(*pairs)[0]


@functools.lru_cache(maxsize=1024)
def _promoted(pairs, inexact, x64):
    """The promoted ``(dtype, weak)``, remembered per input types (``x64`` is in the key
    because canonicalisation depends on it)."""
    dtype, weak = dtypes.result_type(*pairs)
    return (dtypes.to_inexact(dtype), weak) if inexact else (dtype, weak)


def _to_type(x, dtype, weak):
    """``x`` as an array of ``dtype`` and weak type ``weak`` (values already of that type are
    passed through, Python scalars become arrays in one step)."""
    if type(x) is Array or isinstance(x, Tracer):
        aval = x.aval
        if aval.dtype == dtype and aval.weak_type == weak:
            return x
        return lax.convert_element_type(x, dtype, weak)
    if _takes_scalar(dtype, type(x), x, False):
        return wrap_fresh(np.asarray(x, dtype), scalar_aval(dtype, weak))
    return lax.convert_element_type(asarray(x), dtype, weak)


def _promote(inexact, args):
    pairs = tuple(map(_dtype_and_weak, args))
    dtype, weak = _promoted(pairs, inexact, config.jax_enable_x64)
    return [_to_type(a, dtype, weak) for a in args]


def promote_dtypes(*args):
    return _promote(False, args)


def promote_dtypes_inexact(*args):
    return _promote(True, args)


def broadcast_shapes(name, *shapes, error=ValueError):
    shaped = {tuple(s) for s in shapes if len(s)}
    if len(shaped) <= 1:  # equal shapes and scalars (the common case)
        return tuple(shaped.pop()) if shaped else ()
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise error(f"{name}: incompatible shapes for broadcasting: "
                        + ", ".join(str(tuple(s)) for s in shapes)
                        + "; aligned from the right, each dimension must match or be 1 "
                        "(reshape, slice or expand_dims the arguments)")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_to_shape(x, shape):
    x_shape = np.shape(x)
    if x_shape == tuple(shape):
        return x
    if not x_shape:
        return lax.broadcast_in_dim(x, shape, ())
    lead = len(shape) - len(x_shape)
    keep = [i for i, d in enumerate(x_shape) if d == shape[lead + i]]
    if len(keep) != len(x_shape):
        x = lax.reshape(x, [x_shape[i] for i in keep])
    return lax.broadcast_in_dim(x, shape, [lead + i for i in keep])


def broadcast_arrays(name, *args, error=ValueError):
    shapes = [a.shape for a in args]  # promoted: arrays or tracers
    if shapes.count(shapes[0]) == len(shapes):
        return list(args)
    shape = broadcast_shapes(name, *shapes, error=error)
    return [broadcast_to_shape(a, shape) for a in args]


_ARRAYS = (Array, Tracer)
# Values whose ``_aval`` is their type and whose operations run now: eager Arrays, and the
# values eager grad differentiates (their primal is an Array).
_EAGER = frozenset({Array, TapeTracer})


def _one_strong_type(args, inexact):
    """Whether ``args`` are eager values of one strong, canonical type (shape included): then
    promotion and broadcasting would return them unchanged, so they are skipped."""
    if not all(type(x) in _EAGER for x in args):
        return False
    return _one_strong_aval([x._aval for x in args], inexact)


def _one_strong_aval(avals, inexact):
    """Whether ``avals`` are one strong, canonical type (shape included)."""
    aval = avals[0]
    dtype = aval.dtype
    if aval.weak_type or (inexact and dtype.kind != "f") or \
            (dtype.itemsize == 8 and not config.jax_enable_x64):
        return False
    for other in avals[1:]:
        if other is not aval and (other.dtype != dtype or other.shape != aval.shape or
                                  other.weak_type):
            return False
    return True


def _with_eager_scalar(args, inexact):
    """``[array, constant]`` for an array and a Python scalar that adapts to its dtype
    (``x * 2``), the constant filled straight into the array's shape; None where the general
    path must decide. Only where the general path's broadcast of the scalar would run now
    (eager mode, grad, jvp, vmap): staged programs keep their literals."""
    if len(args) != 2:
        return None
    x, v = args
    if not isinstance(x, _ARRAYS):
        v, x = args
        if not isinstance(x, _ARRAYS):
            return None
    if isinstance(v, _ARRAYS) or not constants_compute_now():
        return None
    aval = x.aval
    dtype = aval.dtype
    if aval.weak_type or not _takes_scalar(dtype, type(v), v, inexact):
        return None
    const = _filled(v, aval)
    return [x, const] if args[0] is x else [const, x]


def _filled(v, aval):
    """The Python scalar ``v`` as an Array of the (strong) type ``aval``."""
    if aval.size <= 4096:
        value = np.empty(aval.shape, aval.dtype)
        value.fill(v)
    else:  # numpy reads a broadcast scalar at full speed; filling would double the traffic
        value = np.broadcast_to(np.asarray(v, aval.dtype), aval.shape)
    return wrap_fresh(value, aval)  # promoted: strong, like the Array


def _takes_scalar(dtype, kind, v, inexact):
    """Whether a Python scalar of type ``kind`` adapts to (never promotes) ``dtype`` and
    converts in one exact step, as the general path's two-step conversion would."""
    if dtype.itemsize == 8 and not config.jax_enable_x64:
        return False  # a 64-bit Array made under x64: the general path narrows it
    if dtype.kind == "f":
        if kind is float:
            return dtype == dtypes.default_float()
        return kind is int and dtype.itemsize >= 4 and -2**31 <= v < 2**31
    if inexact or kind is not int or dtype != dtypes.default_int():
        return False
    info = np.iinfo(dtype)
    return info.min <= v <= info.max


# -- checked fast path -------------------------------------------------------------------------
# An elementwise function of arrays of one strong type (and Python scalars that adapt to it)
# binds one primitive on unchanged inputs: which primitive, and its output type, depend only
# on the input types. Once the general path has been checked for those types, later calls
# skip promotion and broadcasting; eager Arrays even run the impl directly
# (``eval.apply_checked``). Calls whose types were never checked, or that raise, take the
# general path.
_checked = {}
_MAX_CHECKED = 4096


def _type_key(x):
    """The type the fast path keys ``x`` on: its aval, or ``int``/``float``; None if neither."""
    t = type(x)
    if t is Array or t is TapeTracer:
        return x._aval
    if t is float or t is int:
        return t
    if isinstance(x, Tracer):
        return x.aval
    return None


def eager_elementwise(fn, prim, args, inexact):
    """``fn(*args)`` for one or two arguments from the cache, or None."""
    if len(args) == 1:
        x = args[0]
        kx = x._aval if type(x) is Array else _type_key(x)
        if kx is None or kx is int or kx is float:
            return None
        key = (fn, kx, config.jax_enable_x64)
        scalar = None
    else:
        x, y = args
        kx = x._aval if type(x) is Array else _type_key(x)
        ky = y._aval if type(y) is Array else _type_key(y)
        if kx is None or ky is None:
            return None
        scalar = 1 if (ky is int or ky is float) else 0 if (kx is int or kx is float) else None
        if scalar is not None and (args[1 - scalar].__class__ in (int, float)):
            return None  # two scalars
        key = (fn, kx, ky, config.jax_enable_x64)
    entry = _checked.get(key)
    if entry is None:
        entry = _check(prim, args, inexact)
        if entry is None:
            return None
        if len(_checked) >= _MAX_CHECKED:
            _checked.clear()
        _checked[key] = entry
    out_aval, aval, bounds = entry
    if scalar is None:
        if all(type(a) is Array for a in args) and runs_now():
            _count(fn, prim, args[0]._aval, out_aval)
            return apply_checked(prim, [a._value for a in args], {}, out_aval)
        return prim.bind(*args)
    # An array and a Python scalar, converted as the general path would.
    v, other = args[scalar], args[1 - scalar]
    if bounds is not None and not bounds[0] <= v <= bounds[1]:
        return None
    if type(other) is Array and runs_now():
        _count(fn, prim, other._aval, out_aval)
        const = np.asarray(v, aval.dtype)
        values = [other._value, const] if scalar else [const, other._value]
        return apply_checked(prim, values, {}, out_aval)
    if constants_compute_now():
        const = _filled(v, aval)
    else:  # staged: a literal broadcast, as the general path writes it
        const = wrap_fresh(np.asarray(v, aval.dtype), scalar_aval(aval.dtype, False))
        if aval.shape:
            const = lax.broadcast_in_dim(const, aval.shape, ())
    return prim.bind(*([other, const] if scalar else [const, other]))


# -- native entries ----------------------------------------------------------------------------
# A function that has run its checked eager path ``NATIVE_AFTER`` times for a dtype gets a
# native entry for it (``backend/llvm/eager_entry.py``): the public function is a thin
# wrapper that calls the entry when there is one, and the entry calls the general function
# for anything it does not take. Short scripts never load llvmlite for it.
NATIVE_AFTER = 32
_hits = {}
_native_slots = {}  # general function -> ([native entry or None], number of arguments)
native_enabled = [True]  # tests turn it off to compare with the Python path


def with_native_entry(general, prim, nin):
    """The public function for the elementwise ``general`` binding ``prim`` on ``nin``
    arguments: ``general`` until a native entry exists."""
    slot = [None]
    if prim is None or (type(prim.impl) is not np.ufunc and
                        getattr(prim.impl, "float_ufunc", None) is None):
        return general
    _native_slots[general] = slot, nin
    if nin == 1:
        def fn(x, /):
            native = slot[0]
            return general(x) if native is None else native(x)
    else:
        def fn(x1, x2, /):
            native = slot[0]
            return general(x1, x2) if native is None else native(x1, x2)
    fn.__name__ = fn.__qualname__ = general.__name__
    fn.__doc__, fn.__module__, fn.__wrapped__ = general.__doc__, general.__module__, general
    return fn


def ufunc_of(prim, dtype):
    """The numpy ufunc that ``prim``'s impl applies to arrays of ``dtype`` (which broadcasts a
    0-d scalar as numpy does), or None: the impl itself, or the ``float_ufunc`` it runs on
    floats."""
    impl = prim.impl
    if type(impl) is np.ufunc:
        return impl
    return getattr(impl, "float_ufunc", None) if dtype.kind == "f" else None


def _count(fn, prim, aval, out_aval, reduce=False, axis=None):
    """Counts a checked eager call of ``fn`` on an operand of type ``aval`` (the operand's
    own aval object; for a reduction, over ``axis``); the ``NATIVE_AFTER``-th builds or
    extends its native entry. An entry whose result has another type than its operand
    (``x > 0``, ``sum(x)``) learns the result type of each operand type reaching this path."""
    if not native_enabled[0]:
        return
    key = (fn, aval.dtype, type(axis), axis)
    n = _hits.get(key, 0) + 1
    _hits[key] = n
    if n < NATIVE_AFTER or fn not in _native_slots or out_aval.weak_type or \
            (not reduce and out_aval.shape != aval.shape):
        return  # (an elementwise entry gives its operand's shape)
    slot, nin = _native_slots[fn]
    changes_type = reduce or out_aval.dtype != aval.dtype
    if n > NATIVE_AFTER:
        if slot[0] is not None and changes_type:
            _natives_of(fn).remember(aval, out_aval, axis)
        return
    from funcjax.backend.llvm import eager_entry  # the backend loads for hot code only
    if reduce:
        if config.jax_enable_x64:  # (the entry is taken without x64 only)
            _hits[key] = NATIVE_AFTER - 1
            return
        native = eager_entry.reduction_native_for(fn.__name__, fn, _reduction_ufuncs[fn])
        enabled = native is not None and native.enable(
            aval.dtype, static=axis, reference=lambda v: prim.impl(v, axes=(0,)))
    else:
        ufunc = ufunc_of(prim, aval.dtype)
        if ufunc is None:
            return
        native = eager_entry.native_for(fn.__name__, fn, ufunc, nin)
        enabled = native is not None and native.ufunc is ufunc and \
            native.enable(aval.dtype, out_aval.dtype)
    if enabled:
        if changes_type:
            native.remember(aval, out_aval, axis)
        slot[0] = native.function


def with_native_slot(general, nin):
    """The public function for ``general``: ``general`` until a native entry exists, then
    that entry, which passes anything it does not take (keywords included) to ``general``."""
    slot = [None]
    _native_slots[general] = slot, nin

    @functools.wraps(general)
    def fn(*args, **kwargs):
        native = slot[0]
        return general(*args, **kwargs) if native is None else native(*args, **kwargs)
    return fn


def with_native_reduction(general, ufunc):
    """``with_native_slot`` for the reduction ``general(a, axis=None, ...)``, whose entry
    reduces all elements of a small eager Array in its own strong dtype with ``ufunc``."""
    _reduction_ufuncs[general] = ufunc
    return with_native_slot(general, 1)


_reduction_ufuncs = {}


def select_native(general, run, args, arrays, out):
    """The ``eager_program`` hook of ``where`` (``general``, made by ``with_native_slot``):
    ``where(c, x, y)`` of a strong bool Array ``c`` and ``x``, ``y`` of one strong type (or
    ``y`` a Python scalar that adapts) whose checked program (``run``, which gave ``out``)
    gives ``x``'s type, replayed ``NATIVE_AFTER`` times for a dtype, gets a native entry (a
    generated select loop), if it gives the program's own bits on probe values."""
    if len(args) != 3 or not native_enabled[0] or config.jax_enable_x64:
        return
    c, x, y = args
    if type(c) is not Array or type(x) is not Array:
        return
    aval, c_aval = x._aval, c._aval
    scalar = type(y) in (int, float)
    if out._aval != aval or any(out is a for a in arrays) or aval.weak_type or c_aval.weak_type or \
            c_aval.dtype != dtypes.bool_ or c_aval.shape != aval.shape or not aval.size or \
            not (type(y) is Array and y._aval == aval or
                 scalar and _takes_scalar(aval.dtype, type(y), y, False)):
        return
    key = (general, aval.dtype)
    n = _hits.get(key, 0) + 1
    _hits[key] = n
    if n != NATIVE_AFTER:
        return
    from funcjax.backend.llvm import eager_entry  # the backend loads for hot code only
    loop = eager_entry.generated_loop("select", (c_aval.dtype, aval.dtype, aval.dtype),
                                      aval.dtype)
    native = eager_entry.select_native_for(general) if loop is not None else None
    if native is None:
        _hits[key] = 0
        return

    def operands_of(chunk):
        which = (np.arange(chunk.size) % 3 == 1).reshape(chunk.shape)
        other = np.full(chunk.shape, y, aval.dtype) if scalar else np.roll(chunk, 3)
        return [which, chunk, other]

    def reference(which, chosen, other):
        inputs = [Array(which), Array(chosen)] + ([] if scalar else [Array(other)])
        return run(inputs)._value
    if native.enable(aval.dtype, loop=loop, reference=reference, shape=aval.shape,
                     operands_of=operands_of):
        _native_slots[general][0][0] = native.function
    else:
        _hits[key] = 0


def _natives_of(fn):
    from funcjax.backend.llvm import eager_entry
    return eager_entry._natives[fn]


def static_native(attr, loop_for):
    """A hook for ``_programs.eager_program`` giving ``x.attr(static)`` (``x ** 2``,
    ``x.astype(jnp.int32)``: one Array and a static argument) a native entry once the
    function's checked program for these types has run ``NATIVE_AFTER`` times.
    ``loop_for(eager_entry, dtype, out_dtype, static)`` is the inner loop to run, or None; it
    is taken only if it gives the program's own bits on probe values. Without x64 only (a
    static dtype can mean another under x64)."""
    hits = {}

    def hook(run, args, arrays, out):
        if len(args) != 2 or len(arrays) != 1 or args[0] is not arrays[0] or \
                out is arrays[0] or not native_enabled[0]:
            return  # (a program returning its input unchanged keeps doing so)
        x, static = args
        aval, out_aval = x._aval, out._aval
        if aval.weak_type or out_aval.weak_type or out_aval.shape != aval.shape or \
                not aval.size:
            return
        native = _static_natives.get(attr)
        if native is not None and native.knows(aval.dtype, static):
            if out_aval.dtype != aval.dtype:
                native.remember(aval, out_aval, static)
            return
        if config.jax_enable_x64:
            return
        key = (aval.dtype, type(static), static)
        n = hits.get(key, 0) + 1
        hits[key] = n
        if n != NATIVE_AFTER:
            return  # (after a refusal, never again)
        from funcjax.backend.llvm import eager_entry  # the backend loads for hot code only
        loop = loop_for(eager_entry, aval.dtype, out_aval.dtype, static)
        native = eager_entry.static_native_for(attr) if loop is not None else None
        if native is None:
            return
        _static_natives[attr] = native

        def reference(value):
            return run([Array(value)])._value
        if native.enable(aval.dtype, out_aval.dtype, static, loop, reference, aval.shape):
            if out_aval.dtype != aval.dtype:
                native.remember(aval, out_aval, static)
        else:
            hits[key] = 0  # (another shape checks again, as the first did)
    return hook


_static_natives = {}


def _check(prim, args, inexact):
    """``(out_aval, in_aval, scalar bounds)`` if the general path binds ``prim`` on these arguments
    unchanged (a Python scalar standing for a full array of the other's type), else None."""
    arrays = [a for a in args if type(a) not in (int, float)]
    avals = [_type_key(a) for a in arrays]
    if not _one_strong_aval(avals, inexact) or avals[0].dtype == dtypes.bool_:
        return None
    aval = avals[0]
    bounds = None
    if len(arrays) < len(args):
        v = args[1] if type(args[1]) in (int, float) else args[0]
        if ufunc_of(prim, aval.dtype) is None or not _takes_scalar(aval.dtype, type(v), v,
                                                                   inexact):
            return None  # (an impl that is a ufunc broadcasts a 0-d scalar as numpy does)
        if type(v) is int:
            info = np.iinfo(aval.dtype) if aval.dtype.kind in "iu" else None
            bounds = (-2**31, 2**31 - 1) if info is None else (int(info.min), int(info.max))
    try:
        out_aval = type_cache.abstract_eval(prim, [aval] * len(args), {})
    except Exception:  # noqa: BLE001 - the general path raises it, with its own message
        return None
    return out_aval, aval, bounds


def eager_reduction(fn, prim, a, axis, dtype_of):
    """``fn(a, axis)`` (a reduction ``prim`` over ``axis``, without dtype, keepdims, initial or
    where) for an eager Array from the cache, or None. ``dtype_of(dtype)`` is the dtype the
    general path reduces in; only reductions in ``a``'s own, strong dtype are cached. Tracers
    bind ``prim`` directly."""
    aval = a._aval if type(a) is Array else _type_key(a)
    if aval is None or aval is int or aval is float:
        return None
    try:
        key = (fn, aval, type(axis), axis, config.jax_enable_x64)
        entry = _checked.get(key)
    except TypeError:  # an unhashable axis (a list)
        return None
    if entry is None:
        if aval.weak_type or dtype_of(aval.dtype) != aval.dtype or \
                (aval.dtype.itemsize == 8 and not config.jax_enable_x64):
            return None
        try:
            axes = canonical_axes(fn.__name__, axis, aval.ndim)
            if not axes or 0 in [aval.shape[i] for i in axes]:
                return None
            entry = axes, type_cache.abstract_eval(prim, [aval], {"axes": axes})
        except Exception:  # noqa: BLE001 - the general path raises it, with its own message
            return None
        if len(_checked) >= _MAX_CHECKED:
            _checked.clear()
        _checked[key] = entry
    if type(a) is Array and runs_now():
        if (axis is None or type(axis) is int) and fn in _reduction_ufuncs:
            _count(fn, prim, a._aval, entry[1], reduce=True, axis=axis)
        return apply_checked(prim, [a._value], {"axes": entry[0]}, entry[1])
    return prim.bind(a, axes=entry[0])


def promote_args(name, *args):
    if _one_strong_type(args, False):
        return args
    fast = _with_eager_scalar(args, False)
    if fast is not None:
        return fast
    return broadcast_arrays(name, *promote_dtypes(*args), error=TypeError)


def promote_args_inexact(name, *args):
    if _one_strong_type(args, True):
        return args
    fast = _with_eager_scalar(args, True)
    if fast is not None:
        return fast
    return broadcast_arrays(name, *promote_dtypes_inexact(*args), error=TypeError)


def canonical_axis(name, axis, ndim):
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of bounds for an array of rank {ndim}; "
                         f"use an axis in [{-ndim}, {max(ndim, 1)})")
    return axis % max(ndim, 1)


def canonical_axes(name, axis, ndim):
    """None -> all axes; int or sequence -> sorted non-negative tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = tuple(sorted(canonical_axis(name, int(a), ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return out


def check_no_out(name, out):
    """``out=None`` is accepted as in numpy and JAX; an output buffer is not (immutable)."""
    if out is not None:
        raise NotImplementedError(f"jnp.{name}: the 'out' argument is not supported because "
                                  "funcjax arrays are immutable; use the returned array")
