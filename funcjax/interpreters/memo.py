"""Memoised jaxpr transformations: ``jvp_jaxpr``, ``partial_eval_jaxpr`` and
``transpose_jaxpr`` are pure functions of a closed jaxpr and some flags, and retracing costs
more than the work they describe. Results are kept per (jaxpr identity, flags, x64 flag); the
entry holds the jaxpr, so its id cannot be reused while cached. Eager loops intern their
bodies (``funcjax.ops.control_flow.eager``), so that the same loop written again hits here.
"""

import collections
import functools
import threading

from funcjax.config import config
from funcjax.core.trace import Tracer

_SIZE = 512


def _flag_key(flags):
    return tuple(flags) if isinstance(flags, list) else flags


def _copy(value):
    if isinstance(value, list):
        return list(value)
    if isinstance(value, tuple):
        return tuple(map(_copy, value))
    return value


def jaxpr_transformation(fn):
    """Memoises ``fn(closed, *flags)``; jaxprs with traced consts are never cached (their
    tracers belong to one trace)."""
    memo = collections.OrderedDict()
    lock = threading.Lock()

    @functools.wraps(fn)
    def memoised(closed, *flags, **named):
        if any(isinstance(c, Tracer) for c in closed.consts):
            return fn(closed, *flags, **named)
        try:
            key = (id(closed), config.jax_enable_x64, tuple(map(_flag_key, flags)),
                   tuple(sorted((k, _flag_key(v)) for k, v in named.items())))
            hash(key)
        except TypeError:
            return fn(closed, *flags, **named)
        with lock:
            entry = memo.get(key)
            if entry is not None and entry[0] is closed:
                memo.move_to_end(key)
                return _copy(entry[1])
        out = fn(closed, *flags, **named)
        with lock:
            memo[key] = (closed, out)
            if len(memo) > _SIZE:
                memo.popitem(last=False)
        return _copy(out)
    return memoised
