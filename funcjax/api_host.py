"""The host side of the API: fetching values as numpy, forgetting caches, waiting for effects,
and the process facts a single-process CPU library answers trivially (as JAX does on CPU)."""

import sys

import numpy as np

from funcjax.api_jit import clear_caches as _clear_jit_caches
from funcjax.core.array import Array
from funcjax.core.pytree import tree_map
from funcjax.core.trace import Tracer
from funcjax.interpreters import batching
from funcjax.ops import calls


def device_get(x):
    """Every Array leaf of the pytree ``x`` as a numpy array (other leaves unchanged)."""
    def get(leaf):
        if isinstance(leaf, Tracer):
            raise TypeError("device_get takes concrete arrays, not traced values; call it "
                            "outside transformed functions (or use debug.callback inside)")
        return np.asarray(leaf) if isinstance(leaf, Array) else leaf
    return tree_map(get, x)


def clear_caches():
    """Forgets every cached trace, transformed jaxpr and compiled program, so the next call
    of a jitted function traces and compiles again (the persistent disk cache is kept)."""
    _clear_jit_caches()
    with calls._memo_lock:
        calls._memo.clear()
    batching._batched_jaxprs.clear()
    program = sys.modules.get("funcjax.backend.llvm.program")  # only if jit was ever used
    if program is not None:
        with program.compiler.LOCK:
            program._programs.clear()


def effects_barrier():
    """Waits until every effect (callback) issued so far has run: funcjax runs them
    synchronously, so they all have."""


def process_index():
    return 0


def process_count():
    return 1


def process_indices():
    return [0]


host_id, host_count, host_ids = process_index, process_count, process_indices
