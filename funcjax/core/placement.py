"""Device placement: committed arrays, pmap's sharded arrays and ``default_device``.

An array made by computation is *uncommitted*: it lives on the default device and may be
combined with arrays anywhere. ``device_put(x, device)`` *commits* it (a ``CommittedArray``):
eager operations and jit calls on committed arrays return arrays committed to the same device,
and mixing arrays committed to two different devices is a ``ValueError`` naming both, as in
JAX. pmap returns a ``ShardedArray``: one buffer of shape ``(N, ...)`` whose slice k is device
k's shard (the shards are views, so a following pmap reads them without copying).

Eager operations and jit calls on sharded arrays stay on their devices, as in JAX (whose pmap
results are committed to all N devices): a result of the sharded input's shape (``y + 1``,
``sin(y)``, ``y * y``) is sharded the same way; any other result (a reduction, an index) is an
ordinary array (JAX keeps it committed and replicated on the N devices, which funcjax has no
type for). Mixing a sharded array with an array committed to one device, or with one sharded
over other devices, raises JAX's "incompatible devices" error.

Cost: two flags split the concern. ``state.active`` is set once an array is committed or
sharded (or a ``default_device`` block entered): from then on the general eager path scans its
arguments once (``place``). ``blocks`` counts the ``default_device`` blocks open in any thread
(``blocks.value``; native entries read its address). The fast paths (native eager and jit
entries, the jnp Python fast path, eager jvp and grad programs) accept only operands whose type
is exactly ``Array``, on which ``place`` can change nothing unless a block is open, so they
require ``blocks.value == 0`` and ignore ``state.active``. A block open in another thread only
sends this thread's fast paths to the general path, which reads this thread's own default.
"""

import contextlib
import ctypes
import threading

from funcjax.core.array import DEFAULT_DEVICE, Array
from funcjax.core.sharding import PmapSharding


class _State(threading.local):
    default = None


class _Flag:
    active = False


state = _Flag()
_local = _State()
blocks = ctypes.c_int64(0)  # default_device blocks open in all threads (see the docstring)
_blocks_lock = threading.Lock()


class CommittedArray(Array):
    """An Array committed to its device (``device_put(x, device)``): results of operations on
    it stay there."""

    __slots__ = ()
    committed = True

    def __repr__(self):
        return f"{Array.__repr__(self)[:-1]}, device={self._device!r})"

    def __reduce__(self):
        return (CommittedArray, (self.__array__(copy=True), self.weak_type, self._device))


def commit(value, weak_type, device):
    state.active = True
    return CommittedArray(value, weak_type, device)


class Shard:
    """One device's part of a ShardedArray (JAX's ``Shard``)."""

    __slots__ = ("device", "index", "replica_id", "data")

    def __init__(self, device, index, data):
        self.device, self.index, self.replica_id, self.data = device, index, 0, data

    def __repr__(self):
        return (f"Shard(device={self.device!r}, index={self.index}, replica_id=0, "
                f"data={self.data})")


class ShardedArray(Array):
    """A pmap result: slice k along axis 0 belongs to ``devices[k]``. It prints and computes
    like an ordinary array (eager operations keep results of its shape sharded)."""

    __slots__ = ("_shard_devices",)

    def __init__(self, value, weak_type, devices):
        super().__init__(value, weak_type, devices[0])
        self._shard_devices = tuple(devices)
        state.active = True  # eager operations on it keep it sharded (see ``place``)

    @property
    def sharding(self):
        return PmapSharding(self._shard_devices, self.shape)

    @property
    def addressable_shards(self):
        value = self.__array__()
        rest = (slice(None),) * (self.ndim - 1)
        return [Shard(d, (slice(k, k + 1),) + rest,
                      CommittedArray(value[k], self.weak_type, d))
                for k, d in enumerate(self._shard_devices)]

    global_shards = addressable_shards

    def devices(self):
        return set(self._shard_devices)

    @property
    def device(self):
        raise ValueError("this array is sharded over several devices "
                         f"{list(self._shard_devices)}: use .devices() or .sharding")

    @property
    def is_fully_replicated(self):
        return len(self._shard_devices) == 1

    def __reduce__(self):
        return (Array, (self.__array__(copy=True), self.weak_type))


# What every Array answers (JAX's attributes), set here beside the classes that differ.
Array.committed = False
Array.is_fully_addressable = True
Array.is_fully_replicated = True


_PLACED = (CommittedArray, ShardedArray)


def plain(args):
    """Whether ``place`` would leave results of ``args`` alone outside ``default_device``
    blocks: none of them is a committed or sharded array (a fast path's check where its
    operands need not be exact Arrays)."""
    return not state.active or all(type(x) not in _PLACED for x in args)


def _committed_devices(x):
    t = type(x)
    return (x._device,) if t is CommittedArray else x._shard_devices if t is ShardedArray \
        else None


def common_devices(where, args, names=None):
    """The devices the committed and sharded arrays among ``args`` share (None if there are
    none), or the ValueError JAX raises when they differ."""
    found = None
    for k, x in enumerate(args):
        devices = _committed_devices(x)
        if devices is None:
            continue
        if found is None:
            found = (k, x, devices)
        elif devices != found[2]:
            j, y, other = found

            def label(i, a, d):
                name = names[i] if names and i < len(names) else f"{i}"
                ids = ", ".join(str(v.id) for v in d)
                return (f"argument {name} of {where} with shape {a.aval.str_short()} and with "
                        f"device ids [{ids}] on platform CPU")
            raise ValueError(
                f"Received incompatible devices for jitted computation. Got {label(j, y, other)}"
                f" and {label(k, x, devices)}. Move the arrays to one device with "
                "device_put(x, device) first.")
    return None if found is None else found[2]



def place(where, args, outs, names=None):
    """Eager results: committed to the device of committed inputs, else on the default
    device of a ``default_device`` block. ``outs`` is a list of Arrays; returns the list."""
    devices = common_devices(where, args, names)
    if devices is not None and len(devices) > 1:
        shapes = {x.shape for x in args if type(x) is ShardedArray}
        return [ShardedArray(o.__array__(), o.weak_type, devices)
                if isinstance(o, Array) and o.shape in shapes else
                Array(o.__array__(), o.weak_type) if isinstance(o, Array) else o for o in outs]
    if devices is not None:
        return [CommittedArray(o.__array__(), o.weak_type, devices[0])
                if isinstance(o, Array) else o for o in outs]
    default = _local.default
    if default is not None:
        for o in outs:
            if type(o) is Array:
                o._device = default
    return outs


def default_device():
    """The device of a surrounding ``default_device`` block, else device 0."""
    return _local.default or DEFAULT_DEVICE


@contextlib.contextmanager
def default_device_block(device):
    state.active = True
    with _blocks_lock:
        blocks.value += 1
    previous, _local.default = _local.default, device
    try:
        yield
    finally:
        _local.default = previous
        with _blocks_lock:
            blocks.value -= 1
