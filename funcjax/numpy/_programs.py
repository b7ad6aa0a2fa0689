"""Eager calls of shape, indexing and contraction functions replayed from their checked programs.

``x.reshape(2, 4)``, ``x[0]``, ``x.T``, ``x @ y``, ``jnp.where`` ... spend most of their eager
time on argument handling (canonical shapes, index analysis, promotion) and on one type rule
per primitive they bind, not on numpy. All of that depends only on the types of the array
arguments and the values of the static ones. So the second eager call with the same key
(every Array's type, every other argument's type and value, the x64 flag) traces the general
function once to the primitives it binds; later calls with that key run those primitives'
impls directly on numpy values, in the quiet numpy context and with the result wrapping of
eager binding (``eval.run_quiet``, ``eval.as_value``), without re-running type rules.

Checks are not lost: a program is kept only if tracing raised nothing, warned nothing, and
gave one array made by equations with plain parameters and no effects; otherwise the key is
remembered as refused and the general function runs (and raises or warns) every time. Only
exact ``Array`` arguments with live buffers are keyed, and only when primitives run now
(``eval.runs_now``: no transformation, no open ``default_device`` block; arguments are
exactly ``Array``, never committed or sharded ones) and ``jax_debug_nans`` is off;
tracers, numpy arrays, lists and other values always take the general path.
"""

import functools
import warnings

import numpy as np

from funcjax.config import config
from funcjax.core import type_cache
from funcjax.core.array import Array, to_numpy, wrap_fresh
from funcjax.core.ir import Literal, has_effects
from funcjax.interpreters.eval import as_value, run_quiet, runs_now
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.ops import conversion, shape

BUILD_AFTER = 2  # a one-off call never pays for tracing
_MAX_ENTRIES = 4096
_programs = {}  # key -> Program, a count of calls so far, or _REFUSED
_REFUSED = object()
enabled = [True]  # tests turn it off to compare with the general path


class _UnkeyedError(Exception):
    pass


_SCALARS = frozenset({int, bool, str, type(None), type(Ellipsis)})


def _key(a, arrays):
    """``a``'s part of the cache key; exact Arrays are appended to ``arrays`` and keyed by
    type. Raises ``_UnkeyedError`` for anything else than Arrays, plain scalars, slices, tuples,
    dtypes and scalar types."""
    t = type(a)
    if t is Array:
        if type(a._value) is not np.ndarray:  # deleted: the general path raises
            raise _UnkeyedError
        arrays.append(a)
        return a._aval
    if t in _SCALARS:
        return t, a
    if t is float:
        return t, a.hex()  # exact: 0.0 and -0.0 differ, nan equals nan
    if t is tuple:
        types = tuple(map(type, a))
        if _SCALARS.issuperset(types):  # a shape, axes, an index of ints
            return types, a
        return t, tuple([_key(e, arrays) for e in a])
    if t is slice:
        return t, _key(a.start, arrays), _key(a.stop, arrays), _key(a.step, arrays)
    if isinstance(a, (type, np.dtype)):
        return t, a
    raise _UnkeyedError


def _substitute(a, inputs):
    """``a`` with each exact Array replaced by the next of ``inputs`` (as ``_key`` met them)."""
    t = type(a)
    if t is Array:
        return next(inputs)
    if t is tuple:
        return tuple([_substitute(e, inputs) for e in a])
    if t is slice:
        return slice(_substitute(a.start, inputs), _substitute(a.stop, inputs),
                     _substitute(a.step, inputs))
    return a


_RELABELS = frozenset({shape.reshape_p, shape.squeeze_p, shape.expand_dims_p})
# Primitives that only move elements: they raise no floating-point warnings, so programs made
# of them run without entering the quiet numpy context.
_MOVES = _RELABELS | {shape.transpose_p, shape.slice_p, shape.rev_p, shape.broadcast_in_dim_p,
                      conversion.select_n_p}


def _step(eqn, slots):
    """One equation as a function appending its results to the list of values."""
    prim, params = eqn.primitive, eqn.params
    avals = [v.aval for v in eqn.outputs]
    if prim in _RELABELS:  # the same C-order elements in the known shape
        (i,), out_shape = slots, avals[0].shape
        return lambda values: values.append(values[i].reshape(out_shape))
    impl = prim.impl
    if prim.multiple_results:
        return lambda values: values.extend(
            map(as_value, impl(*[values[i] for i in slots], **params), avals))
    aval = avals[0]
    if len(slots) == 1:
        (i,) = slots
        return lambda values: values.append(as_value(impl(values[i], **params), aval))
    return lambda values: values.append(
        as_value(impl(*[values[i] for i in slots], **params), aval))


def _frozen(value):
    """``value`` as eager binding reads it (``to_numpy``), read-only (a view: whoever owns
    the buffer keeps their flags)."""
    value = to_numpy(value)
    if value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


