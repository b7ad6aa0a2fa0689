"""Reductions of pytrees in one exchange (``spmd_group``): pmap still equals vmap for trees of
mixed dtypes and sizes (split or not), transposed operands, chained reductions, and under grad,
jit and vmap; and the per-device program really holds one grouped reduction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import spmd_group
from funcjax.core.abstract import ShapedArray
from funcjax.interpreters.batching import AxisData
from funcjax.interpreters.spmd import trace_per_device
from funcjax.ops.collectives import psum_p

NDEV = funcjax.device_count()
DTYPES = [np.float32, np.float64, np.int32, np.float16]
# per-device shapes; (3, 4000) is large enough that psum splits the work between devices
SHAPES = [(), (5,), (3, 4), (3, 4000)]


def _tree(rng, n, picks):
    return {f"l{k}": (rng.standard_normal((n,) + SHAPES[s]) * 4).astype(DTYPES[d])
            for k, (d, s) in enumerate(picks)}


def _close(got, want):
    for k in want:
        tol = 2e-2 if want[k].dtype == np.float16 else 1e-5
        np.testing.assert_allclose(np.asarray(got[k], np.float64),
                                   np.asarray(want[k], np.float64), rtol=tol, atol=tol)


REDUCE = {"psum": lax.psum, "pmax": lax.pmax, "pmin": lax.pmin, "pmean": lax.pmean}


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=5),
       st.sampled_from(sorted(REDUCE)), st.integers(1, NDEV), st.integers(0, 2**31))
def test_reductions_of_trees_pmap_equals_vmap(picks, which, n, seed):
    tree = _tree(np.random.default_rng(seed), n, picks)

    def f(t):  # a reader of each result, and a second tree reduced in the same group
        out = REDUCE[which](t, "i")
        other = lax.pmax(jax_tree_map(lambda v: v * 2, t), "i")
        return jax_tree_map(lambda a, b: a + b, out, other)
    _close(funcjax.pmap(f, axis_name="i")(tree), funcjax.vmap(f, axis_name="i")(tree))


def jax_tree_map(fn, *trees):
    return funcjax.tree_util.tree_map(fn, *trees)


@pytest.mark.parametrize("n", sorted({1, 2, NDEV}))
def test_transposed_operands_chained_reductions_and_jit_inside(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 200, 130)).astype(np.float32)
    b = rng.standard_normal((n, 7)).astype(np.float32)

    def f(a, b):
        s = lax.psum(a.T, "i")           # reduced untransposed, transposed after
        m = lax.pmean((b, a[:, :3]), "i")
        again = lax.psum(s * 2.0, "i")  # reads a held result: a second exchange
        return again, m, funcjax.jit(lambda t: lax.pmin(t, "i"))(b) + s[0, 0]
    got = funcjax.pmap(f, axis_name="i")(a, b)
    want = funcjax.vmap(f, axis_name="i")(a, b)
    for g, w in zip(funcjax.tree_util.tree_leaves(got), funcjax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-4)


def test_pmap_of_grad_and_vmap_of_pmap_with_tree_pmean():
    n = min(2, NDEV)
    rng = np.random.default_rng(0)
    params = (rng.standard_normal((n, 4, 3)).astype(np.float32),
              rng.standard_normal((n, 3)).astype(np.float32))
    x = rng.standard_normal((n, 5, 4)).astype(np.float32)

    def loss(p, x):
        w, c = lax.pmean(p, "i")
        return jnp.sum(jnp.tanh(x @ w + c) ** 2)

    def step(p, x):
        return lax.pmean(funcjax.grad(loss)(p, x), "i")
    got = funcjax.pmap(step, axis_name="i")(params, x)
    want = funcjax.vmap(step, axis_name="i")(params, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)
    xs = np.stack([x, 2 * x])  # vmap over an outer axis of a pmap with grouped pmeans
    got = funcjax.vmap(funcjax.pmap(step, axis_name="i"), in_axes=(None, 0))(params, xs)
    want = funcjax.vmap(funcjax.vmap(step, axis_name="i"), in_axes=(None, 0))(params, xs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


def test_the_per_device_program_holds_one_group_per_reduction():
    def f(a, b, c):
        s, t = lax.psum((a.T, b), "i")
        u = lax.pmax(c, "i")
        return [s / 2, t + 1, u]

    avals = [ShapedArray((3, 4), np.float32), ShapedArray((2,), np.int32),
             ShapedArray((), np.float32)]
    closed = trace_per_device(f, avals, AxisData("i", 2))
    grouped, width = spmd_group.group_reductions(closed)
    names = [e.primitive.name for e in grouped.jaxpr.eqns]
    assert names.count("reduce_group") == 2 and "psum" not in names and width == 2
    group = next(e for e in grouped.jaxpr.eqns if e.primitive.name == "reduce_group")
    assert [v.aval.shape for v in group.outputs] == [(3, 4), (2,)]  # a.T reduced as a


def test_reduce_group_differentiates_and_batches_as_its_members():
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    y = np.random.default_rng(4).standard_normal((3,)).astype(np.float32)

    def grouped(x, y):
        return spmd_group.reduce_group_p.bind(x * x, y, reduction=psum_p, axis_name=("i",))

    def plain(x, y):
        return [lax.psum(x * x, "i"), lax.psum(y, "i")]
    got = funcjax.vmap(grouped, axis_name="i")(x, y)
    want = funcjax.vmap(plain, axis_name="i")(x, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6)
    t = np.ones_like(x), np.ones_like(y)
    _, got = funcjax.jvp(funcjax.vmap(grouped, axis_name="i"), (x, y), t)
    _, want = funcjax.jvp(funcjax.vmap(plain, axis_name="i"), (x, y), t)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6)
