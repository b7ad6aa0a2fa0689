"""conv_general_dilated against a tap-by-tap numpy loop (eager and jit, both lowerings), its
derivatives against finite differences and jvp vs vjp, the transpose identity, vmap with both
operands mapped, conv_transpose's shapes, and the errors for bad shapes."""

import numpy as np
import pytest
from conv_reference import conv_nchw
from hypothesis import given
from hypothesis import strategies as st

import funcjax
import funcjax.numpy
from funcjax import lax
from funcjax.backend.llvm import lower_conv


@st.composite
def conv_problems(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.sampled_from(["none", "feature", "batch"]))
    g = draw(st.integers(2, 3)) if groups != "none" else 1
    n = draw(st.integers(1, 2)) * (g if groups == "batch" else 1)
    i = draw(st.integers(1, 3))
    c = i * (g if groups == "feature" else 1)
    o = draw(st.integers(1, 3)) * g
    kernel = [draw(st.integers(1, 3)) for _ in range(nsp)]
    strides = [draw(st.integers(1, 2)) for _ in range(nsp)]
    lhs_dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    rhs_dil = [draw(st.integers(1, 2)) for _ in range(nsp)]
    padding = [(draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nsp)]
    sizes = []
    for k, ld, rd, (lo, hi) in zip(kernel, lhs_dil, rhs_dil, padding):
        need = 1 + rd * (k - 1) - lo - hi
        smallest = max(1, -(-max(need - 1, 0) // ld) + 1)  # the window must fit
        sizes.append(draw(st.integers(smallest, max(smallest, 6))))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal([n, c] + sizes).astype(np.float32)
    w = rng.standard_normal([o, c if groups != "feature" else i] + kernel).astype(np.float32)
    kw = dict(window_strides=strides, padding=padding, lhs_dilation=lhs_dil,
              rhs_dilation=rhs_dil, feature_group_count=g if groups == "feature" else 1,
              batch_group_count=g if groups == "batch" else 1)
    return x, w, kw


def _reference(x, w, kw):
    return conv_nchw(x, w, kw["window_strides"], kw["padding"], kw["lhs_dilation"],
                     kw["rhs_dilation"], kw["feature_group_count"], kw["batch_group_count"])


@given(conv_problems(), st.sampled_from(["NCHW", "NHWC"]))
def test_matches_loop_reference_eager_and_jit(problem, layout):
    x, w, kw = problem
    expected = _reference(x, w, kw)
    nsp = x.ndim - 2
    if layout == "NHWC":  # the same convolution with channels last and an HWIO kernel
        spatial = "HWD"[:nsp]
        dn = ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")
        x, w = np.moveaxis(x, 1, -1), np.moveaxis(w, (0, 1), (-1, -2))
        expected = np.moveaxis(expected, 1, -1)
    else:
        dn = None

    def f(x, w):
        return lax.conv_general_dilated(x, w, dimension_numbers=dn, **kw)
    np.testing.assert_allclose(np.asarray(f(x, w)), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(funcjax.jit(f)(x, w)), expected, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("layout", [None, ("NHWC", "HWIO", "NHWC"), ("NCHW", "HWIO", "NHWC")])
def test_blas_lowering_matches_direct_loops(monkeypatch, layout):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 5)).astype(np.float32)
    if layout is None:
        w = np.transpose(w, (3, 2, 0, 1))
    elif layout[0] == "NHWC":
        x = np.transpose(x, (0, 2, 3, 1))

    def f(x, w, scale):
        return lax.conv_general_dilated(x * scale, w, (2, 1), "SAME", rhs_dilation=(1, 2),
                                        dimension_numbers=layout)
    ref = np.asarray(f(x, w, 1.0))
    results = []
    for threshold in (1, 10 ** 15):  # a fresh trace each time (scale is new), so it relowers
        monkeypatch.setattr(lower_conv, "BLAS_MIN_FLOPS", threshold)
        results.append(np.asarray(funcjax.jit(lambda x, w: f(x, w, 1.0))(x, w)))
    for r in results:
        np.testing.assert_allclose(r, ref, rtol=1e-4, atol=1e-4)


@given(conv_problems())
def test_gradients_jvp_vs_vjp_and_finite_differences(x64, problem):
    x, w, kw = problem
    x, w = x.astype(np.float64), w.astype(np.float64)
    def f(x, w):
        return lax.conv_general_dilated(x, w, **kw)
    out, vjp = funcjax.vjp(f, x, w)
    rng = np.random.default_rng(0)
    ct = rng.standard_normal(np.shape(out))
    tx, tw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    _, tangent = funcjax.jvp(f, (x, w), (tx, tw))
    gx, gw = vjp(ct)
    # <J t, ct> == <t, J^T ct> ties forward and reverse mode together.
    np.testing.assert_allclose(np.vdot(np.asarray(tangent), ct),
                               np.vdot(tx, np.asarray(gx)) + np.vdot(tw, np.asarray(gw)),
                               rtol=1e-9)
    # The function is bilinear, so a central difference is exact up to rounding.
    eps = 1e-3
    fd = (_reference(x + eps * tx, w + eps * tw, kw)
          - _reference(x - eps * tx, w - eps * tw, kw)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), fd, rtol=1e-6, atol=1e-6)
    jit_grads = funcjax.jit(lambda x, w, ct: funcjax.vjp(f, x, w)[1](ct))(x, w, ct)
    for a, b in zip(jit_grads, (gx, gw)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)


