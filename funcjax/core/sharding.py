"""Where an array's data lives. An unsharded Array is on one device: ``SingleDeviceSharding``.
A pmap result is split along its axis 0, slice k on device k: ``PmapSharding``."""


class SingleDeviceSharding:
    """All of the array on ``device`` (JAX's class of the same name)."""

    __slots__ = ("_device",)

    def __init__(self, device, *, memory_kind=None):
        self._device = device

    device_set = property(lambda self: {self._device})
    memory_kind = "device"
    is_fully_replicated = True
    is_fully_addressable = True
    num_devices = 1

    def __eq__(self, other):
        return isinstance(other, SingleDeviceSharding) and other._device == self._device

    def __hash__(self):
        return hash(("SingleDeviceSharding", self._device))

    def shard_shape(self, global_shape):
        return tuple(global_shape)

    def devices_indices_map(self, global_shape):
        return {self._device: tuple(slice(None) for _ in global_shape)}

    def __repr__(self):
        return f"SingleDeviceSharding(device={self._device!r}, memory_kind=device)"


class PmapSharding:
    """A pmap result's layout: slice k of axis 0 on ``devices[k]`` (JAX's closest equivalent
    is a NamedSharding over a one-axis mesh of these devices)."""

    __slots__ = ("devices", "shape")
    memory_kind = "device"
    is_fully_addressable = True

    def __init__(self, devices, shape):
        self.devices, self.shape = tuple(devices), tuple(shape)

    device_set = property(lambda self: set(self.devices))
    num_devices = property(lambda self: len(self.devices))
    is_fully_replicated = property(lambda self: len(self.devices) == 1)

    def __eq__(self, other):
        return isinstance(other, PmapSharding) and (other.devices, other.shape) == (
            self.devices, self.shape)

    def __hash__(self):
        return hash((self.devices, self.shape))

    def shard_shape(self, global_shape):
        return (1,) + tuple(global_shape)[1:]

    def devices_indices_map(self, global_shape):
        rest = tuple(slice(None) for _ in tuple(global_shape)[1:])
        return {d: (slice(k, k + 1),) + rest for k, d in enumerate(self.devices)}

    def __repr__(self):
        return (f"PmapSharding(devices={list(self.devices)}, sharded_dim=0, "
                f"shape={self.shape})")
