"""pmap against its reference semantics, vmap(..., axis_name=...): random programs of
collectives and elementwise steps over random device counts, their gradients, and the
per-collective cases (pmap runs them as exchanges between device threads, vmap as batch ops)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

NDEV = funcjax.device_count()


def _perm(n, shift):
    return [(k, (k + shift) % n) for k in range(n)]


# Steps keep the per-device shape (2n, 3) so they chain; n is the axis size.
STEPS = {
    "psum": lambda n: lambda x: lax.psum(x, "i"),
    "pmean": lambda n: lambda x: lax.pmean(x, "i"),
    "pmax": lambda n: lambda x: lax.pmax(x, "i"),
    "pmin": lambda n: lambda x: lax.pmin(x, "i"),
    "ppermute": lambda n: lambda x: lax.ppermute(x, "i", _perm(n, 1)),
    "ppermute_partial": lambda n: lambda x: lax.ppermute(x, "i", [(0, n - 1)]),
    "axis_index": lambda n: lambda x: x * (1.0 + lax.axis_index("i")),
    "gather_mean": lambda n: lambda x: jnp.mean(lax.all_gather(x, "i"), axis=0),
    "gather_tiled": lambda n: lambda x: lax.all_gather(x, "i", axis=1, tiled=True)[:, :3],
    "scatter_gather": lambda n: lambda x: lax.all_gather(
        lax.psum_scatter(x, "i", tiled=True), "i", tiled=True),
    "all_to_all": lambda n: lambda x: lax.all_to_all(x, "i", 0, 0, tiled=True),
    "sin": lambda n: jnp.sin,
    "square": lambda n: lambda x: x * x,
}
SMOOTH = [k for k in STEPS if k not in ("pmax", "pmin")]


def compose(names, n):
    fns = [STEPS[k](n) for k in names]

    def f(x):
        for fn in fns:
            x = fn(x)
        return x
    return f


@settings(max_examples=12)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=3),
       st.integers(1, NDEV), st.integers(0, 2**31))
def test_random_program_pmap_equals_vmap(names, n, seed):
    x = np.random.default_rng(seed).standard_normal((n, 2 * n, 3)).astype(np.float32)
    f = compose(names, n)
    got = funcjax.pmap(f, axis_name="i")(x)
    want = funcjax.vmap(f, axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


@settings(max_examples=8)
@given(st.lists(st.sampled_from(SMOOTH), min_size=1, max_size=3), st.integers(1, NDEV),
       st.integers(0, 2**31))
def test_random_program_pmap_of_grad_equals_vmap_of_grad(names, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2 * n, 3)).astype(np.float32)
    w = rng.standard_normal((2 * n, 3)).astype(np.float32)
    f = compose(names, n)

    def objective(w, x):
        return jnp.sum(jnp.tanh(f(x * w)))
    g = funcjax.grad(objective, argnums=(0, 1))
    got = funcjax.pmap(g, axis_name="i", in_axes=(None, 0))(w, x)
    want = funcjax.vmap(g, axis_name="i", in_axes=(None, 0))(w, x)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-4)


def test_grad_of_pmap_equals_grad_of_vmap():
    n = NDEV
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)

    def per_device(w, x):
        h = jnp.tanh(x @ w)
        return lax.pmean(jnp.sum(h * lax.all_gather(h, "i").mean(0)), "i")

    def total(mapper):
        return lambda w: jnp.sum(mapper(per_device, axis_name="i", in_axes=(None, 0))(w, x))
    np.testing.assert_allclose(np.asarray(funcjax.grad(total(funcjax.pmap))(w)),
                               np.asarray(funcjax.grad(total(funcjax.vmap))(w)),
                               rtol=1e-4, atol=1e-5)
    # forward mode through pmap too
    t = np.ones_like(w)
    _, jp = funcjax.jvp(total(funcjax.pmap), (w,), (t,))
    _, jv = funcjax.jvp(total(funcjax.vmap), (w,), (t,))
    np.testing.assert_allclose(float(jp), float(jv), rtol=1e-4)


def test_large_psum_splits_work_and_matches_numpy():
    # above the split threshold every device combines one block, then gathers the others
    x = np.random.default_rng(1).standard_normal((NDEV, 40000)).astype(np.float32)
    for name, ref in (("psum", x.sum(0)), ("pmax", x.max(0)), ("pmin", x.min(0))):
        op = getattr(lax, name)
        got = np.asarray(funcjax.pmap(lambda v, op=op: op(v, "i"), axis_name="i")(x))
        np.testing.assert_allclose(got, np.broadcast_to(ref, x.shape), rtol=1e-5, atol=1e-5)


def test_integer_and_float16_collectives():
    xi = np.arange(NDEV * 3, dtype=np.int32).reshape(NDEV, 3)
    got = funcjax.pmap(lambda v: lax.psum(v, "i") + lax.pmax(v, "i"), axis_name="i")(xi)
    np.testing.assert_array_equal(np.asarray(got), np.broadcast_to(
        xi.sum(0) + xi.max(0), xi.shape))
    xh = (np.arange(NDEV * 3).reshape(NDEV, 3) / 7).astype(np.float16)
    got = funcjax.pmap(lambda v: lax.psum(v, "i"), axis_name="i")(xh)
    want = funcjax.vmap(lambda v: lax.psum(v, "i"), axis_name="i")(xh)
    assert got.dtype == np.float16
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32),
                               rtol=2e-3)
