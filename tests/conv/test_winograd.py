"""The Winograd lowering of 3x3 stride-1 convolutions (backend/llvm/winograd.py), forced onto
small shapes: forward and gradients against float64 references, finite differences, jvp vs
vjp and the im2col lowering, across paddings, odd sizes (tiles over the edge), channel
counts, both tile sizes and NCHW/NHWC layouts.

Tolerance: a Winograd output is a sum of products of transformed values, and each transform
coefficient chain multiplies magnitudes by at most ``amp = max sum_j |A^T G B^T|`` per axis
(2 for F(2, 3), 4.67 for F(4, 3)), so the rounding error is bounded by a small multiple of
``amp^2 * eps * conv(|x|, |w|)``. Measured: at most 1.7 (F(2, 3)) and 12 (F(4, 3)) times
``eps * conv(|x|, |w|)``; the tests allow 8 * amp^2 (32 and 174). The transforms mix a
whole tile, so the scale of an output's error is the largest ``conv(|x|, |w|)`` of its tile
(an output beside nonzero ones can carry rounding residue where the exact value is 0)."""

import random
from fractions import Fraction

import numpy as np
import pytest
from conv_reference import conv_nchw
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import lower_conv, winograd


def _amplification(m):
    at, g, bt = winograd.matrices(m)
    n = len(bt)
    per_axis = max(sum(abs(at[i][j] * g[j][k] * bt[j][col]) for j in range(n))
                   for i in range(m) for k in range(3) for col in range(n))
    return float(per_axis) ** 2


def _tile_scale(bound, m):
    """The largest ``bound`` within m - 1 positions along the last two axes (which covers
    every tile holding an output)."""
    pad = [(0, 0)] * (bound.ndim - 2) + [(m - 1, m - 1)] * 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(bound, pad), (2 * m - 1,) * 2,
                                                       axis=(-2, -1))
    return windows.max(axis=(-2, -1))


@pytest.fixture
def forced(monkeypatch):
    """Winograd for every float convolution it can do; returns the calls it made, by kind."""
    monkeypatch.setattr(winograd, "MIN_FLOPS", 0)
    monkeypatch.setattr(winograd, "MIN_FEATURES", 1)
    monkeypatch.setattr(lower_conv, "BLAS_MIN_FLOPS", 1)
    calls = {"forward": 0, "weight_gradient": 0}
    def spy(kind, real):
        def counted(*args):
            calls[kind] += 1
            return real(*args)
        return counted
    for kind in calls:
        monkeypatch.setattr(winograd, kind, spy(kind, getattr(winograd, kind)))
    return calls


@pytest.mark.parametrize("m", sorted(winograd.POINTS))
def test_transforms_compute_a_correlation_exactly(m):
    at, g, bt = winograd.matrices(m)
    rng = random.Random(m)
    for _ in range(5):
        w = [Fraction(rng.randint(-9, 9)) for _ in range(3)]
        d = [Fraction(rng.randint(-9, 9)) for _ in range(m + 2)]
        gw = [sum(gj * wk for gj, wk in zip(row, w)) for row in g]
        bd = [sum(b * x for b, x in zip(row, d)) for row in bt]
        y = [sum(a * u * v for a, u, v in zip(row, gw, bd)) for row in at]
        assert y == [sum(w[k] * d[i + k] for k in range(3)) for i in range(m)]


def _layouts(x, w, layout):
    """(x, w, dimension_numbers, to NCHW) for an NCHW x and OIHW w."""
    if layout == "NCHW":
        return x, w, None, lambda y: y
    return (np.moveaxis(x, 1, -1), np.transpose(w, (2, 3, 1, 0)), ("NHWC", "HWIO", "NHWC"),
            lambda y: np.moveaxis(y, -1, 1))


@st.composite
def problems(draw):
    n = draw(st.integers(1, 2))
    c = draw(st.sampled_from([1, 2, 5, 16, 64]))
    o = draw(st.integers(1, 20))
    padding = draw(st.sampled_from(["SAME", "VALID", ((2, 0), (1, 3)), ((-1, 2), (0, 1))]))
    h, w = draw(st.integers(4, 11)), draw(st.integers(4, 11))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    k = rng.standard_normal((o, c, 3, 3))
    return x, k, padding


def _pads(x, padding):
    return lax.padtype_to_pads(x.shape[2:], (3, 3), (1, 1), padding) \
        if isinstance(padding, str) else padding


@settings(max_examples=12)
@given(problems(), st.sampled_from(sorted(winograd.POINTS)), st.sampled_from(["NCHW", "NHWC"]),
       st.sampled_from([None, 1, 3, 5]))
def test_forward_matches_float64_reference(forced, monkeypatch, problem, m, layout, block):
    """``block``: tiles per block (None: the default; small ones leave a partial last block)."""
    monkeypatch.setattr(winograd, "TILE", m)
    x, k, padding = problem
    if block is not None:
        monkeypatch.setattr(winograd, "MIN_BLOCK", 1)
        features = x.shape[1] + k.shape[0]
        monkeypatch.setattr(winograd, "BLOCK_BYTES", block * (m + 2) ** 2 * features * 4)
    x, k = x.astype(np.float32), k.astype(np.float32)
    pads = _pads(x, padding)
    expected = conv_nchw(x, k, (1, 1), pads, (1, 1), (1, 1))
    bound = conv_nchw(np.abs(x), np.abs(k), (1, 1), pads, (1, 1), (1, 1))
    xl, kl, dn, to_nchw = _layouts(x, k, layout)
    before = forced["forward"]
    got = funcjax.jit(lambda x, k: lax.conv_general_dilated(x, k, (1, 1), padding,
                                                            dimension_numbers=dn))(xl, kl)
    assert forced["forward"] == before + 1
    tol = 8 * _amplification(m) * np.finfo(np.float32).eps
    assert np.all(np.abs(to_nchw(np.asarray(got)) - expected) <= tol * _tile_scale(bound, m))


