"""sort: sorts several operands together along one axis by the first ``num_keys`` of them.

NaNs sort last, as in JAX. Returning all operands permuted alike gives argsort (sort an iota
along with the keys) and sort-by-key without a gather.
"""

import numpy as np

from funcjax.core import cost
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import align_batch_axes, batched_axis
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import Zero, tangent_aval
from funcjax.ops.lazy import lax
from funcjax.ops.typing import check_axes, describe


def _sort(*operands, dimension, is_stable=True, num_keys=1):
    keys = [np.moveaxis(k, dimension, -1) for k in operands[:num_keys]]
    # lexsort sorts by its last key first; NaN compares last in numpy's sort order.
    order = np.lexsort(keys[::-1], axis=-1) if num_keys > 1 else np.argsort(
        keys[0], axis=-1, kind="stable")
    return [np.moveaxis(np.take_along_axis(np.moveaxis(x, dimension, -1), order, axis=-1),
                        -1, dimension) for x in operands]


def _sort_type(*operands, dimension, is_stable=True, num_keys=1):
    if not operands or not 1 <= num_keys <= len(operands):
        raise TypeError(f"sort: num_keys={num_keys} needs between 1 and {len(operands)} keys")
    shape = operands[0].shape
    if any(o.shape != shape for o in operands):
        raise TypeError(f"sort: all operands must have one shape, got {describe(operands)}")
    check_axes("sort", (dimension,), len(shape))
    return [ShapedArray(o.shape, o.dtype, o.weak_type) for o in operands]


sort_p = define_primitive("sort", _sort, _sort_type, multiple_results=True)


def take_along_axis(x, positions, axis):
    """``x`` reordered along ``axis`` by integer ``positions`` of the same shape (a gather)."""
    grids = [positions if d == axis else lax.broadcasted_iota(positions.dtype, x.shape, d)
             for d in range(x.ndim)]
    indices = lax.concatenate([lax.expand_dims(g, (x.ndim,)) for g in grids], x.ndim)
    return lax.gather(x, indices, tuple(range(x.ndim)), mode="clip")


def _sort_jvp(primals, tangents, *, dimension, is_stable=True, num_keys=1):
    # Sorting an iota along with the operands gives the permutation the tangents follow.
    iota = lax.broadcasted_iota(np.int32, primals[0].shape, dimension)
    *outs, perm = sort_p.bind(*primals, iota, dimension=dimension, is_stable=is_stable,
                              num_keys=num_keys)
    out_tangents = [Zero(tangent_aval(aval_of(o))) if type(t) is Zero else
                    take_along_axis(t, perm, dimension) for o, t in zip(outs, tangents)]
    return outs, out_tangents


sort_p.def_jvp(_sort_jvp)


def _sort_batch(axis_data, args, dims, *, dimension, is_stable=True, num_keys=1):
    args, dim = align_batch_axes(args, dims, axis_data.size)
    out = sort_p.bind(*args, dimension=batched_axis(dimension, dim), is_stable=is_stable,
                      num_keys=num_keys)
    return out, [dim] * len(out)


sort_p.def_batch(_sort_batch)
sort_p.def_cost(cost.sort_like)
