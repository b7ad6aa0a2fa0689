"""Eager calls of shape, indexing and contraction functions replayed from their checked programs.

``x.reshape(2, 4)``, ``x[0]``, ``x.T``, ``x @ y``, ``jnp.where`` ... spend most of their eager
time on argument handling (canonical shapes, index analysis, promotion) and on one type rule
per primitive they bind, not on numpy. All of that depends only on the types of the array
arguments and the values of the static ones. So the second eager call with the same key
(every Array's type, every other argument's type and value, the x64 flag) traces the general
function once to the primitives it binds; later calls with that key run those primitives'
impls directly (``eval.run_checked``), exactly as eager binding would run them.

Checks are not lost: a program is kept only if tracing raised nothing, warned nothing, and
gave one array made by equations with plain parameters and no effects; otherwise the key is
remembered as refused and the general function runs (and raises or warns) every time. Only
exact ``Array`` arguments with live buffers are keyed, and only when primitives run now
(``eval.runs_now``: no transformation, no device placement); tracers, numpy arrays, lists
and other values always take the general path.
"""

import functools
import warnings

import numpy as np

from funcjax.config import config
from funcjax.core import type_cache
from funcjax.core.array import Array, to_numpy, wrap_fresh
from funcjax.core.ir import Literal, has_effects
from funcjax.interpreters.eval import run_checked, runs_now
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.ops import shape

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


def _relabel(x, *, shape):
    return x.reshape(shape)


class Program:
    """The equations of one traced call, as slots into a list of numpy values: the inputs,
    then fixed values (literals, constants), then each equation's results."""

    __slots__ = ("steps", "fixed", "out", "aval")

    def __init__(self, closed, n_inputs):
        jaxpr = closed.jaxpr
        self.fixed = [to_numpy(c) for c in closed.consts]
        literals = [a for e in jaxpr.eqns for a in e.inputs if type(a) is Literal]
        self.fixed += [to_numpy(a.val) for a in literals]
        slot = {v: i for i, v in enumerate(jaxpr.invars + jaxpr.constvars + literals)}
        self.steps = []
        for eqn in jaxpr.eqns:
            impl, params = eqn.primitive.impl, eqn.params
            if eqn.primitive in _RELABELS:  # the same C-order elements in the known shape
                impl, params = _relabel, {"shape": eqn.outputs[0].aval.shape}
            self.steps.append((impl, tuple(slot[a] for a in eqn.inputs), params,
                               eqn.primitive.multiple_results, [v.aval for v in eqn.outputs]))
            for var in eqn.outputs:
                slot[var] = len(slot)
        (out,) = jaxpr.outvars
        self.out, self.aval = slot[out], out.aval

    def __call__(self, arrays):
        if self.out < len(arrays):  # the function returned an argument unchanged
            return arrays[self.out]
        values = [a._value for a in arrays]
        values.extend(self.fixed)
        return wrap_fresh(run_checked(self.steps, values)[self.out], self.aval)


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
                eqn.primitive, [getattr(a, "aval", None) for a in eqn.inputs],
                eqn.params) is None:
            return _REFUSED
    return Program(closed, len(arrays))


def eager_program(general):
    """``general`` (a function of arrays and static arguments returning one array) with its
    eager calls replayed from their checked programs."""
    @functools.wraps(general)
    def fn(*args, **kwargs):
        if not runs_now() or config.jax_debug_nans or not enabled[0]:
            return general(*args, **kwargs)
        arrays = []
        try:
            key = (general, config.jax_enable_x64, *[_key(a, arrays) for a in args],
                   _key(tuple(kwargs.values()), arrays) if kwargs else None,
                   *kwargs)
        except (_UnkeyedError, TypeError):  # TypeError: an unhashable value
            return general(*args, **kwargs)
        entry = _programs.get(key, 0)
        if type(entry) is Program:
            return entry(arrays)
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
