"""The memory report of reverse mode: its residuals are the ones vjp keeps, traced to the
lines inside loop bodies that made them, and its peaks follow a hand liveness count."""

import inspect

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.tools import memory_report, peak_bytes, saved_residuals
from funcjax.tools.memory import staged_vjp


def body(c, x):
    h = jnp.tanh(c * x)
    return h * 2.0, jnp.sin(h)


BODY_LINES = {inspect.getsourcelines(body)[1] + 1, inspect.getsourcelines(body)[1] + 2}


def loss(c0, xs):
    c, ys = lax.scan(body, c0, xs)
    return jnp.sum(ys) + jnp.sum(jnp.exp(c))


def test_totals_equal_the_residuals_vjp_keeps():
    c0, xs = jnp.ones(16), jnp.ones((10, 16))
    report = memory_report(loss, c0, xs)
    saved = saved_residuals(loss, c0, xs)
    assert report.residual_bytes == saved.total_bytes
    assert report.n_residuals == len(saved)
    assert sum(u.residual_bytes for u in report.lines) == saved.total_bytes
    staged = staged_vjp(loss, c0, xs)
    assert [a.shape for a in staged.residual_avals] == [r.aval.shape for r in saved]
    assert str(report).count("bytes") >= 4


def test_scan_residuals_are_attributed_to_lines_of_the_body():
    report = memory_report(loss, jnp.ones(4), jnp.ones((5, 4)))
    lines = {u.source.rsplit(":", 1)[1].split(" ")[0] for u in report.lines if ":" in u.source}
    assert {str(n) for n in BODY_LINES} <= lines


def test_checkpointing_the_body_drops_its_residuals():
    c0, xs = jnp.ones(64), jnp.ones((20, 64))
    plain = memory_report(loss, c0, xs)

    def remat_loss(c0, xs):
        c, ys = lax.scan(jax.checkpoint(body), c0, xs)
        return jnp.sum(ys) + jnp.sum(jnp.exp(c))
    assert memory_report(remat_loss, c0, xs).residual_bytes < plain.residual_bytes


def test_peak_bytes_follows_liveness():
    # a = sin x; b = sin x; c = cos b; d = a * c: x stays alive as the argument, a waits for
    # the product while b and then c are made, so x, a, b, c (b dies after cos) peak at 4.
    closed = jax.make_jaxpr(lambda x: jnp.sin(x) * jnp.cos(jnp.sin(x)))(jnp.ones(10))
    assert peak_bytes(closed) == 40 * 4
    chain = jax.make_jaxpr(lambda x: jnp.sin(jnp.sin(jnp.sin(jnp.sin(x)))))(jnp.ones(10))
    # each value dies when the next is made: argument + two temporaries at most
    assert peak_bytes(chain) == 40 * 3


def test_gradient_matches_after_reporting():
    c0, xs = jnp.ones(4) * 0.3, jnp.ones((3, 4))
    memory_report(loss, c0, xs)
    g = jax.grad(loss)(c0, xs)
    eps = 1e-3
    fd = [(loss(c0.at[i].add(eps), xs) - loss(c0.at[i].add(-eps), xs)) / (2 * eps)
          for i in range(4)]
    np.testing.assert_allclose(g, fd, rtol=1e-2, atol=1e-3)
