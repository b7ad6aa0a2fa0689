"""``funcjax.Array``: an immutable numpy buffer on a device, and the array methods that tracers
share with it. Operators forward to ``funcjax.numpy``, so arrays and tracers behave alike."""

import numpy as np

from funcjax.core import dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.display import array_html
from funcjax.core.sharding import SingleDeviceSharding


def _jnp():
    """funcjax.numpy (a layer above, imported on first use, then kept: operators call this)."""
    if not _jnp_module:
        import funcjax.numpy as jnp
        _jnp_module.append(jnp)
    return _jnp_module[0]


_jnp_module = []


def _binary(name):
    def op(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented  # as in JAX: ``x == None`` is False, ``x + None`` a TypeError
        return getattr(_jnp(), name)(self, other)

    def rop(self, other):
        if other is None or isinstance(other, str):
            return NotImplemented
        return getattr(_jnp(), name)(other, self)
    return op, rop


def _unary(name):
    return lambda self: getattr(_jnp(), name)(self)


def _method(name):
    """``x.name(...)`` is ``jnp.name(x, ...)``. ``out=None`` is accepted because numpy's own
    functions pass it (``np.mean(x, 0)`` calls ``x.mean(axis=0, dtype=None, out=None)``)."""
    def method(self, *args, out=None, **kwargs):
        if out is not None:
            raise NotImplementedError(
                f"Array.{name}: the 'out' argument is not supported because funcjax arrays "
                "are immutable; use the returned array instead")
        return getattr(_jnp(), name)(self, *args, **kwargs)
    method.__name__ = name
    return method


class ArrayMethods:
    """Operators and methods of arrays; subclasses provide ``aval``."""

    __slots__ = ()

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    weak_type = property(lambda self: self.aval.weak_type)
    T = property(lambda self: _jnp().transpose(self))
    mT = property(lambda self: _jnp().swapaxes(self, -1, -2))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, index):
        return _jnp()._indexing.getitem(self, index)

    def __setitem__(self, index, value):
        raise TypeError("funcjax arrays are immutable; instead of x[idx] = y use "
                        "x = x.at[idx].set(y)")

    @property
    def at(self):
        return _jnp()._indexing.IndexUpdateHelper(self)

    def astype(self, dtype):
        return _jnp().astype(self, dtype)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _jnp().reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _jnp().transpose(self, axes or None)

    def take(self, indices, axis=None, out=None, mode=None, **kwargs):
        """As ``jnp.take``; numpy's ``np.take`` passes ``mode='raise'``, which reads as the
        default here (out-of-bounds indices cannot raise inside compiled code)."""
        return _method("take")(self, indices, axis=axis, out=out,
                               mode=None if mode == "raise" else mode, **kwargs)

    def flatten(self):
        return _jnp().ravel(self)

    def copy(self):
        return _jnp().array(self, copy=True)

    def __round__(self, ndigits=None):
        """As in JAX: ``round(x)`` rounds to an integer-dtype array, ``round(x, n)`` keeps the
        dtype."""
        rounded = _jnp().round(self, ndigits or 0)
        return rounded.astype(int) if ndigits is None else rounded

    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    itemsize = property(lambda self: self.dtype.itemsize)

    __abs__ = _unary("abs")
    __neg__ = _unary("negative")
    __pos__ = _unary("positive")
    __invert__ = _unary("invert")
    __hash__ = None


# ``x.__op__`` and ``x.__rop__`` are ``jnp.fn`` (native eager entries replace some on Array)
OPERATORS = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
             "floordiv": "floor_divide", "mod": "remainder", "pow": "power",
             "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
             "xor": "bitwise_xor", "lshift": "left_shift",
             "rshift": "right_shift", "divmod": "divmod"}
for _op, _fn in OPERATORS.items():
    _fwd, _rev = _binary(_fn)
    setattr(ArrayMethods, f"__{_op}__", _fwd)
    setattr(ArrayMethods, f"__r{_op}__", _rev)
# ``x.__op__`` is ``jnp.fn`` (Python reflects a comparison itself: ``0 < x`` is ``x > 0``)
COMPARISONS = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
               "gt": "greater", "ge": "greater_equal"}
for _op, _fn in COMPARISONS.items():
    setattr(ArrayMethods, f"__{_op}__", _binary(_fn)[0])

for _name in ("sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "all",
              "any", "cumsum", "cumprod", "ravel", "squeeze", "swapaxes", "clip", "dot",
              "round", "conj", "nonzero", "sort", "argsort", "repeat", "trace",
              "diagonal"):
    setattr(ArrayMethods, _name, _method(_name))


class Device:
    """A (virtual) CPU device. ``funcjax.devices()`` lists them."""

    __slots__ = ("id", "process_index")
    platform = "cpu"
    device_kind = "cpu"

    def __init__(self, id, process_index=0):
        self.id, self.process_index = id, process_index

    def __repr__(self):
        return f"CpuDevice(id={self.id})"


