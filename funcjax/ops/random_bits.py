"""``threefry2x32``: the counter-based hash behind ``funcjax.random``, as one primitive.

Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) maps
a key ``(k1, k2)`` and a counter ``(x1, x2)`` of uint32 words to two uint32 words by 20
rounds of add / rotate / xor with a key injection every 4 rounds. It could be composed from
uint32 primitives, but as one primitive (as in JAX) eager runs it as a few in-place numpy
passes, a jaxpr shows one equation per hash instead of ~130, and the LLVM backend emits the
rounds in one loop over the elements.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import Primitive
from funcjax.interpreters.batching import align_batch_axes
from funcjax.interpreters.jvp import defjvp_zero
from funcjax.ops.typing import describe

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
PARITY = 0x1BD11BDA  # the key schedule's constant, from Threefish


def key_schedule(k1, k2):
    return k1, k2, k1 ^ k2 ^ PARITY


def _threefry_impl(k1, k2, x1, x2):
    u = np.uint32
    ks = key_schedule(k1, k2)
    x1, x2 = np.array(x1, u), np.array(x2, u)  # copies that the steps below update in place
    np.add(x1, ks[0], out=x1)
    np.add(x2, ks[1], out=x2)
    tmp = np.empty_like(x2)
    for i in range(5):
        for r in ROTATIONS[i % 2]:
            np.add(x1, x2, out=x1)
            np.right_shift(x2, u(32 - r), out=tmp)
            np.left_shift(x2, u(r), out=x2)
            np.bitwise_or(x2, tmp, out=x2)
            np.bitwise_xor(x2, x1, out=x2)
        np.add(x1, ks[(i + 1) % 3], out=x1)
        np.add(x2, ks[(i + 2) % 3], out=x2)
        np.add(x2, u(i + 1), out=x2)
    return [x1, x2]


def _threefry_type(k1, k2, x1, x2):
    avals = (k1, k2, x1, x2)
    if any(a.dtype != dtypes.uint32 for a in avals) or len({a.shape for a in avals}) != 1:
        raise TypeError(f"threefry2x32 needs four uint32 operands of one shape, got "
                        f"{describe(avals)}")
    return [ShapedArray(x1.shape, dtypes.uint32), ShapedArray(x1.shape, dtypes.uint32)]


def _threefry_batch(axis_data, args, dims):
    args, dim = align_batch_axes(args, dims, axis_data.size)
    return threefry2x32_p.bind(*args), [dim, dim]


def _threefry_cost(in_avals, out_avals, **params):
    # Per element: 20 rounds of add, two shifts, or, xor; 5 injections of three adds.
    return cost.Cost(flops=(20 * 5 + 5 * 3 + 3) * out_avals[0].size)


threefry2x32_p = Primitive("threefry2x32", multiple_results=True)
threefry2x32_p.def_impl(_threefry_impl)
threefry2x32_p.def_abstract_eval(_threefry_type)
defjvp_zero(threefry2x32_p)
threefry2x32_p.def_batch(_threefry_batch)
threefry2x32_p.def_cost(_threefry_cost)
# The lower rule is registered by funcjax/backend/llvm/lower_random.py (see its package doc).
