"""Where an array's data lives. An unsharded Array is on one device: ``SingleDeviceSharding``
(the pmap work extends this module with shardings across several devices)."""


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
