"""funcjax.quantize: int8 weights (per-channel), int8 x int8 -> int32 products in generated
code; a trained MLP keeps its accuracy within one point at about a quarter of the size."""

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax.quantize import quantize, quantize_weight
from funcjax.tools.parallel_training import loss
from funcjax.tools.parallel_training import predict as mlp

RNG = np.random.default_rng(3)
C, D = 5, 20
CENTERS = RNG.standard_normal((C, D)).astype(np.float32) * 0.45


def data(n):
    y = RNG.integers(0, C, n)
    return (CENTERS[y] + RNG.standard_normal((n, D))).astype(np.float32), y


@pytest.fixture(scope="module")
def trained():
    sizes = [D, 128, 64, C]
    p = [(RNG.standard_normal((m, n)).astype(np.float32) / np.sqrt(m), np.zeros(n, np.float32))
         for m, n in zip(sizes, sizes[1:])]
    step = fj.jit(lambda p, x, y: fj.tree_map(lambda a, g: a - 0.1 * g, p,
                                              fj.grad(loss)(p, x, y)))
    xt, yt = data(2000)
    for i in range(150):
        k = (i * 100) % 2000
        p = step(p, xt[k:k + 100], yt[k:k + 100])
    return p, xt


def test_accuracy_within_one_point_and_4x_smaller(trained):
    p, xt = trained
    xv, yv = data(2000)
    q = quantize(mlp, p, xt[:256])
    r = q.report(xv, yv)
    assert r["quantized_products"] == 3
    assert 0.6 < r["float32_accuracy"] < 0.999  # a task where errors are possible
    assert abs(r["int8_accuracy"] - r["float32_accuracy"]) <= 0.01
    assert r["size_ratio"] > 3.4
    want = np.asarray(mlp(p, xv))
    err = np.abs(np.asarray(q(xv)) - want).max() / np.abs(want).max()
    assert err < 0.05


def test_generated_code_multiplies_int8_with_int32_accumulation(trained):
    p, xt = trained
    q = quantize(mlp, p, xt[:64])
    ir = q._run.lower(xt[:8]).as_text("llvm")
    jaxpr = q._run.lower(xt[:8]).as_text()
    assert "i8[" in jaxpr and "preferred_element_type=int32" in jaxpr
    assert "sext i8" in ir


def test_quantize_weight_per_channel():
    w = RNG.standard_normal((6, 4)).astype(np.float32) * np.array([1, 10, 0.1, 0], np.float32)
    q, s = quantize_weight(w, 1)
    assert q.dtype == np.int8 and s.shape == (4,)
    np.testing.assert_allclose(q * s, w, atol=float(np.max(s)) / 2 + 1e-7)
    for j in range(3):
        assert np.max(np.abs(q[:, j])) == 127
        assert np.max(np.abs(q[:, j] * s[j] - w[:, j])) <= s[j] / 2 + 1e-7


def test_nothing_to_quantize_is_an_error():
    with pytest.raises(ValueError, match="quantize"):
        quantize(lambda p, x: x * p, np.float32(2.0), np.ones(3, np.float32))


def cnn(params, x):
    k1, k2, w = params
    y = jnp.maximum(fj.lax.conv_general_dilated(x, k1, (1, 1), "SAME"), 0.0)
    y = jnp.maximum(fj.lax.conv_general_dilated(y, k2, (2, 2), "SAME"), 0.0)
    return y.reshape(y.shape[0], -1) @ w


def test_cnn_convolutions_are_quantized_and_agree():
    k1 = RNG.standard_normal((8, 3, 3, 3)).astype(np.float32) / 5
    k2 = RNG.standard_normal((16, 8, 3, 3)).astype(np.float32) / 8
    w = RNG.standard_normal((16 * 4 * 4, C)).astype(np.float32) / 16
    params = (k1, k2, w)
    x = RNG.standard_normal((32, 3, 8, 8)).astype(np.float32)
    q = quantize(cnn, params, x[:16])
    assert len(q.act_scales) == 3 and q.qweights[0][1].shape == (8,)
    jaxpr = q._run.lower(x).as_text()
    assert jaxpr.count("preferred_element_type=int32") == 3
    want = np.asarray(cnn(params, x))
    got = np.asarray(q(x))
    assert np.abs(got - want).max() / np.abs(want).max() < 0.05
    assert np.mean(np.argmax(got, -1) == np.argmax(want, -1)) > 0.9
    before, after = q.nbytes()
    assert before / after > 3.4
