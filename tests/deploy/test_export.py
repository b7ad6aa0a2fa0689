"""funcjax.export: serialise -> deserialise -> call equals the original (eager, under jit,
vjp, vmap); corrupt, truncated and newer files are refused."""

import struct

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.export import MAGIC, DeserializationError, deserialize, export

RNG = np.random.default_rng(0)
W = RNG.standard_normal((4, 5)).astype(np.float32)
B = RNG.standard_normal(5).astype(np.float32)


def mlp(x, extra):
    h = jnp.tanh(x @ W + B)
    return {"out": h * 2.0 + extra["shift"], "norm": [jnp.sum(h ** 2)]}


def loopy(x):
    y = lax.fori_loop(0, 3, lambda i, c: c * 0.5 + jnp.sin(c), x)
    return lax.cond(jnp.sum(y) > 0, lambda v: v * 2, lambda v: -v, y)


X = RNG.standard_normal((3, 4)).astype(np.float32)
EXTRA = {"shift": np.float32(0.25) + np.zeros(5, np.float32)}


def roundtrip(f, *args):
    return deserialize(export(fj.jit(f))(*args).serialize())


def test_roundtrip_call_eager_and_jit():
    exp = roundtrip(mlp, X, EXTRA)
    want = mlp(X, EXTRA)
    for got in (exp.call(X, EXTRA), fj.jit(exp.call)(X, EXTRA)):
        np.testing.assert_allclose(got["out"], want["out"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["norm"][0], want["norm"][0], rtol=1e-5)
    assert [a.shape for a in exp.in_avals] == [(3, 4), (5,)]
    assert [a.shape for a in exp.out_avals] == [(), (3, 5)]  # dict keys sorted


def test_export_from_shape_dtype_structs():
    spec = fj.ShapeDtypeStruct((3, 4), np.float32)
    exp = deserialize(export(fj.jit(loopy))(spec).serialize())
    np.testing.assert_allclose(exp.call(X), loopy(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.call(-X), loopy(-X), rtol=1e-5, atol=1e-6)


def test_vjp_of_exported_matches_original():
    exp = roundtrip(mlp, X, EXTRA)
    ct = RNG.standard_normal((3, 5)).astype(np.float32)
    _, f_vjp = fj.vjp(lambda x: mlp(x, EXTRA)["out"], X)
    _, e_vjp = fj.vjp(lambda x: exp.call(x, EXTRA)["out"], X)
    np.testing.assert_allclose(e_vjp(ct)[0], f_vjp(ct)[0], rtol=1e-5, atol=1e-6)
    g = fj.grad(lambda x: exp.call(x, EXTRA)["norm"][0])(X)
    eps = 1e-3
    e = np.zeros_like(X)
    e[1, 2] = eps
    fd = (mlp(X + e, EXTRA)["norm"][0] - mlp(X - e, EXTRA)["norm"][0]) / (2 * eps)
    np.testing.assert_allclose(g[1, 2], fd, rtol=2e-2)


def test_vmap_of_exported_matches_loop():
    exp = roundtrip(loopy, X)
    xs = RNG.standard_normal((4, 3, 4)).astype(np.float32)
    got = fj.vmap(exp.call)(xs)
    np.testing.assert_allclose(got, np.stack([loopy(x) for x in xs]), rtol=1e-5, atol=1e-6)


def test_conv_model_roundtrip():
    k = RNG.standard_normal((2, 1, 3, 3)).astype(np.float32)

    def cnn(x):
        y = lax.conv_general_dilated(x, k, (1, 1), "SAME")
        return jnp.max(jnp.maximum(y, 0.0), axis=(2, 3))
    x = RNG.standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(roundtrip(cnn, x).call(x), cnn(x), rtol=1e-5, atol=1e-5)


def test_wrong_argument_type_is_refused():
    exp = roundtrip(loopy, X)
    with pytest.raises(TypeError, match="exported for float32\\[3, 4\\]"):
        exp.call(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="structure"):
        exp.call(X, X)


def test_export_needs_jit():
    with pytest.raises(TypeError, match="jit"):
        export(loopy)


def test_corrupt_truncated_and_foreign_data_rejected():
    data = export(fj.jit(mlp))(X, EXTRA).serialize()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    with pytest.raises(DeserializationError, match="checksum"):
        deserialize(bytes(flipped))
    for cut in (len(data) - 1, len(data) // 2, 20):
        with pytest.raises(DeserializationError):
            deserialize(data[:cut])
    with pytest.raises(DeserializationError, match="magic"):
        deserialize(b"PK\x03\x04" + data)
    newer = bytearray(data)
    struct.pack_into("<I", newer, len(MAGIC), 99)
    with pytest.raises(DeserializationError, match="schema version 99"):
        deserialize(bytes(newer))


def test_unknown_primitive_rejected():
    import hashlib
    data = export(fj.jit(lambda x: jnp.sin(x)))(X).serialize()
    body = data[:-32].replace(b'"prim":"sin"', b'"prim":"zzz"')
    with pytest.raises(DeserializationError, match="primitive 'zzz'"):
        deserialize(body + hashlib.sha256(body).digest())
