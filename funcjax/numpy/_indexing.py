"""Indexing: ``x[idx]`` and ``x.at[idx].set/add/...`` lowered to slice, gather and scatter.

An index expression is first parsed against the operand's shape: Ellipsis expanded, concrete
boolean masks turned into integer arrays, one entry per operand axis plus ``None`` markers.
Pure basic indexing (static ints, slices, None) becomes one slice, a rev and a reshape.
Anything else becomes one *gather plan*: every non-trivial entry (a scalar, an integer array
or a strided slice) is an index component of a single ``gather``, whose batch dims are laid out
with numpy's placement rule for advanced indices. Updates run the same plan with a scatter.

Out-of-range indices follow JAX: reads clamp (``mode="clip"``), updates are dropped
(``mode="fill"``); negative indices count from the end first.
"""

import numpy as np

from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.errors import ConcretizationTypeError
from funcjax.core.trace import Tracer
from funcjax.numpy._programs import eager_program
from funcjax.numpy._util import (
    asarray,
    broadcast_shapes,
    broadcast_to_shape,
    canonical_axis,
    check_no_out,
    is_array,
)

__all__ = ["take", "take_along_axis", "nonzero", "flatnonzero", "argwhere"]


class NonConcreteBooleanIndexError(IndexError):
    """A traced boolean mask was used as an index: the result's shape would depend on data."""


# -- parsing ---------------------------------------------------------------------------------
def _is_int_scalar(e):
    return isinstance(e, (int, np.integer)) and not isinstance(e, (bool, np.bool_))


def _as_index_array(e):
    """Lists and numpy arrays stay static numpy arrays; Arrays and tracers stay as they are."""
    if is_array(e):
        return e
    arr = np.asarray(e)
    if arr.dtype == object:
        raise TypeError(f"invalid index {e!r:.60}: use ints, slices, None, Ellipsis or arrays")
    return arr


def _expand(x, index):
    """The operand (with axes added for 0-d masks) and one entry per axis or ``None``."""
    entries = list(index) if isinstance(index, tuple) else [index]
    entries = [e if e is None or e is Ellipsis or isinstance(e, slice) or _is_int_scalar(e)
               else _as_index_array(e) for e in entries]
    for e in entries:
        if isinstance(e, (Tracer, np.ndarray)) or is_array(e):
            kind = e.dtype.kind
            if kind == "b" and isinstance(e, Tracer):
                raise NonConcreteBooleanIndexError(
                    f"Array boolean indices must be concrete; got a traced mask of type "
                    f"{e.aval.str_short()}. The result's shape would depend on its values. Use "
                    "jnp.where(mask, x, other) to select values, or nonzero(mask, size=...) "
                    "for a fixed-size index.")
            if kind not in "biu":
                raise TypeError(f"x[index]: Indexer must have integer or boolean type, got an "
                                f"indexer of dtype {e.dtype}; convert it with .astype(int)")
        elif not (e is None or e is Ellipsis or isinstance(e, slice) or _is_int_scalar(e)):
            raise TypeError(f"Indexer must be an int, slice, None, Ellipsis or an array of "
                            f"integers or booleans, got {type(e).__name__} {e!r:.40}")
    consumed = sum(_rank_consumed(e) for e in entries)
    if sum(e is Ellipsis for e in entries) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise IndexError(f"Too many indices: array of shape {x.shape} is {x.ndim}-dimensional, "
                         f"but {consumed} were indexed")
    fill = [slice(None)] * (x.ndim - consumed)
    if Ellipsis in [e for e in entries if not is_array(e) and not isinstance(e, np.ndarray)]:
        at = next(i for i, e in enumerate(entries) if e is Ellipsis)
        entries[at:at + 1] = fill
    else:
        entries += fill
    return _expand_masks(x, entries)


def _rank_consumed(e):
    if e is None or e is Ellipsis:
        return 0
    if (is_array(e) or isinstance(e, np.ndarray)) and e.dtype.kind == "b":
        return e.ndim
    return 1


