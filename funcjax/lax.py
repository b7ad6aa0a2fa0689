"""``funcjax.lax``: the primitives as functions, with JAX's ``jax.lax`` names and arguments.

lax functions do not broadcast or promote (except that a Python scalar takes the dtype of the
array it meets, as in JAX); ``funcjax.numpy`` does that and then calls these.
"""

import builtins

import numpy as np

from funcjax.core import dtypes
from funcjax.core.array import Array
from funcjax.core.namespace import public_dir
from funcjax.core.shapes import canonicalize_shape
from funcjax.core.trace import Tracer
from funcjax.lax_conv import (  # noqa: F401
    ConvDimensionNumbers,
    conv,
    conv_dimension_numbers,
    conv_general_dilated,
    conv_transpose,
    conv_with_general_padding,
    padtype_to_pads,
)
from funcjax.ops import collectives, contractions, conversion, indexing, reductions, sorting
from funcjax.ops import complex_ops as _cx
from funcjax.ops import elementwise as ew
from funcjax.ops import shape as sh
from funcjax.ops import special as _special
from funcjax.ops.control_flow import (  # noqa: F401
    cond,
    fori_loop,
    map,  # noqa: A004 - JAX's name (this module calls _ints, never map)
    scan,
    switch,
    while_loop,
)
from funcjax.ops.fft import fft  # noqa: F401
from funcjax.ops.windows import reduce_window  # noqa: F401


def _ints(values):
    return tuple(int(v) for v in values)


def _is_python_scalar(x):
    return isinstance(x, (bool, int, float, builtins.complex)) and not isinstance(x, np.generic)


_ARRAY_TYPES = (Array, Tracer)


def _match_scalars(name, *args):
    """Python scalars become weakly typed constants of the dtype of the array operands."""
    for a in args:
        if not isinstance(a, _ARRAY_TYPES):
            break
    else:
        return args
    arrays = [a for a in args if not _is_python_scalar(a)]
    if not arrays:
        return args
    ref = arrays[0]
    dtype = ref.dtype if isinstance(ref, (Array, Tracer)) else \
        dtypes.canonicalize(np.asarray(ref).dtype)
    shape = np.shape(ref)
    out = []
    for a in args:
        if _is_python_scalar(a):
            a = full(shape, a, dtype, weak_type=True) if shape else \
                Array(np.asarray(a, dtype), weak_type=True)
        out.append(a)
    return out


def _binary(prim):
    def op(x, y):
        return prim.bind(*_match_scalars(prim.name, x, y))
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}`` of two arrays of one shape and dtype."
    op.primitive = prim  # funcjax.numpy's eager fast path binds it directly
    return op


def _unary(prim):
    def op(x):
        return prim.bind(x)
    op.__name__ = prim.name
    op.__doc__ = f"Elementwise ``{prim.name}``."
    op.primitive = prim
    return op


for _p in (ew.exp_p, ew.exp2_p, ew.log_p, ew.log1p_p, ew.expm1_p, ew.sin_p, ew.cos_p, ew.tan_p,
           ew.asin_p, ew.acos_p, ew.atan_p, ew.sinh_p, ew.cosh_p, ew.tanh_p, ew.asinh_p,
           ew.acosh_p, ew.atanh_p, ew.logistic_p, ew.sqrt_p, ew.rsqrt_p, ew.cbrt_p, ew.erf_p,
           ew.floor_p, ew.ceil_p, ew.is_finite_p, ew.neg_p, ew.sign_p, ew.abs_p, ew.not_p):
    globals()[_p.name] = _unary(_p)

for _p in (ew.add_p, ew.sub_p, ew.mul_p, ew.div_p, ew.rem_p, ew.pow_p, ew.max_p, ew.min_p,
           ew.atan2_p, ew.nextafter_p, ew.eq_p, ew.ne_p, ew.lt_p, ew.le_p, ew.gt_p, ew.ge_p,
           ew.and_p, ew.or_p, ew.xor_p, ew.shift_left_p, ew.shift_right_logical_p,
           ew.shift_right_arithmetic_p):
    globals()[_p.name] = _binary(_p)

