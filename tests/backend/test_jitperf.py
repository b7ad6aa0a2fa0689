"""Guards for the issue-12 kernel optimisations: each fast path against numpy or against the
plain path it replaces."""

import numpy as np
import pytest

import funcjax
from funcjax import lax


@pytest.mark.parametrize("lhs_shape, rhs_shape, dims", [
    ((64, 50), (50, 40, 1), (((1,), (0,)), ((), ()))),  # unit free axis after the contraction
    ((64, 50), (40, 50, 1), (((1,), (1,)), ((), ()))),  # jacfwd's layout: rhs transposed
    ((1, 64, 50), (40, 1, 50), (((2,), (2,)), ((), ()))),
    ((50, 1, 64), (50, 40), (((0,), (0,)), ((), ()))),  # lhs transposed, unit axis between
    ((3, 40, 1, 48), (3, 48, 36), (((3,), (1,)), ((0,), (0,)))),
])
def test_gemm_layouts_with_unit_axes_match_numpy(lhs_shape, rhs_shape, dims):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(lhs_shape).astype(np.float32)
    b = rng.standard_normal(rhs_shape).astype(np.float32)
    f = funcjax.jit(lambda a, b: lax.dot_general(a, b, dims))
    assert "sgemm" in f.lower(a, b).as_text("llvm")
    want = lax.dot_general(a.astype(np.float64), b.astype(np.float64), dims)
    np.testing.assert_allclose(f(a, b), np.asarray(want), rtol=1e-4, atol=1e-4)