def _expand_masks(x, entries):
    """Concrete boolean masks become integer arrays (the mask's values are static here)."""
    out, axis = [], 0
    for e in entries:
        if (is_array(e) or isinstance(e, np.ndarray)) and e.dtype.kind == "b":
            mask = np.asarray(e)
            if mask.ndim == 0:
                # A 0-d mask adds an axis of length 1 and picks all (True) or none (False) of it.
                x = lax.expand_dims(x, (axis,))
                mask = mask[None]
            if mask.shape != x.shape[axis:axis + mask.ndim]:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the "
                                 f"indexed axes {x.shape[axis:axis + mask.ndim]} of the array "
                                 f"of shape {x.shape}")
            out.extend(np.nonzero(mask))
            axis += mask.ndim
        else:
            out.append(e)
            axis += e is not None
    return x, out


# -- basic indexing: slice, rev, reshape -----------------------------------------------------
def _is_basic(entries):
    return all(e is None or isinstance(e, slice) or _is_int_scalar(e) for e in entries)


def _basic(x, entries):
    starts, limits, strides, flip, shape = [], [], [], [], []
    axes = iter(range(x.ndim))
    for e in entries:
        if e is None:
            shape.append(1)
            continue
        d = next(axes)
        n = x.shape[d]
        if isinstance(e, slice):
            start, stop, step = e.indices(n)
            m = len(range(start, stop, step))
            lo = start if step > 0 else start + (m - 1) * step
            starts.append(lo if m else 0)
            limits.append(lo + (m - 1) * abs(step) + 1 if m else 0)
            strides.append(abs(step))
            if step < 0:
                flip.append(d)
            shape.append(m)
        else:
            i = _clamp_static(e, n, d, x.shape)
            starts.append(i)
            limits.append(i + 1)
            strides.append(1)
    out = lax.rev(lax.slice(x, starts, limits, strides), flip)
    return lax.reshape(out, shape)


def _clamp_static(i, n, axis, shape):
    if n == 0:
        raise IndexError(f"index {i} is out of bounds for axis {axis} of size 0 (array shape "
                         f"{shape})")
    i = int(i) + n if i < 0 else int(i)
    return min(max(i, 0), n - 1)


# -- the gather plan -------------------------------------------------------------------------
class _Plan:
    """``x[entries]`` as one gather: the indexed ``axes``, the stacked index rows, and the
    permutation from the gather's ``batch + rest`` dims to numpy's result order."""

    def __init__(self, x, entries):
        self.axes, components = [], []  # components: (index values, slot), in axes order
        slots = []  # (kind, sizes): kind is "batch", "rest" or "new", in result order
        first_adv, d = None, 0
        for e in entries:
            if e is None:
                slots.append(("new", (1,)))
                continue
            n = x.shape[d]
            if isinstance(e, slice) and range(*e.indices(n)) == range(n):
                slots.append(("rest", (n,)))
            elif isinstance(e, slice):
                r = np.asarray(range(*e.indices(n)), dtypes.default_int())
                slots.append(("batch", (len(r),)))
                components.append((r, len(slots) - 1))
                self.axes.append(d)
            else:
                first_adv = len(slots) if first_adv is None else first_adv
                components.append((_normalize(e, n), None))
                self.axes.append(d)
            d += 1
        if first_adv is not None:
            # numpy's rule: the advanced indices' dims go where those indices are if they are
            # adjacent in the index (a None in between separates them), otherwise in front.
            adv_shape = broadcast_shapes("indexing", *(np.shape(c) for c, k in components
                                                       if k is None), error=IndexError)
            at = first_adv if _adjacent(entries) else 0
            slots.insert(at, ("batch", adv_shape))
            components = [(c, at if k is None else k + (k >= at)) for c, k in components]
        self.slots = slots
        self.result_shape = tuple(n for _, sizes in slots for n in sizes)
        self.indices = self._stack(components) if components else None
        # labels[i]: which gathered dim (batch dims first, then rest) is result dim i.
        batch_dims = [k for k, (kind, sizes) in enumerate(slots) for _ in sizes
                      if kind == "batch"]
        self.labels, nb, nr = [], 0, len(batch_dims)
        for kind, sizes in slots:
            for _ in sizes:
                if kind == "batch":
                    self.labels.append(nb)
                    nb += 1
                elif kind == "rest":
                    self.labels.append(nr)
                    nr += 1

    def _stack(self, components):
        """Each component broadcast over the batch dims of its slot, stacked as index rows."""
        batch = [(k, sizes) for k, (kind, sizes) in enumerate(self.slots) if kind == "batch"]
        start, pos = {}, 0
        for k, sizes in batch:
            start[k] = pos
            pos += len(sizes)
        self.batch_shape = tuple(n for _, sizes in batch for n in sizes)
        rows = []
        for comp, k in components:
            sizes = self.slots[k][1]
            comp = broadcast_to_shape(lax.convert_element_type(asarray(comp),
                                                               dtypes.default_int()), sizes)
            dims = range(start[k], start[k] + len(sizes))
            rows.append(lax.broadcast_in_dim(comp, self.batch_shape + (1,), dims))
        return lax.concatenate(rows, len(self.batch_shape))

    def gather(self, x, mode, fill_value):
        out = x if self.indices is None else lax.gather(
            x, self.indices, self.axes, mode=mode, fill_value=fill_value)
        return lax.reshape(lax.transpose(out, self.labels), self.result_shape)

    def scatter(self, x, updates, scatter_fn, mode):
        updates = lax.convert_element_type(asarray(updates), x.dtype, x.weak_type)
        shape = self.result_shape
        if broadcast_shapes("scatter", np.shape(updates), shape) != shape:
            raise ValueError(f"at[].set/add/...: cannot broadcast values of shape "
                             f"{updates.shape} to the shape {shape} of x[idx] for x of shape "
                             f"{x.shape}")
        updates = lax.reshape(broadcast_to_shape(updates, shape),
                              [n for (kind, sizes) in self.slots for n in sizes
                               if kind != "new"])
        updates = lax.transpose(updates, np.argsort(self.labels))
        if self.indices is None:
            return _combine_whole(scatter_fn, x, updates)
        return scatter_fn(x, self.indices, updates, self.axes, mode=mode)


