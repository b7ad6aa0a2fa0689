"""Structural, indexing, reduction, scan, contraction and sort primitives, for every dtype:
jit against eager. Values are chosen so that every result is exact in any evaluation order
(powers of two, small integers, NaN and infinities), so compiled reductions, dots and
products must match eager bit for bit even though they sum in another order."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcjax
from funcjax import lax
from funcjax.config import enable_x64

from .helpers import DTYPES, assert_matches, needs_x64

SHAPE = (3, 4)


def _values(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "f":
        return st.sampled_from([-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 2.0, np.nan, np.inf,
                                -np.inf])
    info = np.iinfo(dtype)
    return st.one_of(st.integers(max(-8, int(info.min)), 8),
                     st.sampled_from([int(info.min), int(info.max)]))


def program(x, y, rows, pairs, start0, start1):
    """Every structural primitive applied to ``x``/``y`` of SHAPE, gathers with ``rows``
    (indices into axis 0, some out of range) and ``pairs`` (into both axes)."""
    out = {}
    first_row = lax.slice(x, (0, 0), (1, 4))
    y_row = lax.reshape(lax.slice(y, (0, 0), (1, 4)), (4,))
    y_corner = lax.slice(y, (0, 0), (2, 2))
    fill = lax.reshape(lax.slice(y, (0, 0), (1, 1)), ())
    updates = lax.broadcast_in_dim(y_row, (5, 4), (1,))

    def add(name, thunk):
        try:
            out[name] = thunk()
        except TypeError:  # the primitive does not take this dtype (same eagerly and traced)
            pass

    add("broadcast", lambda: lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)))
    add("broadcast_1", lambda: lax.broadcast_in_dim(first_row, (3, 4), (0, 1)))
    add("reshape", lambda: lax.reshape(lax.neg(x) if x.dtype != bool else x, (4, 3)))
    add("expand_squeeze", lambda: lax.squeeze(lax.expand_dims(x, (0, 2)), (0,)))
    add("transpose", lambda: lax.transpose(x, (1, 0)))
    add("rev", lambda: lax.rev(x, (0, 1)))
    add("slice", lambda: lax.slice(x, (0, 1), (3, 4), (2, 2)))
    add("pad", lambda: lax.pad(x, fill, ((1, -1, 1), (-2, 2, 0))))
    add("concatenate", lambda: lax.concatenate([x, y, first_row], 0))
    add("iota", lambda: lax.broadcasted_iota(x.dtype if x.dtype != bool else np.int32, (3, 5), 1))
    for axes in ((0,), (1,), (0, 1)):
        for r in ("sum", "prod", "max", "min", "and", "or"):
            add(f"reduce_{r}{axes}", lambda r=r, axes=axes: getattr(lax, f"reduce_{r}")(x, axes))
    for axis in (0, 1):
        add(f"argmax{axis}", lambda axis=axis: lax.argmax(x, axis, np.int32))
        add(f"argmin{axis}", lambda axis=axis: lax.argmin(x, axis, np.int32))
        for c in ("cumsum", "cumprod", "cummax", "cummin"):
            for rev in (False, True):
                add(f"{c}{axis}{rev}", lambda c=c, axis=axis, rev=rev:
                    getattr(lax, c)(x, axis, rev))
    add("dot", lambda: lax.dot_general(x, y, (((1,), (1,)), ((), ()))))
    add("dot_batch", lambda: lax.dot_general(x, y, (((1,), (1,)), ((0,), (0,)))))
    add("dot_outer", lambda: lax.dot_general(x, y, (((), ()), ((), ()))))
    add("dot_f32", lambda: lax.dot_general(x, y, (((0,), (0,)), ((), ())), np.float32))
    for mode in ("clip", "fill"):
        add(f"gather_rows_{mode}", lambda mode=mode: lax.gather(x, rows, (0,), mode))
        add(f"gather_pairs_{mode}", lambda mode=mode: lax.gather(x, pairs, (0, 1), mode))
        for s in ("scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max"):
            add(f"{s}_{mode}", lambda s=s, mode=mode: getattr(lax, s)(x, rows, updates, (0,),
                                                                      mode))
    add("dynamic_slice", lambda: lax.dynamic_slice(x, (start0, start1), (2, 3)))
    add("dynamic_update_slice", lambda: lax.dynamic_update_slice(x, y_corner, (start0, start1)))
    add("sort", lambda: lax.sort(x, 1))
    add("sort_keys", lambda: lax.sort((x, y, lax.neg(y) if y.dtype != bool else y), 0,
                                      num_keys=2))
    add("select_scalar", lambda: lax.select_n(lax.gt(start0, 0), x, y))
    return out


_JITTED = {}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_structural_primitives_match_eager(dtype):
    index = st.integers(-3, 6)

    @settings(max_examples=20, deadline=None)
    @given(hnp.arrays(dtype, SHAPE, elements=_values(dtype)),
           hnp.arrays(dtype, SHAPE, elements=_values(dtype)),
           hnp.arrays(np.int32, (5, 1), elements=index),
           hnp.arrays(np.int32, (2, 2), elements=index), index, index)
    def check(x, y, rows, pairs, s0, s1):
        with enable_x64(needs_x64(dtype)):
            jitted = _JITTED.setdefault(np.dtype(dtype), funcjax.jit(program))
            args = (x, y, rows, pairs, np.int32(s0), np.int32(s1))
            with np.errstate(all="ignore"):
                want = program(*args)
            got = jitted(*args)
            assert set(got) == set(want)
            for name in want:
                if isinstance(want[name], (tuple, list)):
                    for k, (g, w) in enumerate(zip(got[name], want[name])):
                        assert_matches(g, w, True, f"{name}[{k}] of {x}, {y}")
                else:
                    assert_matches(got[name], want[name], True, f"{name} of {x}, {y}")
    check()