@given(conv_problems())
def test_vmap_of_both_operands_matches_a_loop(problem):
    x, w, kw = problem
    xs, ws = np.stack([x, 2 * x]), np.stack([w, -w])

    def f(x, w):
        return lax.conv_general_dilated(x, w, **kw)
    batched = funcjax.vmap(f)(xs, ws)
    for k in range(2):
        np.testing.assert_allclose(np.asarray(batched[k]), _reference(xs[k], ws[k], kw),
                                   rtol=1e-4, atol=1e-4)
    mixed = funcjax.vmap(f, in_axes=(None, 0))(x, ws)
    np.testing.assert_allclose(np.asarray(mixed[1]), _reference(x, ws[1], kw), rtol=1e-4,
                               atol=1e-4)


def test_conv_transpose_is_the_gradient_of_a_strided_conv():
    """conv_transpose with transpose_kernel=True is the vjp of the forward conv (with the same
    padding string) when the forward output size divides evenly."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    dn = ("NHWC", "HWIO", "NHWC")
    for padding in ("SAME", "VALID"):
        def forward(x, padding=padding):
            return lax.conv_general_dilated(x, w, (2, 2), padding, dimension_numbers=dn)
        y, vjp = funcjax.vjp(forward, x)
        ct = rng.standard_normal(y.shape).astype(np.float32)
        out = lax.conv_transpose(ct, w, (2, 2), padding, dimension_numbers=dn,
                                 transpose_kernel=True)
        expected = np.asarray(vjp(ct)[0])
        rows, cols = min(out.shape[1], 8), min(out.shape[2], 8)
        np.testing.assert_allclose(np.asarray(out)[:, :rows, :cols], expected[:, :rows, :cols],
                                   rtol=1e-4, atol=1e-4)


def test_conv_dimension_numbers_from_strings():
    dn = lax.conv_dimension_numbers((1, 5, 6, 3), (2, 3, 3, 4), ("NHWC", "HWIO", "NHWC"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    assert lax.conv_dimension_numbers((1, 2, 3), (1, 2, 3), None).lhs_spec == (0, 1, 2)


def test_padding_strings():
    assert lax.padtype_to_pads((7, 6), (3, 3), (2, 2), "SAME") == ((1, 1), (0, 1))
    assert lax.padtype_to_pads((7, 6), (3, 3), (2, 2), "SAME_LOWER") == ((1, 1), (1, 0))
    assert lax.padtype_to_pads((7, 6), (3, 3), (2, 2), "VALID") == ((0, 0), (0, 0))


@pytest.mark.parametrize("lhs,rhs,kwargs,match", [
    ((1, 3, 5, 5), (2, 4, 3, 3), {}, r"3 input features.*rhs input-feature size 4"),
    ((1, 3, 5, 5), (2, 3, 3), {}, "same rank"),
    ((1, 4, 5, 5), (3, 2, 3, 3), {"feature_group_count": 2}, "multiple of"),
    ((3, 2, 5, 5), (4, 2, 3, 3), {"batch_group_count": 2}, "batch size 3"),
    ((1, 1, 3, 3), (1, 1, 5, 5), {}, r"window \(5, 5\) is larger"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"window_strides": (1,)}, "needs 2 entries, one per spatial"),
])
def test_bad_shapes_are_clear_errors(lhs, rhs, kwargs, match):
    kwargs = dict(dict(window_strides=(1, 1), padding="VALID"), **kwargs)
    with pytest.raises((TypeError, ValueError), match=match):
        lax.conv_general_dilated(np.ones(lhs, np.float32), np.ones(rhs, np.float32), **kwargs)


def test_bad_dimension_numbers_are_clear_errors():
    x, w = np.ones((1, 5, 5, 3), np.float32), np.ones((3, 3, 3, 2), np.float32)
    with pytest.raises(TypeError, match="layout 'NHC' has 3 letters"):
        lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHC", "HWIO", "NHWC"))
    with pytest.raises(ValueError, match="must name each axis once"):
        lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHHC", "HWIO", "NHWC"))
    with pytest.raises(TypeError, match="ConvDimensionNumbers or three"):
        lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers="NHWC")


def test_weight_gradient_lowering_by_output_position(monkeypatch):
    """A weight gradient is a convolution with few output positions and a large batch: the
    lowering builds one patch matrix per output position. Compare both lowerings."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 7, 6, 12)).astype(np.float32)  # 12 channels > 9 taps
    w = rng.standard_normal((3, 3, 12, 4)).astype(np.float32)
    dn = ("NHWC", "HWIO", "NHWC")

    def loss(x, w, scale):
        return jax_sum(lax.conv_general_dilated(x, w * scale, (1, 2), "SAME",
                                                dimension_numbers=dn) ** 2)
    expected = [np.asarray(g) for g in funcjax.grad(loss, (0, 1))(x, w, 1.0)]
    for threshold in (1, 10 ** 15):
        monkeypatch.setattr(lower_conv, "BLAS_MIN_FLOPS", threshold)
        got = funcjax.jit(funcjax.grad(lambda x, w: loss(x, w, 1.0), (0, 1)))(x, w)
        for a, b in zip(got, expected):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-4)


def jax_sum(x):
    return funcjax.numpy.sum(x)
