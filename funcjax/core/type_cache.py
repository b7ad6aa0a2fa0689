"""A cache of type rules: the output types of a primitive applied to given input types.

Eager mode and tracing run a primitive's ``abstract_eval`` rule on every call, and the rule
(checks included) costs more than the numpy work on a small array. The rule is a pure function
of the primitive, the input types (shape, dtype, weak type), the parameters and the x64 flag,
so its result is remembered under exactly that key. Nothing is skipped: a call whose rule
raised is never cached, so the same call raises again.

Keys tag every parameter value with its type: ``1``, ``1.0`` and ``True`` are equal in Python
but a rule may accept one and refuse another. Parameters that are not plain data (jaxprs,
functions, arrays) and primitives that read a named-axis context (``axis_name``) bypass the
cache.
"""

import numpy as np

from funcjax.config import config

_cache = {}
_MAX_ENTRIES = 8192  # a bound, not a tuning knob: new shapes keep arriving in long sessions

# Types whose values are plain, immutable data and compare by value within one type.
_PLAIN = frozenset({int, float, bool, str, type(None), np.int32, np.int64, np.float32,
                    np.float64, np.bool_})


class _UncacheableError(Exception):
    pass


def _freeze(value):
    t = type(value)
    if t in _PLAIN:
        return t, value
    if t is tuple or t is list:
        types = tuple(map(type, value))
        if _PLAIN.issuperset(types):
            return t, types, tuple(value)
        return t, tuple(map(_freeze, value))
    if isinstance(value, np.dtype):
        return value
    raise _UncacheableError


def _params_key(params):
    if not params:
        return ()
    if "axis_name" in params:
        raise _UncacheableError
    return tuple((k, _freeze(v)) for k, v in params.items())


def abstract_eval(primitive, avals, params):
    """``primitive``'s output type(s) for ``avals`` (a tuple for multiple results)."""
    try:
        key = (primitive, config.jax_enable_x64, *avals, _params_key(params))
        return _cache[key]
    except KeyError:
        pass
    except (_UncacheableError, TypeError):  # TypeError: an unhashable value inside a tuple
        return _run(primitive, avals, params)
    out = _run(primitive, avals, params)
    if len(_cache) >= _MAX_ENTRIES:
        _cache.clear()
    _cache[key] = out
    return out


def key(primitive, avals, params):
    """The cache key of ``primitive`` applied to ``avals`` with ``params`` (other caches of
    per-primitive work share it), or None where the call cannot be cached."""
    try:
        out = (primitive, config.jax_enable_x64, *avals, _params_key(params))
        hash(out)
    except (_UncacheableError, TypeError):
        return None
    return out


def _run(primitive, avals, params):
    out = primitive.abstract_eval_rule(*avals, **params)
    return tuple(out) if primitive.multiple_results else out


def clear():
    _cache.clear()


def size():
    return len(_cache)
