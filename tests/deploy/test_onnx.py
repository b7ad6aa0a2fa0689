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
    return sess.run(None, {f"x{k}": np.asarray(a) for k, a in enumerate(args)})


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


def agree(f, *args, rtol=1e-5, atol=1e-6):
    got = run(onnx_export(f, *args), *args)
    want = f(*[jnp.asarray(a) for a in args])
    want = want if isinstance(want, (tuple, list)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


X = RNG.standard_normal((5, 4)).astype(np.float32)
IDX = np.array([0, 4, -1, 2, 7, -9], np.int32)  # negative, and out of range both ways


@pytest.mark.parametrize("f", [
    lambda x, i: x[i],                                     # gather rows (clip)
    lambda x, i: x[:, i[:3] % 4],                          # gather along axis 1
    lambda x, i: jnp.take(x, i, axis=0, mode="fill"),      # out of range -> NaN... filled
    lambda x, i: jnp.take_along_axis(x, jnp.abs(i[:5, None]) % 4, axis=1),
    lambda x, i: x.at[i].add(1.5),                         # scatter-add, duplicates
    lambda x, i: x.at[i[:2]].set(-3.0),
    lambda x, i: x.at[i, 1].multiply(2.0),
    lambda x, i: x.at[i].max(0.5, mode="drop"),            # out-of-range updates dropped
], ids=["rows", "cols", "fill", "along_axis", "add", "set", "mul", "max_drop"])
def test_gather_and_scatter(f):
    agree(f, X, IDX)


def test_gather_fill_value_nan():
    got, = run(onnx_export(lambda x, i: jnp.take(x, i, axis=0, mode="fill"), X, IDX), X, IDX)
    want = np.asarray(jnp.take(X, IDX, axis=0, mode="fill"))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_dynamic_slice_and_update_clamp_like_jax():
    def f(x, s):
        a = lax.dynamic_slice(x, (s, s - 1), (3, 2))
        return a, lax.dynamic_update_slice(x, -a, (s + 1, 2 * s))
    for s in (np.int32(0), np.int32(1), np.int32(3), np.int32(-2), np.int32(40)):
        agree(f, X, s)


def test_cumsum_and_sort():
    def f(x):
        order = jnp.argsort(x, axis=0)
        return (jnp.cumsum(x, axis=1), jnp.cumsum(x[::-1], axis=0), jnp.sort(x, axis=1), order,
                *lax.top_k(x, 3), *lax.sort((x[:, 0], x[:, 1], x[:, 2]), num_keys=2))
    ties = np.round(X * 2) / 2  # equal keys: stable order
    agree(f, ties)


def test_cumulative_products_maxima_minima():
    def f(x, i):
        return (jnp.cumprod(x, axis=1), lax.cummax(x, axis=0, reverse=True), lax.cummin(x, 1),
                lax.cummax(i, axis=1), jnp.cumprod(i, axis=0), lax.cummin(x > 0, axis=1))
    agree(f, X, (np.arange(20, dtype=np.int32) % 7 - 3).reshape(5, 4))


def test_cond_and_switch():
    def f(x, k):
        a = lax.cond(x.sum() > 0, lambda x: x * 2, lambda x: -x, x)
        b = lax.switch(k, [lambda x: x + 1, lambda x: jnp.sin(x), lambda x: x @ x.T[:, :4]], x)
        return a, b
    for k in (np.int32(-1), np.int32(0), np.int32(1), np.int32(2), np.int32(5)):
        agree(f, X, k)
        agree(f, -X, k)


def test_while_fori_and_scan():
    def f(x, n):
        w = lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 1.5 + x), (0, x))
        fo = lax.fori_loop(0, 3, lambda i, c: c * 2 + i, x)
        c, ys = lax.scan(lambda c, r: (c + r, c * r), x[0], x)
        cr, ysr = lax.scan(lambda c, r: (c * 0.5 + r, jnp.tanh(c)), x[0], x, reverse=True)
        return w[0], w[1], fo, c, ys, cr, ysr
    for n in (np.int32(0), np.int32(3)):
        agree(f, X, n)


def test_training_step_with_loops_and_indexing():
    # an MLP step: gradients (scatter/gather transposes) and a fori_loop of updates
    params = init_mlp([4, 8, 3])
    y = np.array([0, 2, 1, 1, 0], np.int32)

    def loss(p, x):
        logp = mlp(p, x)
        return -jnp.mean(logp[jnp.arange(5), y])

    def train(x):
        p = lax.fori_loop(0, 3, lambda i, p: fj.tree_map(lambda a, g: a - 0.1 * g, p,
                                                          fj.grad(loss)(p, x)), params)
        return loss(p, x)
    agree(train, X, rtol=1e-4, atol=1e-5)


def test_rounding_boolean_reductions_and_integer_bitwise():
    def f(x, i):
        return (jnp.round(x * 3), lax.round(x * 3), x // 0.3, jnp.any(x > 1, axis=1),
                jnp.all(x > -2), i ^ 3, i & 6, ~i, (i > 0) ^ (x > 0), jnp.exp2(x))
    agree(f, X, (np.arange(20, dtype=np.int32) - 7).reshape(5, 4))


def test_quantized_models_run_in_onnxruntime():
    """funcjax.quantize's int8 products become MatMulInteger and ConvInteger."""
    from funcjax.quantize import quantize
    mlp_params = init_mlp([10, 16, 4])
    x = RNG.standard_normal((7, 10)).astype(np.float32)
    k1 = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32)
    w = RNG.standard_normal((4 * 8 * 8, 5)).astype(np.float32) / 16
    img = RNG.standard_normal((3, 2, 8, 8)).astype(np.float32)

    def cnn1(params, x):
        y = fj.nn.relu(lax.conv_general_dilated(x, params[0], (1, 1), "SAME"))
        return y.reshape(y.shape[0], -1) @ params[1]
    for f, params, data in ((mlp, mlp_params, x), (cnn1, (k1, w), img)):
        q = quantize(f, params, data)
        model = onnx_export(q, data)
        assert {"MatMulInteger"} <= {n.op_type for n in model.graph.node}
        got, = run(model, data)
        np.testing.assert_allclose(got, q(data), rtol=1e-5, atol=1e-5)


def test_unsupported_primitive_names_itself_and_the_line():
    def f(x):
        return jnp.linalg.cholesky(x @ x.T + jnp.eye(4))
    with pytest.raises(NotImplementedError, match=r"'cholesky'.*test_onnx.py:\d+"):
        onnx_export(f, np.ones((4, 4), np.float32))