class Program:
    """The equations of one traced call, as functions of a list of numpy values: the inputs,
    then fixed values (constants, literals, and the results of equations of fixed values,
    computed once here), then each remaining equation's results."""

    __slots__ = ("steps", "fixed", "out", "aval", "quiet")

    def __init__(self, closed, n_inputs):
        jaxpr = closed.jaxpr
        fixed = dict(zip(jaxpr.constvars, map(_frozen, closed.consts)))
        plan = []
        for eqn in jaxpr.eqns:
            for atom in eqn.inputs:
                if type(atom) is Literal:
                    fixed[atom] = _frozen(atom.val)
            if all(atom in fixed for atom in eqn.inputs):  # the same values on every call
                outs = run_quiet(eqn.primitive.impl, *[fixed[a] for a in eqn.inputs],
                                 **eqn.params)
                outs = outs if eqn.primitive.multiple_results else [outs]
                for var, out in zip(eqn.outputs, outs):
                    fixed[var] = _frozen(as_value(out, var.aval))
            else:
                plan.append(eqn)
        (out,) = jaxpr.outvars
        if out in fixed:
            raise ValueError("a constant result")  # refused: each call must get its own
        # A reshape of a reshape reads the first one's input (the same C-order elements);
        # equations whose results nothing reads then drop out.
        reads, source = {}, {}
        for eqn in plan:
            reads[eqn] = eqn.inputs
            if eqn.primitive in _RELABELS:
                reads[eqn] = [source.get(eqn.inputs[0], eqn.inputs[0])]
                source[eqn.outputs[0]] = reads[eqn][0]
        needed = {out}
        for eqn in reversed(plan):
            if needed.intersection(eqn.outputs):
                needed.update(reads[eqn])
        plan = [eqn for eqn in plan if needed.intersection(eqn.outputs)]
        slot = {v: i for i, v in enumerate(jaxpr.invars)}
        slot.update((atom, n_inputs + i) for i, atom in enumerate(fixed))
        self.fixed = list(fixed.values())
        for var in (v for eqn in plan for v in eqn.outputs):
            slot[var] = len(slot)
        self.steps = [_step(eqn, [slot[a] for a in reads[eqn]]) for eqn in plan]
        self.quiet = any(eqn.primitive not in _MOVES for eqn in plan)
        self.out, self.aval = slot[out], out.aval

    def _run(self, values):
        for step in self.steps:
            step(values)
        return values[self.out]

    def __call__(self, arrays):
        if self.out < len(arrays):  # the function returned an argument unchanged
            return arrays[self.out]
        values = [a._value for a in arrays]
        values += self.fixed
        out = run_quiet(self._run, values) if self.quiet else self._run(values)
        return wrap_fresh(out, self.aval)


def _build(general, args, kwargs, arrays):
    """The Program of ``general(*args, **kwargs)`` for these types, or ``_REFUSED``."""
    def flat(*tracers):
        inputs = iter(tracers)
        return [general(*_substitute(args, inputs),
                        **{k: _substitute(v, inputs) for k, v in kwargs.items()})]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            closed = trace_to_jaxpr(flat, [a._aval for a in arrays], "eager program")
    except Exception:  # noqa: BLE001 - the general path raises it again, with its message
        return _REFUSED
    jaxpr = closed.jaxpr
    if caught or len(jaxpr.outvars) != 1 or type(jaxpr.outvars[0]) is Literal or \
            jaxpr.outvars[0] in jaxpr.constvars:
        return _REFUSED
    for eqn in jaxpr.eqns:
        if eqn.primitive.impl is None or has_effects(eqn) or type_cache.key(
                eqn.primitive, [a.aval for a in eqn.inputs], eqn.params) is None:
            return _REFUSED
    try:
        return Program(closed, len(arrays))
    except Exception:  # noqa: BLE001 - e.g. a constant result; the general path runs
        return _REFUSED


def eager_program(general=None, *, native=None):
    """``general`` (a function of arrays and static arguments returning one array) with its
    eager calls replayed from their checked programs. ``native(run, args, arrays, out)`` is
    told of each replay (``_util.static_native``; ``@eager_program(native=...)``): ``run``
    runs the program on a list of Arrays of the types of ``arrays``; ``out`` is its result."""
    if general is None:
        return lambda general: eager_program(general, native=native)
    @functools.wraps(general)
    def fn(*args, **kwargs):
        if not runs_now() or config.jax_debug_nans or not enabled[0]:
            return general(*args, **kwargs)
        arrays = []
        key = [general, config.jax_enable_x64]
        try:
            for a in args:  # (``_key``, with the common cases inline)
                t = type(a)
                if t is Array and type(a._value) is np.ndarray:
                    arrays.append(a)
                    key.append(a._aval)
                elif t in _SCALARS:
                    key.append((t, a))
                else:
                    key.append(_key(a, arrays))
            for name, a in kwargs.items():
                t = type(a)
                key.append((name, t, a) if t in _SCALARS else (name, _key(a, arrays)))
            key = tuple(key)
            entry = _programs.get(key, 0)
        except (_UnkeyedError, TypeError):  # TypeError: an unhashable value
            return general(*args, **kwargs)
        if type(entry) is Program:
            out = entry(arrays)
            if native is not None:
                native(entry, args, arrays, out)
            return out
        if entry is not _REFUSED and arrays:
            if entry + 1 < BUILD_AFTER:
                entry += 1
            else:
                entry = _build(general, args, kwargs, arrays)
            if len(_programs) >= _MAX_ENTRIES:
                _programs.clear()
            _programs[key] = entry
            if type(entry) is Program:
                return entry(arrays)
        return general(*args, **kwargs)
    return fn
