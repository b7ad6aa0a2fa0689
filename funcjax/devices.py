"""Virtual CPU devices: how many there are, and placing arrays on them.

The count is fixed the first time devices are listed. It comes from
``config.update("jax_num_cpu_devices", N)``, else ``FUNCJAX_NUM_CPU_DEVICES``, else JAX's
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (so JAX scripts run unchanged), else
the number of CPU cores. pmap runs one thread per device.
"""

import os
import re
import threading

import numpy as np

from funcjax.config import config
from funcjax.core import placement, processes
from funcjax.core.array import DEFAULT_DEVICE, Array, Device, to_numpy
from funcjax.core.pytree import tree_map
from funcjax.core.trace import Tracer

_lock = threading.Lock()
_devices = []


def _requested_count():
    for source, value in (("config jax_num_cpu_devices", config.jax_num_cpu_devices),
                          ("FUNCJAX_NUM_CPU_DEVICES", os.environ.get("FUNCJAX_NUM_CPU_DEVICES"))):
        if value is not None:
            return _positive(source, value)
    match = re.search(r"--xla_force_host_platform_device_count=(\S+)",
                      os.environ.get("XLA_FLAGS", ""))
    if match:
        return _positive("XLA_FLAGS --xla_force_host_platform_device_count", match.group(1))
    return os.cpu_count() or 1


def _positive(source, value):
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"{source} must be a positive integer number of devices, got {value!r}")
    return count


def local_devices(process_index=None, backend=None):
    """This process's virtual CPU devices, its first device first."""
    if backend not in (None, "cpu"):
        raise RuntimeError(f"funcjax has only the 'cpu' backend, not {backend!r}")
    if process_index not in (None, processes.state.index):
        return [d for d in devices() if d.process_index == process_index]
    with _lock:
        if not _devices:
            _devices.extend([DEFAULT_DEVICE] + [Device(i) for i in
                                                range(1, _requested_count())])
        return list(_devices)


def local_device_count(backend=None):
    return len(local_devices(backend=backend))


def devices(backend=None):
    """Every process's devices (ordered by process, then local index); with one process,
    the local ones."""
    local = local_devices(backend=backend)
    if not processes.multi_process():
        return local
    me, first = processes.state.index, local[0].id
    return [local[k - first] if p == me else Device(k, p) for p, k in _global_ids()]


def _global_ids():
    """``(process, device id)`` of every device of every process."""
    ids, start = [], 0
    for p, n in enumerate(processes.state.local_counts):
        ids.extend((p, start + i) for i in range(n))
        start += n
    return ids


def device_count(backend=None):
    return len(devices(backend))


def set_local_devices(first_id, process_index, count):
    """Numbers this process's devices globally (``funcjax.distributed.initialize``, which
    runs before the devices are first listed)."""
    with _lock:
        if _devices:
            raise RuntimeError("funcjax.distributed.initialize must be called before funcjax "
                               f"creates its devices (they exist already: {_devices}); call it "
                               "first thing in the program")
        DEFAULT_DEVICE.id, DEFAULT_DEVICE.process_index = first_id, process_index
        _devices.extend([DEFAULT_DEVICE] + [Device(first_id + i, process_index)
                                            for i in range(1, count)])


def default_backend():
    return "cpu"


def _refuse_late_count(name, value):
    if name == "jax_num_cpu_devices" and _devices and value != len(_devices):
        raise RuntimeError(f"config.update('jax_num_cpu_devices', {value}) came after the "
                           f"{len(_devices)} devices were created; set it before the first use "
                           "of funcjax.devices(), pmap or device_put")


config.on_update(_refuse_late_count)


def device_put(x, device=None):
    """Copies every array leaf of ``x`` into an Array. With a ``device`` the arrays are
    *committed* to it: operations on them run there and return arrays committed there (see
    ``funcjax.core.placement``); without one they are uncommitted, on the default device."""
    _check_device("device_put", device)
    from funcjax.numpy import asarray

    def put(leaf):
        array = asarray(leaf)
        if not isinstance(array, Array):
            raise TypeError("device_put takes concrete arrays, not traced values; call it "
                            "outside transformed functions")
        value = array.__array__(copy=True)
        if device is None:
            return Array(value, array.weak_type, placement.default_device())
        return placement.commit(value, array.weak_type, device)
    return tree_map(put, x)


def _check_device(where, device):
    if device is not None and device not in local_devices():
        raise ValueError(f"{where}: {device!r} is not one of funcjax.devices() of this "
                         f"process ({local_device_count()} virtual CPU devices)")


def _check_device_list(where, devs):
    devs = list(devs)
    if not devs:
        raise ValueError(f"{where}: devices must be a non-empty list of funcjax.devices()")
    for d in devs:
        _check_device(where, d)
    return devs


def device_put_replicated(x, devices):
    """Each array leaf of ``x`` stacked ``len(devices)`` times, shard k on ``devices[k]``: the
    layout pmap gives its unmapped-looking but per-device values (replicated parameters)."""
    devs = _check_device_list("device_put_replicated", devices)

    def put(leaf):
        value = np.asarray(to_numpy(leaf))
        stacked = np.broadcast_to(value, (len(devs),) + value.shape).copy()
        return placement.ShardedArray(stacked, _weak(leaf), devs)
    return tree_map(put, x)


def device_put_sharded(shards, devices):
    """A list of pytrees of the same structure, one per device, as one pytree of arrays whose
    shard k (the leading axis) is on ``devices[k]``."""
    devs = _check_device_list("device_put_sharded", devices)
    if not isinstance(shards, (list, tuple)) or len(shards) != len(devs):
        count = len(shards) if isinstance(shards, (list, tuple)) else "not a list"
        raise ValueError(f"device_put_sharded: needs a list of one pytree per device "
                         f"({len(devs)} devices), got {count}")

    def put(*leaves):
        values = [np.asarray(to_numpy(v)) for v in leaves]
        if len({(v.shape, v.dtype) for v in values}) != 1:
            raise ValueError("device_put_sharded: the shards of a leaf must have one shape and "
                             f"dtype, got {[f'{v.dtype}{list(v.shape)}' for v in values]}")
        return placement.ShardedArray(np.stack(values), _weak(leaves[0]), devs)
    return tree_map(put, *shards)


def _weak(leaf):
    return bool(getattr(leaf, "weak_type", isinstance(leaf, (int, float, complex))))


def device_get(x):
    """The arrays of the pytree ``x`` as numpy arrays (other leaves unchanged)."""
    def get(leaf):
        if isinstance(leaf, Tracer):
            raise TypeError("device_get takes concrete arrays, not traced values; call it "
                            "outside transformed functions (or use debug.callback inside)")
        return np.asarray(leaf) if isinstance(leaf, Array) else leaf
    return tree_map(get, x)


def default_device(device):
    """Context manager: arrays made inside (uncommitted) live on ``device``."""
    _check_device("default_device", device)
    return placement.default_device_block(device)


def block_until_ready(x):
    """Waits for every array in the pytree ``x`` (funcjax computes synchronously) and
    returns ``x``."""
    tree_map(lambda leaf: leaf.block_until_ready() if isinstance(leaf, Array) else leaf, x)
    return x