def _adjacent(entries):
    kinds = [not (e is None or isinstance(e, slice)) for e in entries]
    first = kinds.index(True)
    last = len(kinds) - 1 - kinds[::-1].index(True)
    return all(kinds[first:last + 1])


def _normalize(i, n):
    """Negative indices count from the end (static ones now, traced ones with a select)."""
    if _is_int_scalar(i):
        return np.asarray(int(i) + n if i < 0 else int(i), dtypes.default_int())
    if isinstance(i, np.ndarray):
        i = i.astype(dtypes.default_int()) if np.iinfo(i.dtype).max < n or \
            i.dtype.kind == "u" else i  # int8 indices into an axis of 300: widen first
        return np.where(i < 0, i + n, i).astype(dtypes.default_int())
    if np.iinfo(i.dtype).max < n:
        i = lax.convert_element_type(i, dtypes.default_int())
    if i.dtype.kind == "u":
        return i
    return lax.select(lax.lt(i, 0), lax.add(i, lax.full(i.shape, n, i.dtype)), i)


def _combine_whole(scatter_fn, x, updates):
    """A scatter with no indexed axes: one update of the whole array (as a new leading axis)."""
    index = lax.full((1, 1), 0, dtypes.default_int())
    out = scatter_fn(lax.expand_dims(x, (0,)), index, lax.expand_dims(updates, (0,)), (0,),
                     mode="clip")
    return lax.squeeze(out, (0,))


# -- public entry points ---------------------------------------------------------------------
@eager_program
def getitem(x, index):
    x = asarray(x)
    x, entries = _expand(x, index)
    if _is_basic(entries):
        return _basic(x, entries)
    _check_not_empty(x, entries)
    return _Plan(x, entries).gather(x, "clip", None)


def _check_not_empty(x, entries, scalars_only=False):
    """An integer index into an empty axis has nothing to clamp to: the error of a static
    index, as in JAX (which drops updates at index *arrays* into an empty axis)."""
    axes = iter(range(x.ndim))
    for e in entries:
        d = None if e is None else next(axes)
        if d is not None and not isinstance(e, slice) and x.shape[d] == 0 and (
                not scalars_only or np.ndim(e) == 0):
            raise IndexError(f"index is out of bounds for axis {d} with size 0 (array shape "
                             f"{x.shape}): an empty axis has no element to pick")


_GET_MODES = {None: "clip", "clip": "clip", "promise_in_bounds": "clip", "fill": "fill",
              "drop": "fill"}
_SET_MODES = {None: "fill", "fill": "fill", "drop": "fill", "promise_in_bounds": "fill",
              "clip": "clip"}


