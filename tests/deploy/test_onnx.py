"""funcjax.onnx.export: the exported MLP and CNN run in onnxruntime and agree with funcjax."""

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax

onnx_export = pytest.importorskip("funcjax.onnx", reason="needs the [onnx] extra").export
ort = pytest.importorskip("onnxruntime", reason="needs the [onnx] extra")

RNG = np.random.default_rng(2)


def run(model, *args):
    sess = ort.InferenceSession(model.SerializeToString())
    return sess.run(None, {f"x{k}": a for k, a in enumerate(args)})


def init_mlp(sizes):
    return [(RNG.standard_normal((m, n)).astype(np.float32) / np.sqrt(m),
             RNG.standard_normal(n).astype(np.float32) * 0.1) for m, n in zip(sizes, sizes[1:])]


def mlp(params, x):
    for w, b in params[:-1]:
        x = fj.nn.relu(x @ w + b)
    w, b = params[-1]
    return fj.nn.log_softmax(x @ w + b)


def cnn(params, x):
    k1, k2, w = params
    y = fj.nn.relu(lax.conv_general_dilated(x, k1, (1, 1), "SAME"))
    y = lax.reduce_window(y, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    y = jnp.tanh(lax.conv_general_dilated(y, k2, (2, 2), ((1, 0), (0, 1)),
                                          rhs_dilation=(1, 1)))
    return fj.nn.softmax(y.reshape(y.shape[0], -1) @ w)


def test_mlp_agrees_with_onnxruntime(tmp_path):
    params = init_mlp([10, 32, 16, 4])
    x = RNG.standard_normal((7, 10)).astype(np.float32)
    model = onnx_export(lambda x: mlp(params, x), x, tmp_path / "mlp.onnx")
    assert (tmp_path / "mlp.onnx").stat().st_size > 0
    got, = run(model, x)
    np.testing.assert_allclose(got, mlp(params, x), rtol=1e-5, atol=1e-5)


def test_cnn_agrees_with_onnxruntime():
    k1 = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    k2 = RNG.standard_normal((3, 4, 2, 2)).astype(np.float32)
    x = RNG.standard_normal((3, 2, 8, 8)).astype(np.float32)
    y = lax.conv_general_dilated(jnp.zeros((3, 4, 4, 4)), k2, (2, 2), ((1, 0), (0, 1)))
    w = RNG.standard_normal((int(np.prod(y.shape[1:])), 5)).astype(np.float32)
    params = (k1, k2, w)
    got, = run(onnx_export(lambda x: cnn(params, x), x), x)
    np.testing.assert_allclose(got, cnn(params, x), rtol=1e-4, atol=1e-5)


def test_shape_ops_comparisons_and_multiple_outputs():
    def f(a, b):
        c = jnp.concatenate([a, b.T], axis=0)[1:5:2]
        m = jnp.where(c > 0.5, jnp.exp(c), -c)
        return m.sum(axis=1), jnp.max(c, axis=0) != jnp.min(c, axis=0), jnp.argmax(c, axis=1)
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    b = RNG.standard_normal((4, 2)).astype(np.float32)
    got = run(onnx_export(f, a, b), a, b)
    for g, w in zip(got, f(a, b)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_unsupported_primitive_names_itself_and_the_line():
    def f(x):
        return jnp.sort(x)
    with pytest.raises(NotImplementedError, match=r"'sort'.*test_onnx.py:\d+"):
        onnx_export(f, np.ones(4, np.float32))