for _p in (_special.erf_inv_p, _special.erfc_p, _special.lgamma_p, _special.digamma_p):
    globals()[_p.name] = _unary(_p)
igamma, igammac = _special.igamma, _special.igammac

bitwise_not = globals()["not"]
bitwise_and, bitwise_or, bitwise_xor = globals()["and"], globals()["or"], globals()["xor"]


def round(x, rounding_method=0):  # noqa: A001 - JAX's name
    """Rounds to integral values: 0 = away from zero (JAX's default), 1 = to nearest even."""
    return ew.round_p.bind(x, rounding_method=int(rounding_method))


def integer_pow(x, y):
    """``x ** y`` for a static integer ``y`` (``y == 1`` stages nothing)."""
    y = int(y)
    return x if y == 1 and isinstance(x, (Array, Tracer)) else ew.integer_pow_p.bind(x, y=y)


def square(x):
    return integer_pow(x, 2)


def reciprocal(x):
    return integer_pow(x, -1)


def clamp(min, x, max):  # noqa: A002 - JAX's argument names
    return ew.min_p.bind(ew.max_p.bind(*_match_scalars("clamp", x, min)),
                         *_match_scalars("clamp", x, max)[1:])


def convert_element_type(x, new_dtype, weak_type=False):
    new_dtype = dtypes.canonicalize(new_dtype)
    if type(x) is Array and x._aval.dtype == new_dtype and x._aval.weak_type == weak_type:
        return x
    if not isinstance(x, Tracer):
        # Constants convert now, so traced programs show the converted literal.
        value = np.asarray(x)
        if value.dtype == new_dtype and isinstance(x, Array) and x.weak_type == weak_type:
            return x
        impl = conversion.convert_element_type_p.rule("impl")
        return Array(impl(value, new_dtype=new_dtype), weak_type=bool(weak_type))
    if x.dtype == new_dtype and x.weak_type == weak_type:
        return x
    return conversion.convert_element_type_p.bind(x, new_dtype=new_dtype,
                                                  weak_type=bool(weak_type))


def select_n(which, *cases):
    return conversion.select_n_p.bind(which, *cases)


def select(pred, on_true, on_false):
    return conversion.select_n_p.bind(pred, on_false, on_true)


def stop_gradient(x):
    """The identity whose derivative is zero (applied leafwise to pytrees)."""
    from funcjax.tree_util import tree_map
    return tree_map(conversion.stop_gradient_p.bind, x)


# -- shapes ----------------------------------------------------------------------------------
def broadcast_in_dim(operand, shape, broadcast_dimensions):
    shape = canonicalize_shape(shape, "lax.broadcast_in_dim")
    dims = tuple(builtins.map(int, broadcast_dimensions))
    if np.shape(operand) == shape and dims == tuple(range(len(shape))):
        return operand
    return sh.broadcast_in_dim_p.bind(operand, shape=shape, broadcast_dimensions=dims)


def broadcast(operand, sizes):
    nd = np.ndim(operand)
    return broadcast_in_dim(operand, tuple(sizes) + np.shape(operand),
                            range(len(sizes), len(sizes) + nd))


def reshape(operand, new_sizes, dimensions=None):
    if dimensions is not None:
        operand = transpose(operand, dimensions)
    new_sizes = canonicalize_shape(new_sizes, "lax.reshape", "new_sizes")
    if np.shape(operand) == new_sizes:
        return operand
    return sh.reshape_p.bind(operand, new_sizes=new_sizes)


def squeeze(array, dimensions):
    dims = tuple(int(d) % builtins.max(np.ndim(array), 1) for d in dimensions)
    return sh.squeeze_p.bind(array, dimensions=dims) if dims else array