def _mode(table, mode, what):
    try:
        return table[mode]
    except KeyError:
        raise ValueError(f"{what}: mode must be one of 'clip', 'fill', 'drop' or "
                         f"'promise_in_bounds', got {mode!r}") from None


class IndexUpdateHelper:
    """``x.at``: index it to get an ``_IndexUpdateRef``."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index):
        return _IndexUpdateRef(self.array, index)

    def __repr__(self):
        return f"_IndexUpdateHelper({self.array!r})"


def _check_hints(hints):
    """``indices_are_sorted``/``unique_indices`` are JAX's performance hints: accepted, and
    not needed here (results do not depend on them)."""
    unknown = set(hints) - {"indices_are_sorted", "unique_indices"}
    if unknown:
        raise TypeError(f"x.at[...]: unexpected keyword arguments {sorted(unknown)}")


class _IndexUpdateRef:
    """``x.at[idx]``: functional updates of the elements ``x[idx]``; ``x`` itself never
    changes. Indices repeated in ``idx`` accumulate for add/mul/min/max; for set one wins."""

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array, self.index = array, index

    def _plan(self):
        """The operand (with a length-1 axis for each 0-d boolean index) and the plan."""
        x, entries = _expand(asarray(self.array), self.index)
        _check_not_empty(x, entries, scalars_only=True)
        return x, _Plan(x, entries)

    def get(self, mode=None, fill_value=None, **hints):
        _check_hints(hints)
        x, plan = self._plan()
        return plan.gather(x, _mode(_GET_MODES, mode, "at[].get"), fill_value)

    def _update(self, fn, values, mode, hints):
        _check_hints(hints)
        x, plan = self._plan()
        out = plan.scatter(x, values, fn, _mode(_SET_MODES, mode, "at[] updates"))
        return lax.reshape(out, np.shape(self.array))  # drops the axes of 0-d boolean indices

    def set(self, values, mode=None, **hints):
        return self._update(lax.scatter, values, mode, hints)

    def add(self, values, mode=None, **hints):
        return self._update(lax.scatter_add, values, mode, hints)

    def multiply(self, values, mode=None, **hints):
        return self._update(lax.scatter_mul, values, mode, hints)

    mul = multiply

    def min(self, values, mode=None, **hints):  # noqa: A003 - JAX's name
        return self._update(lax.scatter_min, values, mode, hints)

    def max(self, values, mode=None, **hints):  # noqa: A003 - JAX's name
        return self._update(lax.scatter_max, values, mode, hints)

    def divide(self, values, mode=None, **hints):
        """Division by multiplying with reciprocals (ints are promoted to float, as JAX)."""
        from funcjax.numpy._ufuncs import reciprocal
        x = asarray(self.array)
        if x.dtype.kind != "f":
            x = lax.convert_element_type(x, dtypes.default_float())
        return _IndexUpdateRef(x, self.index).multiply(reciprocal(values), mode, **hints)

    def power(self, values, mode=None, **hints):
        """``x[idx] ** values``, applied once per occurrence of a repeated index as JAX and
        ``np.power.at`` do: ``(x ** a) ** b`` is ``x ** (a * b)``, so the exponents of each
        position multiply (positions not indexed keep exponent 1, and their value)."""
        from funcjax.numpy._ufuncs import power
        x = asarray(self.array)
        one = lax.full(x.shape, 1, x.dtype)
        exponents = _IndexUpdateRef(one, self.index).multiply(values, mode, **hints)
        return lax.select(lax.eq(exponents, one), x, power(x, exponents))


# -- take, take_along_axis, nonzero ----------------------------------------------------------
def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None):
    """``a`` indexed by ``indices`` along ``axis``; out-of-range gives ``fill_value`` (NaN for
    floats) unless ``mode`` is "clip" (as numpy and JAX: a negative index clips to 0, it does
    not count from the end) or "wrap" (indices modulo the axis size). The signature is
    JAX's: ``out`` must be None, and the index hints change nothing here."""
    check_no_out("take", out)
    a = asarray(a)
    if axis is None:
        a, axis = lax.reshape(a, (a.size,)), 0
    axis = canonical_axis("take", axis, a.ndim)
    indices = _as_index_array(indices)
    if mode in ("clip", "wrap"):
        from funcjax.numpy._ufuncs import remainder
        n = max(a.shape[axis], 1)
        indices = remainder(indices, n) if mode == "wrap" else lax.clamp(0, indices, n - 1)
        mode = "clip"
    index = (slice(None),) * axis + (indices,)
    return _IndexUpdateRef(a, index).get(mode="fill" if mode is None else mode,
                                         fill_value=fill_value)


