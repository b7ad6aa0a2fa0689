"""Transposing copies are written in tiles with an in-register transpose (backend/llvm/
transpose.py): the results equal numpy's over odd shapes, batch axes, dtypes and fusions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import fusion, lowering

SIDES = [1, 7, 16, 17, 33, 255]


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("shape, dtype", [
    ((16, 16), np.float32), ((17, 255), np.float32), ((255, 17), np.int32), ((7, 33), np.float32),
    ((1, 40), np.float32), ((33, 1), np.int32), ((64, 48), np.float16), ((40, 33), np.bool_)])
def test_transpose_2d(shape, dtype):
    x = (_rng().standard_normal(shape) * 10).astype(dtype)
    out = jax.jit(lambda v: jnp.transpose(v) * 1)(x)
    np.testing.assert_array_equal(np.asarray(out), (x.T * 1).astype(out.dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_transpose_64_bit(dtype):
    with jax.enable_x64(True):
        x = (_rng().standard_normal((17, 255)) * 100).astype(dtype)
        out = jax.jit(lambda v: v.T + 1)(x)
        assert out.dtype == dtype
        np.testing.assert_array_equal(np.asarray(out), x.T + 1)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.sampled_from(SIDES), min_size=2, max_size=4)
       .filter(lambda s: np.prod(s) <= 1 << 20), st.randoms())
def test_permutations_with_batch_axes(shape, rnd):
    """Shapes up to 2**20 elements (255**4 floats would take 17 GB)."""
    perm = list(range(len(shape)))
    rnd.shuffle(perm)
    x = _rng().standard_normal(shape).astype(np.float32)
    out = jax.jit(lambda v: jnp.transpose(v, perm) * 2.0)(x)
    np.testing.assert_array_equal(np.asarray(out), np.transpose(x, perm) * np.float32(2.0))


def test_fused_with_untransposed_operands():
    rng = _rng()
    w = rng.standard_normal((255, 33)).astype(np.float32)
    g = rng.standard_normal((33, 255)).astype(np.float32)
    out = jax.jit(lambda w, g: w - 0.01 * g.T + jnp.sin(g).T)(w, g)
    np.testing.assert_allclose(np.asarray(out), w - np.float32(0.01) * g.T + np.sin(g).T,
                               rtol=1e-6, atol=1e-6)


def test_two_transposes_and_a_slice_after():
    """A transpose read through a slice or of another transpose is not staged (its index is
    not the tile's), and still correct."""
    rng = _rng()
    a = rng.standard_normal((40, 70)).astype(np.float32)
    b = rng.standard_normal((70, 40)).astype(np.float32)
    out = jax.jit(lambda a, b: a.T + b + a.T[::-1] * 0.5)(a, b)
    np.testing.assert_allclose(np.asarray(out), a.T + b + a.T[::-1] * np.float32(0.5),
                               rtol=1e-6)
    out = jax.jit(lambda a, b: (a.T + b)[3:50, 1:] + b.T.T[3:50, 1:])(a, b)
    np.testing.assert_allclose(np.asarray(out), (a.T + b)[3:50, 1:] + b[3:50, 1:], rtol=1e-6)


def test_a_transposed_product_result_is_marked_for_tiles():
    closed = jax.make_jaxpr(lambda w, g: w - 0.01 * g.T)(jnp.ones((64, 32)), jnp.ones((32, 64)))
    info = fusion.analyse(closed.jaxpr, lowering.rule_of)
    assert list(info.transposed.values()) == [0]


def test_transposes_in_loops_and_grads():
    rng = _rng()
    x = rng.standard_normal((24, 40)).astype(np.float32)
    w = rng.standard_normal((40, 24)).astype(np.float32)

    def f(x):
        return jnp.sum(jnp.sin(x.T) * w)
    g = jax.jit(jax.grad(f))(x)
    np.testing.assert_allclose(np.asarray(g), np.cos(x) * w.T, rtol=1e-5, atol=1e-6)

    def body(c, _):
        return c.T * 0.5 + 1.0, None
    sq = rng.standard_normal((32, 32)).astype(np.float32)
    out = jax.jit(lambda c: lax.scan(body, c, None, length=3)[0])(sq)
    ref = sq
    for _ in range(3):
        ref = ref.T * np.float32(0.5) + np.float32(1.0)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5, 40, 33), (17, 64, 20)])
def test_matmul_operand_copies_in_tiles(shape):
    """A gemm operand whose contraction axis is in the middle is copied to (rows, k) first,
    through the tiles."""
    rng = _rng()
    a = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1], 48)).astype(np.float32)
    out = jax.jit(lambda a, w: jnp.einsum("ikj,kl->ijl", a, w))(a, w)
    np.testing.assert_allclose(np.asarray(out), np.einsum("ikj,kl->ijl", a, w), rtol=1e-4,
                               atol=1e-4)
