"""The blocked int8 x int8 -> int32 kernel (lower_int8_dot) equals numpy's int32 product for
every layout, batch, ragged size and extreme value, eagerly and under jit and vmap."""

import platform

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as fj
from funcjax import lax
from funcjax.backend.llvm import lower_int8_dot

RNG = np.random.default_rng(5)


@pytest.fixture(params=["vnni", "pairs"], autouse=True)
def kernel(request, monkeypatch):
    """Both kernels: 4-way vpdpbusd (where the CPU has AVX-512 VNNI) and 2-way int16 pairs."""
    if request.param == "vnni" and not lower_int8_dot.vnni():
        pytest.skip("this CPU has no AVX-512 VNNI")
    if request.param == "pairs":
        monkeypatch.setattr(lower_int8_dot, "vnni", lambda: False)
    return request.param


def i8(*shape):
    return RNG.integers(-128, 128, shape).astype(np.int8)


def int8_dot(dn):
    return fj.jit(lambda a, b: lax.dot_general(a, b, dn, preferred_element_type=np.int32))


def reference(a, b, dn):
    return np.asarray(lax.dot_general(a.astype(np.int64), b.astype(np.int64), dn)).astype(
        np.int32)


@settings(max_examples=6, deadline=None)
@given(m=st.integers(1, 21), k=st.integers(1, 70), n=st.integers(1, 70),
       ta=st.booleans(), tb=st.booleans())
def test_matrix_product_any_size_and_layout(m, k, n, ta, tb):
    a, b = i8(m, k), i8(k, n)
    dn = (((0 if ta else 1,), (1 if tb else 0,)), ((), ()))
    got = int8_dot(dn)(a.T.copy() if ta else a, b.T.copy() if tb else b)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, a.astype(np.int32) @ b.astype(np.int32))


def test_extremes_and_wraparound():
    # -128 * -128 summed over many terms: exact where int32 holds it, wraps like numpy beyond
    a = np.full((5, 300), -128, np.int8)
    b = np.full((300, 40), -128, np.int8)
    got = int8_dot((((1,), (0,)), ((), ())))(a, b)
    np.testing.assert_array_equal(got, np.full((5, 40), 300 * 128 * 128, np.int32))


@pytest.mark.parametrize("dn, sa, sb", [
    ((((2,), (1,)), ((0,), (0,))), (3, 9, 33), (3, 33, 17)),   # batched
    ((((1,), (2,)), ((0,), (0,))), (2, 40, 6), (2, 35, 40)),   # batched, transposed
    ((((1, 2), (0, 1)), ((), ())), (6, 5, 7), (5, 7, 37)),     # two contracting axes
])
def test_batched_and_multi_axis(dn, sa, sb):
    a, b = i8(*sa), i8(*sb)
    np.testing.assert_array_equal(int8_dot(dn)(a, b), reference(a, b, dn))


def test_vmap_matches_loop():
    a, b = i8(4, 12, 50), i8(50, 33)
    f = fj.vmap(lambda x: lax.dot_general(x, b, (((1,), (0,)), ((), ())),
                                          preferred_element_type=np.int32))
    got = fj.jit(f)(a)
    np.testing.assert_array_equal(got, np.stack([x.astype(np.int32) @ b for x in a]))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 code")
def test_generated_code_uses_the_multiply_add_instructions(kernel):
    a = i8(64, 64)
    asm = int8_dot((((1,), (0,)), ((), ()))).lower(a, a).compile().as_text()
    if kernel == "vnni":
        assert "vpdpbusd" in asm
    else:
        assert "vpmaddwd" in asm or "vpdpwssd" in asm or "pmaddwd" in asm


@pytest.mark.parametrize("xs, ks, dn, strides, pad", [
    ((3, 5, 9, 9), (7, 5, 3, 3), None, (1, 1), "SAME"),                   # im2col
    ((2, 3, 9, 9), (5, 3, 3, 3), None, (2, 2), ((1, 0), (0, 2))),          # direct loop
    ((2, 6, 6, 8), (3, 3, 8, 16), ("NHWC", "HWIO", "NHWC"), (1, 1), "SAME"),
    ((64, 3, 4, 4), (8, 3, 4, 4), None, (1, 1), "VALID"),                 # by position
])
def test_int8_convolution_is_exact(xs, ks, dn, strides, pad):
    x, k = i8(*xs), i8(*ks)

    def conv(x, k, **kw):
        return lax.conv_general_dilated(x, k, strides, pad, dimension_numbers=dn, **kw)
    got = fj.jit(lambda x, k: conv(x, k, preferred_element_type=np.int32))(x, k)
    assert got.dtype == np.int32
    # float32 is exact here: every partial sum is an integer below 2^24
    want = fj.jit(conv)(x.astype(np.float32), k.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want).astype(np.int64))