def expand_dims(array, dimensions):
    nd = np.ndim(array) + len(dimensions)
    dims = tuple(sorted(int(d) % nd for d in dimensions))
    return sh.expand_dims_p.bind(array, dimensions=dims) if dims else array


def transpose(operand, permutation):
    perm = tuple(int(p) for p in permutation)
    if perm == tuple(range(len(perm))):
        return operand
    return sh.transpose_p.bind(operand, permutation=perm)


def concatenate(operands, dimension):
    operands = list(operands)
    if len(operands) == 1:
        return operands[0]
    return sh.concatenate_p.bind(*operands, dimension=int(dimension))


def pad(operand, padding_value, padding_config):
    if _is_python_scalar(padding_value):
        padding_value = convert_element_type(padding_value, operand.dtype)
    config = tuple((int(lo), int(hi), int(i)) for lo, hi, i in padding_config)
    return sh.pad_p.bind(operand, padding_value, padding_config=config)


def rev(operand, dimensions):
    dims = tuple(int(d) for d in dimensions)
    return sh.rev_p.bind(operand, dimensions=dims) if dims else operand


def slice(operand, start_indices, limit_indices, strides=None):  # noqa: A001
    start, limit = _ints(start_indices), _ints(limit_indices)
    strides = None if strides is None or all(s == 1 for s in strides) else _ints(strides)
    if start == (0,) * len(start) and limit == np.shape(operand) and strides is None:
        return operand
    return sh.slice_p.bind(operand, start_indices=start, limit_indices=limit, strides=strides)


