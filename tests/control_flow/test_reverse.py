"""How reverse mode goes through control flow: what partial evaluation saves (residual slots
shared by cond branches, stacked and loop-invariant scan residuals, checkpointed scan bodies
that keep only their carries) and the transpose identity of cond and scan."""

import numpy as np
import pytest
from cf_helpers import assert_close

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.tools.residuals import saved_residuals


def _eqns(closed, name):
    return [e for e in closed.eqns if e.primitive.name == name]


def test_cond_branches_share_residual_slots():
    def f(x):
        return lax.cond(x > 0, lambda: jnp.sin(x) * jnp.cos(x), lambda: jnp.exp(x))
    forward = _eqns(funcjax.make_jaxpr(funcjax.grad(f))(0.3), "cond")[0]
    # The exp branch's residual shares a slot with one of the sin*cos branch's.
    n_true = len(saved_residuals(lambda x: jnp.sin(x) * jnp.cos(x), 0.3))
    assert len(saved_residuals(jnp.exp, 0.3)) == 1
    assert len(forward.outputs) == 1 + n_true
    for x in (0.3, -0.3):
        assert_close(funcjax.grad(f)(x), np.float32(np.cos(2 * x) if x > 0 else np.exp(x)),
                     rtol=1e-6)


def test_scan_hoists_loop_invariant_residuals_and_stacks_the_others():
    def f(w, xs):
        def step(c, x):
            a = jnp.sin(w) * 3.0            # depends on the consts only
            c = jnp.sin(c * a) + x
            return c, None
        return lax.scan(step, 0.5, xs)[0]
    closed = funcjax.make_jaxpr(funcjax.grad(f))(0.3, jnp.arange(4.0))
    forward, backward = _eqns(closed, "scan")
    assert backward.params["reverse"] and backward.params["num_consts"] >= 1
    stacked = [v.aval.shape for v in forward.outputs[1:]]
    assert stacked and all(s[0] == 4 for s in stacked)
    assert len(stacked) < len(forward.params["jaxpr"].eqns)


def _scan_body(c, x):
    for _ in range(4):
        c = jnp.sin(c) * x + jnp.cos(c)
    return c, None


@pytest.mark.parametrize("length", [5, 20])
def test_checkpointed_scan_body_saves_only_its_carries(length):
    """Beyond JAX's default: with checkpoint, reverse mode keeps one carry per iteration
    (and the xs it was given) instead of every intermediate of the body."""
    c0, xs = jnp.ones(16), jnp.ones((length, 16)) * 0.5

    def loss(c0, xs, body):
        return jnp.sum(lax.scan(body, c0, xs)[0])
    plain = saved_residuals(lambda c, x: loss(c, x, _scan_body), c0, xs)
    remat = saved_residuals(lambda c, x: loss(c, x, funcjax.checkpoint(_scan_body)), c0, xs)
    carry_bytes, xs_bytes = c0.size * 4, xs.size * 4
    assert remat.total_bytes == length * carry_bytes + xs_bytes
    assert plain.total_bytes > 5 * remat.total_bytes - 5 * xs_bytes
    assert_close(funcjax.grad(lambda c: loss(c, xs, funcjax.checkpoint(_scan_body)))(c0),
                 funcjax.grad(lambda c: loss(c, xs, _scan_body))(c0), rtol=1e-6)


def test_checkpoint_inside_scan_inside_cond_and_vmap_of_grad():
    def f(x):
        body = funcjax.checkpoint(lambda c, _: (jnp.sin(c) * x, None))
        return lax.cond(x > 0, lambda: lax.scan(body, x, None, length=3)[0], lambda: x)

    def unrolled(x):
        c = x
        if x > 0:
            for _ in range(3):
                c = jnp.sin(c) * x
        return c
    for x in (0.7, -0.2):
        assert_close(funcjax.grad(f)(x), funcjax.grad(unrolled)(x), rtol=1e-6)


def _inner(u, v):
    return float(sum(np.vdot(np.asarray(a), np.asarray(b))
                     for a, b in zip(funcjax.tree_leaves(u), funcjax.tree_leaves(v))))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_transpose_identity(reverse):
    w = jnp.array([0.5, -1.0, 2.0])

    def linear(c, xs):
        return lax.scan(lambda c, x: (c * w + x * 2.0, c - x), c, xs, reverse=reverse)
    rng = np.random.default_rng(1)
    v = (rng.normal(size=3).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32))
    ct = (rng.normal(size=3).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32))
    transposed = funcjax.linear_transpose(linear, *v)(ct)
    np.testing.assert_allclose(_inner(linear(*v), ct), _inner(v, transposed), rtol=1e-5)


@pytest.mark.parametrize("pred", [True, False])
def test_cond_transpose_identity(pred):
    def linear(x, y):
        return lax.cond(pred, lambda a, b: (a * 2.0 + b, b), lambda a, b: (-a, a - b), x, y)
    v = (np.float32(0.7), np.arange(2.0, dtype=np.float32))
    ct = (np.float32(1.5), np.array([0.3, -2.0], np.float32))
    v = (jnp.full((2,), v[0]), v[1])
    ct = (jnp.full((2,), ct[0]), ct[1])
    transposed = funcjax.linear_transpose(linear, *v)(ct)
    np.testing.assert_allclose(_inner(linear(*v), ct), _inner(v, transposed), rtol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_grad_of_final_carry_only_leaves_ys_cotangents_zero(reverse):
    """The stacked ys get no cotangent (a symbolic zero) when only the carry is differentiated."""
    xs = np.linspace(0.0, 1.0, 8).astype(np.float32)

    def final(x0):
        def step(carry, x):
            carry = carry * 0.9 + jnp.sin(x)
            return carry, carry
        return lax.scan(step, x0, xs, reverse=reverse)[0]

    np.testing.assert_allclose(funcjax.grad(final)(1.0), 0.9 ** 8, rtol=1e-5)
    fd = (final(1.0 + 1e-2) - final(1.0 - 1e-2)) / 2e-2
    np.testing.assert_allclose(funcjax.grad(final)(1.0), fd, rtol=1e-3)
