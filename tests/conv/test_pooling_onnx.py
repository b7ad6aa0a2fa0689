"""The pooling primitives exported to ONNX (MaxPool/AveragePool) agree with funcjax in
onnxruntime."""

import numpy as np
import pytest

import funcjax
from funcjax import lax

onnx_export = pytest.importorskip("funcjax.onnx", reason="needs the [onnx] extra").export
ort = pytest.importorskip("onnxruntime", reason="needs the [onnx] extra")


def pools(x):
    nhwc_max = lax.reduce_window(x, -np.inf, lax.max, (1, 3, 2, 1), (1, 2, 1, 1), "SAME")
    nhwc_min = lax.reduce_window(x, np.inf, lax.min, (1, 2, 2, 1), (1, 2, 2, 1), "VALID",
                                 window_dilation=(1, 2, 1, 1))
    nchw_sum = lax.reduce_window(x, 0.0, lax.add, (1, 1, 2, 3), (1, 1, 1, 2),
                                 ((0, 0), (0, 0), (1, 0), (1, 1)))
    return nhwc_max, nhwc_min, nchw_sum


def test_pools_agree_with_onnxruntime():
    x = np.random.default_rng(0).standard_normal((2, 5, 6, 3)).astype(np.float32)
    model = onnx_export(pools, x)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})
    for a, b in zip(got, pools(x)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)


def pooling_grads(x, w_max, w_min):
    """The gradients of max- and min-pooling (overlapping windows, padding, ties): their
    jaxprs hold select_and_scatter_add."""
    mx = lambda v: (lax.reduce_window(v, -np.inf, lax.max, (1, 3, 2, 1), (1, 2, 1, 1),  # noqa
                                      "SAME") * w_max).sum()
    mn = lambda v: (lax.reduce_window(v, np.inf, lax.min, (1, 2, 3, 1), (1, 1, 2, 1),  # noqa
                                      "VALID", window_dilation=(1, 2, 1, 1)) * w_min).sum()
    return funcjax.grad(mx)(x), funcjax.grad(mn)(x)


def test_pooling_gradients_agree_with_onnxruntime():
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 7, 6, 3)).astype(np.float32)  # small integers: many ties
    w_max = rng.standard_normal((2, 4, 6, 3)).astype(np.float32)
    w_min = rng.standard_normal((2, 5, 2, 3)).astype(np.float32)
    assert "select_and_scatter_add" in str(funcjax.make_jaxpr(pooling_grads)(x, w_max, w_min))
    model = onnx_export(pooling_grads, x, w_max, w_min)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    got = session.run(None, dict(zip(names, (x, w_max, w_min))))
    for a, b in zip(got, pooling_grads(x, w_max, w_min)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
