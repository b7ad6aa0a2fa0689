"""Virtual CPU devices: how many there are, and placing arrays on them.

The count is fixed the first time devices are listed. It comes from
``config.update("jax_num_cpu_devices", N)``, else ``FUNCJAX_NUM_CPU_DEVICES``, else JAX's
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (so JAX scripts run unchanged), else
the number of CPU cores. pmap runs one thread per device.
"""

import os
import re
import threading

from funcjax.config import config
from funcjax.core.array import DEFAULT_DEVICE, Array, Device
from funcjax.core.pytree import tree_map

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


def devices(backend=None):
    """The virtual CPU devices, device 0 first."""
    if backend not in (None, "cpu"):
        raise RuntimeError(f"funcjax has only the 'cpu' backend, not {backend!r}")
    with _lock:
        if not _devices:
            _devices.extend([DEFAULT_DEVICE] + [Device(i) for i in
                                                range(1, _requested_count())])
        return list(_devices)


def device_count(backend=None):
    return len(devices(backend))


local_devices, local_device_count = devices, device_count


def default_backend():
    return "cpu"


def _refuse_late_count(name, value):
    if name == "jax_num_cpu_devices" and _devices and value != len(_devices):
        raise RuntimeError(f"config.update('jax_num_cpu_devices', {value}) came after the "
                           f"{len(_devices)} devices were created; set it before the first use "
                           "of funcjax.devices(), pmap or device_put")


config.on_update(_refuse_late_count)


def device_put(x, device=None):
    """Copies every array leaf of ``x`` into an Array on ``device`` (default: device 0)."""
    if device is not None and device not in devices():
        raise ValueError(f"device_put: {device!r} is not one of funcjax.devices() "
                         f"({device_count()} virtual CPU devices)")
    from funcjax.numpy import asarray

    def put(leaf):
        array = asarray(leaf)
        if not isinstance(array, Array):
            raise TypeError("device_put takes concrete arrays, not traced values; call it "
                            "outside transformed functions")
        return Array(array.__array__(copy=True), array.weak_type, device or DEFAULT_DEVICE)
    return tree_map(put, x)


def block_until_ready(x):
    """Waits for every array in the pytree ``x`` (funcjax computes synchronously) and
    returns ``x``."""
    tree_map(lambda leaf: leaf.block_until_ready() if isinstance(leaf, Array) else leaf, x)
    return x
