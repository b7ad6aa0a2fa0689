"""The pooling primitives exported to ONNX (MaxPool/AveragePool) agree with funcjax in
onnxruntime."""

import numpy as np
import pytest

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