@pytest.mark.parametrize("m,layout,padding,shape,block", [
    (4, "NHWC", "SAME", (2, 7, 9), 5), (4, "NCHW", ((2, 0), (1, 3)), (1, 6, 5), None),
    (2, "NCHW", "SAME", (1, 5, 8), 5), (2, "NHWC", "VALID", (1, 9, 10), None)])
def test_float64_gradients_finite_differences_and_jvp_vs_vjp(x64, forced, monkeypatch, m,
                                                             layout, padding, shape, block):
    """``block``: gemm rows per block in all three convolutions (5 and 6 features each)."""
    monkeypatch.setattr(winograd, "TILE", m)
    if block is not None:
        monkeypatch.setattr(winograd, "MIN_BLOCK", 1)
        monkeypatch.setattr(winograd, "BLOCK_BYTES", block * (m + 2) ** 2 * 11 * 8)
    rng = np.random.default_rng(m)
    n, h, w = shape
    x, k = rng.standard_normal((n, 5, h, w)), rng.standard_normal((6, 5, 3, 3))
    xl, kl, dn, _ = _layouts(x, k, layout)

    def f(x, k):
        return lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=dn)
    out = f(xl, kl)
    ct = rng.standard_normal(out.shape)
    tx, tk = rng.standard_normal(xl.shape), rng.standard_normal(kl.shape)
    tangent = funcjax.jit(lambda *a: funcjax.jvp(f, a[:2], a[2:])[1])(xl, kl, tx, tk)
    gx, gk = funcjax.jit(lambda x, k, ct: funcjax.vjp(f, x, k)[1](ct))(xl, kl, ct)
    assert forced["forward"] >= 3 and forced["weight_gradient"] == 1
    np.testing.assert_allclose(np.vdot(np.asarray(tangent), ct),
                               np.vdot(tx, np.asarray(gx)) + np.vdot(tk, np.asarray(gk)),
                               rtol=1e-10)
    eps = 1e-3  # bilinear: the central difference is exact up to rounding
    fd = (np.asarray(f(xl + eps * tx, kl + eps * tk))
          - np.asarray(f(xl - eps * tx, kl - eps * tk))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), fd, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_float32_gradients_match_the_im2col_lowering(forced, monkeypatch, layout):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 16, 9, 11)).astype(np.float32)
    k = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    xl, kl, dn, _ = _layouts(x, k, layout)

    def loss(x, k, ct):
        return jnp.sum(lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn)
                       * ct)
    ct = rng.standard_normal(lax.conv_general_dilated(xl, kl, (1, 1), "SAME",
                                                      dimension_numbers=dn).shape)
    ct = ct.astype(np.float32)
    grad = funcjax.grad(loss, (0, 1))
    got = funcjax.jit(grad)(xl, kl, ct)
    assert forced["forward"] == 1 and forced["weight_gradient"] == 1  # ct * y: no forward
    monkeypatch.setattr(winograd, "MIN_FLOPS", 10 ** 18)
    im2col = funcjax.jit(lambda *a: grad(*a))(xl, kl, ct)
    # The input gradient is a convolution (of ct); scale its error by its tiles'. The weight
    # gradient sums over every tile: scale by its whole (its 3x3 output is one tile).
    bx, bk = (np.asarray(g) for g in funcjax.grad(loss, (0, 1))(
        np.abs(xl).astype(np.float64), np.abs(kl).astype(np.float64), np.abs(ct)))
    m = winograd.TILE
    bx = _tile_scale(bx if layout == "NCHW" else np.moveaxis(bx, -1, 1), m)
    bx = bx if layout == "NCHW" else np.moveaxis(bx, 1, -1)
    tol = 8 * _amplification(m) * np.finfo(np.float32).eps
    for a, b, bound in zip(got, im2col, (bx, np.full(bk.shape, bk.max()))):
        assert np.all(np.abs(np.asarray(a) - np.asarray(b)) <= tol * bound)


def test_other_convolutions_keep_im2col(forced):
    """Strides, dilations, groups and other kernel sizes are not Winograd's."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 10, 10)).astype(np.float32)
    pads = ((1, 1), (1, 1))
    for strides, dilation, groups, kernel in [((2, 2), (1, 1), 1, 3), ((1, 1), (2, 1), 1, 3),
                                              ((1, 1), (1, 1), 2, 3), ((1, 1), (1, 1), 1, 5)]:
        w = rng.standard_normal((8, 8 // groups, kernel, kernel)).astype(np.float32)
        got = funcjax.jit(lambda x, w, s=strides, d=dilation, g=groups: lax.conv_general_dilated(
            x, w, s, pads, rhs_dilation=d, feature_group_count=g))(x, w)
        np.testing.assert_allclose(np.asarray(got), conv_nchw(x, w, strides, pads, (1, 1),
                                                              dilation, groups),
                                   rtol=1e-4, atol=1e-4)
    assert forced == {"forward": 0, "weight_gradient": 0}
