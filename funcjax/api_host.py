"""The host side of the API: fetching values as numpy, forgetting caches, waiting for effects,
and the process facts a single-process CPU library answers trivially (as JAX does on CPU)."""

import platform
import sys

import numpy as np

from funcjax.api_jit import clear_caches as _clear_jit_caches
from funcjax.core import dtypes, processes
from funcjax.core.array import Array
from funcjax.devices import devices
from funcjax.interpreters import batching
from funcjax.interpreters.eval import aval_of
from funcjax.ops import calls


def clear_caches():
    """Forgets every cached trace, transformed jaxpr and compiled program, so the next call
    of a jitted function traces and compiles again (the persistent disk cache is kept), and
    returns the freed output buffers kept for reuse to the C library."""
    _clear_jit_caches()
    with calls._memo_lock:
        calls._memo.clear()
    batching._batched_jaxprs.clear()
    program = sys.modules.get("funcjax.backend.llvm.program")  # only if jit was ever used
    if program is not None:
        with program.compiler.LOCK:
            program._programs.clear()
    pool = sys.modules.get("funcjax.backend.llvm.output_pool")
    if pool is not None:
        pool.release()


def copy_to_host_async(x):
    """Starts copying ``x`` to the host: funcjax arrays already live there, so this returns
    at once (``device_get`` then costs nothing extra)."""
    return x


def typeof(x):
    """The abstract value (shape, dtype, weak type) of ``x``: what tracing sees of it."""
    return aval_of(x)


def make_array_from_callback(shape, sharding, data_callback, dtype=None):
    """An Array of ``shape`` whose data ``data_callback(index)`` returns for the part each
    device of ``sharding`` holds (one device: the whole array, index = full slices)."""
    index = tuple(slice(None) for _ in shape)
    parts = [data_callback(idx) for idx in sharding.devices_indices_map(tuple(shape)).values()]
    if len(parts) != 1:
        raise NotImplementedError("make_array_from_callback: only single-device shardings "
                                  "are supported")
    value = np.asarray(parts[0], dtype)
    if value.shape != tuple(shape):
        raise ValueError(f"make_array_from_callback: data_callback({index}) returned shape "
                         f"{value.shape}, expected {tuple(shape)}")
    return Array(value.astype(dtypes.canonicalize(value.dtype), copy=False),
                 device=next(iter(sharding.device_set)))


def print_environment_info(return_string=False):
    """The versions and devices funcjax runs with (for bug reports)."""
    import llvmlite  # only here: eager use of funcjax never loads it
    version = getattr(sys.modules.get("funcjax"), "__version__", "?")
    text = (f"funcjax:  {version}\nnumpy:    {np.__version__}\n"
            f"llvmlite: {llvmlite.__version__}\npython:   {sys.version}\n"
            f"platform: {platform.platform()}\ndevices:  {devices()}\n")
    if return_string:
        return text
    print(text, end="")


def effects_barrier():
    """Waits until every effect (callback) issued so far has run: funcjax runs them
    synchronously, so they all have."""


def process_index():
    """This process's rank (0 unless ``funcjax.distributed.initialize`` ran under MPI)."""
    return processes.state.index


def process_count():
    return processes.state.count


def process_indices():
    return list(range(processes.state.count))


host_id, host_count, host_ids = process_index, process_count, process_indices