def slice_in_dim(operand, start_index, limit_index, stride=1, axis=0):
    shape = np.shape(operand)
    axis = axis % len(shape)
    start, limit, step = builtins.slice(start_index, limit_index, stride).indices(shape[axis])
    starts = [0] * len(shape)
    limits = list(shape)
    strides = [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, builtins.max(limit, start), step
    return slice(operand, starts, limits, strides)


def iota(dtype, size):
    return sh.iota_p.bind(dtype=dtypes.canonicalize(dtype),
                          shape=canonicalize_shape(size, "lax.iota", "size"), dimension=0)


def broadcasted_iota(dtype, shape, dimension):
    return sh.iota_p.bind(dtype=dtypes.canonicalize(dtype),
                          shape=canonicalize_shape(shape, "lax.broadcasted_iota"),
                          dimension=int(dimension))


# -- indexing --------------------------------------------------------------------------------
def _index_scalars(indices, shape, where):
    """Start indices as integer scalars; as in JAX a negative one counts from the end (before
    the primitive clamps the slice into the operand)."""
    out = []
    for i, n in zip(indices, shape):
        kind = "b" if isinstance(i, (bool, np.bool_)) else np.result_type(
            i.dtype if hasattr(i, "dtype") else type(i)).kind
        if kind not in "iu":
            raise TypeError(f"{where}: start_indices must be integers, got {i!r:.40} of dtype "
                            f"{np.result_type(getattr(i, 'dtype', type(i)))}; convert them "
                            "with .astype(int) or jnp.int32(...)")
        if _is_python_scalar(i) or np.ndim(i) == 0:
            i = convert_element_type(i, dtypes.default_int())
        if np.dtype(i.dtype).kind == "i":
            negative = ew.lt_p.bind(i, full((), 0, i.dtype))
            i = select(negative, ew.add_p.bind(i, full((), n, i.dtype)), i)
        out.append(i)
    return out


def dynamic_slice(operand, start_indices, slice_sizes):
    starts = _index_scalars(start_indices, np.shape(operand), "lax.dynamic_slice")
    return indexing.dynamic_slice_p.bind(operand, *starts,
                                         slice_sizes=tuple(int(s) for s in slice_sizes))


def dynamic_update_slice(operand, update, start_indices):
    starts = _index_scalars(start_indices, np.shape(operand), "lax.dynamic_update_slice")
    return indexing.dynamic_update_slice_p.bind(operand, update, *starts)


def dynamic_slice_in_dim(operand, start_index, slice_size, axis=0):
    starts = [0] * np.ndim(operand)
    starts[axis] = start_index
    sizes = list(np.shape(operand))
    sizes[axis] = slice_size
    return dynamic_slice(operand, starts, sizes)


def dynamic_index_in_dim(operand, index, axis=0, keepdims=True):
    out = dynamic_slice_in_dim(operand, index, 1, axis)
    return out if keepdims else squeeze(out, (axis,))


def dynamic_update_slice_in_dim(operand, update, start_index, axis):
    starts = [0] * np.ndim(operand)
    starts[axis] = start_index
    return dynamic_update_slice(operand, update, starts)


def gather(operand, indices, axes, mode="clip", fill_value=None):
    """``operand`` indexed along ``axes`` by the rows of ``indices`` (shape ``B + (k,)``)."""
    return indexing.gather_p.bind(operand, indices, axes=tuple(axes), mode=mode,
                                  fill_value=fill_value)


def _scatter(prim):
    def op(operand, indices, updates, axes, mode="fill"):
        return prim.bind(operand, indices, updates, axes=tuple(axes), mode=mode)
    op.__name__ = prim.name
    return op


scatter = _scatter(indexing.scatter_p)
scatter_add = _scatter(indexing.scatter_add_p)
scatter_mul = _scatter(indexing.scatter_mul_p)
scatter_min = _scatter(indexing.scatter_min_p)
scatter_max = _scatter(indexing.scatter_max_p)


# -- reductions ------------------------------------------------------------------------------
def _reducer(prim):
    def op(operand, axes):
        return prim.bind(operand, axes=tuple(builtins.map(int, axes)))
    op.__name__ = prim.name
    return op


reduce_sum = _reducer(reductions.reduce_sum_p)
reduce_prod = _reducer(reductions.reduce_prod_p)
reduce_max = _reducer(reductions.reduce_max_p)
reduce_min = _reducer(reductions.reduce_min_p)
reduce_and = _reducer(reductions.reduce_and_p)
reduce_or = _reducer(reductions.reduce_or_p)


def argmax(operand, axis, index_dtype):
    return reductions.argmax_p.bind(operand, axis=int(axis),
                                    index_dtype=dtypes.canonicalize(index_dtype))


def argmin(operand, axis, index_dtype):
    return reductions.argmin_p.bind(operand, axis=int(axis),
                                    index_dtype=dtypes.canonicalize(index_dtype))


def _cumulative(prim):
    def op(operand, axis=0, reverse=False):
        return prim.bind(operand, axis=int(axis) % builtins.max(np.ndim(operand), 1),
                         reverse=bool(reverse))
    op.__name__ = prim.name
    return op


cumsum = _cumulative(reductions.cumsum_p)
cumprod = _cumulative(reductions.cumprod_p)
cummax = _cumulative(reductions.cummax_p)
cummin = _cumulative(reductions.cummin_p)


# -- contractions and sorting ----------------------------------------------------------------
def dot_general(lhs, rhs, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((_ints(lc), _ints(rc)), (_ints(lb), _ints(rb)))
    pet = None if preferred_element_type is None else dtypes.canonicalize(preferred_element_type)
    return contractions.dot_general_p.bind(lhs, rhs, dimension_numbers=dn,
                                           preferred_element_type=pet)


def dot(lhs, rhs, preferred_element_type=None):
    """Vector/matrix product of rank-1 or rank-2 operands."""
    return dot_general(lhs, rhs, (((np.ndim(lhs) - 1,), (0,)), ((), ())),
                       preferred_element_type)


def sort(operand, dimension=-1, is_stable=True, num_keys=1):
    multiple = isinstance(operand, (tuple, list))
    operands = list(operand) if multiple else [operand]
    dim = int(dimension) % builtins.max(np.ndim(operands[0]), 1)
    out = sorting.sort_p.bind(*operands, dimension=dim, is_stable=bool(is_stable),
                              num_keys=int(num_keys))
    return tuple(out) if multiple else out[0]



def top_k(operand, k):
    """``[values, indices]``: the ``k`` largest entries along the last axis and their int32
    indices, largest first (NaN above everything, ties by lower index), as JAX's ``top_k``."""
    n, k = np.shape(operand)[-1], int(k)
    if not 0 <= k <= n:
        raise ValueError(f"top_k: k must be in [0, {n}] for an operand of shape "
                         f"{np.shape(operand)}, got {k}")
    shape, last = np.shape(operand), np.ndim(operand) - 1
    # An ascending sort on (value, reversed position), read backwards: descending values,
    # and equal values in increasing position.
    backwards = ew.sub_p.bind(full(shape, n - 1, np.int32),
                              broadcasted_iota(np.int32, shape, last))
    values, backwards = sort((operand, backwards), last, num_keys=2)
    values, backwards = (rev(slice_in_dim(x, n - k, n, axis=last), (last,))
                         for x in (values, backwards))
    return [values, ew.sub_p.bind(full(backwards.shape, n - 1, np.int32), backwards)]

def full(shape, fill_value, dtype=None, weak_type=False):
    """An array of ``shape`` filled with a scalar (broadcast, not materialised per element)."""
    shape = canonicalize_shape(shape, "lax.full")
    if _is_python_scalar(fill_value):
        dtype = dtypes.canonicalize(dtype) if dtype is not None else \
            dtypes.python_scalar_dtype(fill_value)
        fill_value = Array(np.asarray(fill_value, dtype), weak_type=weak_type)
    elif dtype is not None:
        fill_value = convert_element_type(fill_value, dtype, weak_type)
    return broadcast_in_dim(fill_value, shape, ())


# -- collectives: across the members of a named mapped axis (vmap/pmap axis_name) ----------
def _names(where, axis_name):
    """``axis_name`` as a tuple of names, each checked to be bound by an enclosing map."""
    names = tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)
    collectives.axis_sizes(where, names)
    return names


def _one_name(where, axis_name):
    names = _names(where, axis_name)
    if len(names) != 1:
        raise NotImplementedError(f"{where} over several axes {names} is not supported; apply "
                                  f"it over one axis name at a time")
    return names[0]


def _leafwise(fn, x):
    from funcjax.tree_util import tree_map
    # A Python scalar stays weakly typed, as in JAX: psum(1, 'i') is a weak int.
    return tree_map(lambda leaf: fn(full((), leaf, weak_type=True) if _is_python_scalar(leaf)
                                    else leaf), x)


def _axis(axis, x, extra=0):
    """A possibly negative axis of ``x`` (with ``extra`` axes about to be added) as a
    non-negative one."""
    return int(axis) % builtins.max(np.ndim(x) + extra, 1)


def _bind_checked(prim, x, **params):
    """Binds a collective after checking its type: under vmap no type rule runs, and the
    error should name the per-member shape the user wrote."""
    from funcjax.interpreters.eval import aval_of
    prim.abstract_eval_rule(aval_of(x), **params)
    return prim.bind(x, **params)


def axis_size(axis_name):
    """The number of members of the named axis (the product, for a tuple of names)."""
    return int(np.prod(collectives.axis_sizes("axis_size", _names("axis_size", axis_name))))


def _reduce_over_axes(prim, doc):
    def op(x, axis_name):
        names = _names(prim.name, axis_name)
        return _leafwise(lambda v: _bind_checked(prim, v, axis_name=names), x)
    op.__name__, op.__doc__ = prim.name, doc
    return op


psum = _reduce_over_axes(collectives.psum_p, "The sum of ``x`` over every member of the named "
                         "axis (or tuple of axes), leafwise on pytrees.")
pmax = _reduce_over_axes(collectives.pmax_p, "The maximum over the named axis (or axes).")
pmin = _reduce_over_axes(collectives.pmin_p, "The minimum over the named axis (or axes).")


def pmean(x, axis_name):
    """The mean over the named axis (or axes); integers are averaged as floats."""
    n = axis_size(axis_name)

    def mean(v):
        if not dtypes.is_float(v.dtype):
            v = convert_element_type(v, dtypes.default_float())
        return psum(v, axis_name) / n
    return _leafwise(mean, x)


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every member's ``x``, stacked along a new ``axis`` (``tiled``: concatenated along it)."""
    name = _one_name("all_gather", axis_name)
    size = axis_size(name)
    return _leafwise(lambda v: _bind_checked(
        collectives.all_gather_p, v, axis_name=name, axis=_axis(axis, v, not tiled),
        axis_size=size, tiled=bool(tiled)), x)


def psum_scatter(x, axis_name, *, scatter_dimension=0, tiled=False):
    """The psum, of which member k keeps block k along ``scatter_dimension``."""
    name = _one_name("psum_scatter", axis_name)
    size = axis_size(name)
    return _leafwise(lambda v: _bind_checked(
        collectives.psum_scatter_p, v, axis_name=name,
        scatter_dimension=_axis(scatter_dimension, v), axis_size=size, tiled=bool(tiled)), x)


def all_to_all(x, axis_name, split_axis, concat_axis, *, tiled=False):
    """Member m sends chunk k of ``x`` (split along ``split_axis``) to member k, which puts the
    chunks it receives together along ``concat_axis``, ordered by sender."""
    name = _one_name("all_to_all", axis_name)
    size = axis_size(name)
    return _leafwise(lambda v: _bind_checked(
        collectives.all_to_all_p, v, axis_name=name, split_axis=_axis(split_axis, v),
        concat_axis=_axis(concat_axis, v), axis_size=size, tiled=bool(tiled)), x)


def ppermute(x, axis_name, perm):
    """Member ``s`` sends ``x`` to member ``t`` for each ``(s, t)`` in ``perm``; members that
    receive nothing get zeros."""
    name = _one_name("ppermute", axis_name)
    size = axis_size(name)
    perm = tuple((int(s), int(t)) for s, t in perm)
    for what, ends in (("source", [s for s, _ in perm]), ("destination", [t for _, t in perm])):
        if len(set(ends)) != len(ends) or any(not 0 <= e < size for e in ends):
            raise ValueError(f"ppermute: perm={perm} must name each {what} at most once, "
                             f"within the {size} members of axis {name!r}")
    return _leafwise(lambda v: _bind_checked(collectives.ppermute_p, v, axis_name=name,
                                             perm=perm), x)


def axis_index(axis_name):
    """This member's position along the named axis; for a tuple of names, the position in
    their product, the first name the most significant."""
    names = _names("axis_index", axis_name)
    sizes = collectives.axis_sizes("axis_index", names)
    index = None
    for name, size in zip(names, sizes):
        here = collectives.axis_index_p.bind(axis_name=name)
        index = here if index is None else index * size + here
    return index


# -- complex numbers -------------------------------------------------------------------------
def real(x):
    return _cx.real_p.bind(x)


def imag(x):
    return _cx.imag_p.bind(x)


def conj(x):
    """The complex conjugate; a real operand becomes complex first, as in JAX."""
    if not dtypes.is_complex(np.result_type(x) if not hasattr(x, "dtype") else x.dtype):
        x = convert_element_type(x, dtypes.complex_dtype(x.dtype))
    return _cx.conj_p.bind(x)


def complex(x, y):  # noqa: A001 - JAX's name
    """``x + i y`` from two float arrays of one shape and dtype."""
    return _cx.complex_p.bind(*_match_scalars("complex", x, y))


from funcjax import lax_linalg as linalg  # noqa: E402,F401 - jax.lax.linalg

__dir__ = public_dir(globals())