DEFAULT_DEVICE = Device(0)


class _DeletedBuffer:
    """Stands in for the buffer of a deleted Array: any use of it raises.

    Swapping the buffer for this object makes deletion free for live arrays: no method checks
    a flag; numpy, Python operators and printing all fail on the sentinel itself.
    """

    __slots__ = ("aval", "why")

    def __init__(self, aval, why):
        self.aval, self.why = aval, why  # the message is formatted only if it is raised

    def _fail(self, *args, **kwargs):
        raise RuntimeError(f"Array has been deleted with shape={self.aval.str_short()}: "
                           f"{self.why}")

    __getattr__ = __array__ = _fail  # also numpy's __array_interface__, shape, item, ...


for _name in ("len", "iter", "getitem", "bool", "int", "float", "complex", "index", "str",
              "format", "neg", "pos", "abs", "invert", "lt", "le", "gt", "ge", "contains",
              *(f"{r}{op}" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                      "matmul", "and", "or", "xor", "lshift", "rshift",
                                      "divmod") for r in ("", "r"))):
    setattr(_DeletedBuffer, f"__{_name}__", _DeletedBuffer._fail)


class Array(ArrayMethods):
    """An immutable array: a read-only numpy buffer plus its device and weak-type flag."""

    __slots__ = ("_value", "_aval", "_device")
    __array_priority__ = 100

    def __init__(self, value, weak_type=False, device=None):
        value = np.asarray(value)
        if value.flags.writeable:
            # Freeze a view, never the caller's array itself.
            value = value.view()
            value.flags.writeable = False
        self._value = value
        self._aval = ShapedArray(value.shape, value.dtype, weak_type)
        self._device = device or DEFAULT_DEVICE

    aval = property(lambda self: self._aval)

    def devices(self):
        return {self._device}

    @property
    def device(self):
        return self._device

    @property
    def sharding(self):
        return SingleDeviceSharding(self._device)

    def __array__(self, dtype=None, copy=None):
        value = self._value
        if value.flags.writeable:
            # Eager results arrive unfrozen (freezing costs as much as a small numpy op): the
            # Array's own view is frozen the first time the buffer leaves the Array.
            value.flags.writeable = False
        if dtype is None and copy is None:  # the common case, without keyword overhead
            return value.__array__()
        return value.__array__(dtype, copy=copy)

    def delete(self):
        """Frees the buffer now; any later use of this Array raises a ``RuntimeError``."""
        self._delete("it was deleted with Array.delete()")

    def _delete(self, why):
        if not self.is_deleted():
            self._value = _DeletedBuffer(self._aval, why)

    def is_deleted(self):
        return type(self._value) is _DeletedBuffer

    def block_until_ready(self):
        return self

    def item(self, *args):
        return self._value.item(*args)

    def tolist(self):
        return self._value.tolist()

    def __bool__(self):
        return bool(self._value)

    def __int__(self):
        return int(self._value)

    def __index__(self):
        return self._value.__index__()

    def __float__(self):
        return float(self._value)

    def __complex__(self):
        return complex(self._value)

    def __format__(self, spec):
        return format(self._value.item(), spec) if self.ndim == 0 else format(self._value, spec)

    def __str__(self):
        return str(self._value)

    def __repr__(self):
        body = np.array2string(self._value, separator=", ", prefix="Array(")
        extra = ", weak_type=True" if self._aval.weak_type else ""
        if self._value.size == 0:
            return f"Array({body}, shape={self.shape}, dtype={self.dtype.name}{extra})"
        return f"Array({body}, dtype={self.dtype.name}{extra})"

    def _repr_html_(self):
        return array_html(self._value, self._aval, self._device)

    def __reduce__(self):
        return (Array, (np.array(self._value), self._aval.weak_type))

    def __copy__(self):
        return self.copy()  # a new buffer, so donating the copy leaves ``self`` alive

    def __deepcopy__(self, memo):
        return self.copy()


def wrap_fresh(value, aval, device=DEFAULT_DEVICE):
    """An Array around a numpy result no one else holds, whose type ``aval`` is already
    checked: the constructor's conversion and type derivation are skipped, and freezing waits
    until the buffer leaves the Array. As in the constructor, the Array holds its own view
    (donation recognises a private buffer by that shape)."""
    array = _new(Array)
    array._value = value.view()
    array._aval = aval
    array._device = device
    return array


_new = object.__new__


def to_numpy(x):
    """The numpy value of an Array, numpy value or Python scalar (canonical dtype)."""
    if isinstance(x, Array):
        return x._value
    if isinstance(x, (bool, int, float)):
        return np.asarray(x, dtypes.python_scalar_dtype(x))
    arr = np.asarray(x)
    dt = dtypes.canonicalize(arr.dtype)
    return arr if arr.dtype == dt else arr.astype(dt)