def take_along_axis(arr, indices, axis, mode=None, fill_value=None):
    """``out[..., i, ...] = arr[..., indices[..., i, ...], ...]`` along ``axis`` (other axes
    broadcast between ``arr`` and ``indices``)."""
    arr, indices = asarray(arr), asarray(indices)
    if axis is None:
        arr, axis = lax.reshape(arr, (arr.size,)), 0
    if indices.ndim != arr.ndim:
        raise ValueError(f"take_along_axis: indices of shape {indices.shape} must have the "
                         f"same rank as arr of shape {arr.shape}")
    axis = canonical_axis("take_along_axis", axis, arr.ndim)
    index = []
    for d in range(arr.ndim):
        if d == axis:
            index.append(indices)
        else:
            n = arr.shape[d] if indices.shape[d] == 1 else indices.shape[d]
            shape = [1] * arr.ndim
            shape[d] = n
            index.append(lax.broadcasted_iota(dtypes.default_int(), shape, d))
    return _IndexUpdateRef(arr, tuple(index)).get(mode="fill" if mode is None else mode,
                                                  fill_value=fill_value)


def nonzero(a, *, size=None, fill_value=None):
    """Indices of the non-zero elements, one array per axis. The result's length depends on
    the values, so under a transformation ``size`` must be given (extra slots get
    ``fill_value``, default 0; extra non-zeros are dropped)."""
    a = asarray(a)
    if a.ndim == 0:
        raise ValueError("nonzero is not defined for 0-d arrays; use atleast_1d(a) first")
    if size is None:
        if isinstance(a, Tracer):
            raise ConcretizationTypeError(
                f"nonzero: the number of non-zero elements of the traced array "
                f"{a.aval.str_short()} is not known while tracing, so the result's shape "
                "is unknown. Pass size=... (and optionally fill_value=...) to fix it.")
        size = int(np.count_nonzero(np.asarray(a)))
    flat = lax.reshape(a, (a.size,))
    mask = lax.ne(flat, lax.full(flat.shape, 0, flat.dtype))
    int_t = dtypes.default_int()
    slot = lax.sub(lax.cumsum(lax.convert_element_type(mask, int_t)), 1)
    slot = lax.select(mask, slot, lax.full(slot.shape, size, int_t))
    positions = lax.scatter(lax.full((size,), -1, int_t), lax.reshape(slot, (a.size, 1)),
                            lax.iota(int_t, a.size), (0,), mode="fill")
    filled = lax.lt(positions, 0)
    fills = fill_value if isinstance(fill_value, (tuple, list)) else [fill_value] * a.ndim
    if len(fills) != a.ndim:
        raise ValueError(f"nonzero: fill_value needs {a.ndim} entries (one per axis), got "
                         f"{len(fills)}")
    out, stride = [], 1
    for d in reversed(range(a.ndim)):
        coord = lax.rem(lax.div(positions, lax.full((size,), stride, int_t)),
                        lax.full((size,), max(a.shape[d], 1), int_t))
        fill = lax.convert_element_type(asarray(0 if fills[d] is None else fills[d]), int_t)
        out.append(lax.select(filled, lax.broadcast_in_dim(fill, (size,), ()), coord))
        stride *= a.shape[d]
    return tuple(out[::-1])


def flatnonzero(a, *, size=None, fill_value=None):
    a = asarray(a)
    return nonzero(lax.reshape(a, (a.size,)), size=size, fill_value=fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    """The coordinates of the non-zero elements as rows of an ``(N, a.ndim)`` array."""
    a = asarray(a)
    coords = nonzero(lax.reshape(a, (1,)) if a.ndim == 0 else a, size=size,
                     fill_value=fill_value)
    n = coords[0].shape[0]
    if a.ndim == 0:
        return lax.full((n, 0), 0, dtypes.default_int())
    return lax.concatenate([lax.reshape(c, (n, 1)) for c in coords], 1)
