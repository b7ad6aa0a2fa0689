"""vmap of every construct (and of its gradient) against a Python loop over the batch; batched
predicates turn cond into a select and while into a masked loop."""

import numpy as np
import pytest
from cf_cases import CASES, REVERSE_CASES, at
from cf_helpers import assert_close, eager_and_staged, loop_over

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

BATCH = np.array([[0.3, -0.2, 0.5], [-0.4, -0.1, 0.2], [0.6, 0.1, 0.2], [-0.1, 0.4, 0.2]],
                 np.float32)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_vmap_matches_a_loop(case):
    eager_and_staged(funcjax.vmap(case.fun), lambda xs: loop_over(case.fun, xs), BATCH, rtol=1e-6)


@pytest.mark.parametrize("case", REVERSE_CASES, ids=repr)
def test_vmap_of_grad_matches_a_loop(case):
    g = funcjax.grad(lambda x: jnp.sum(case.fun(x) * jnp.arange(1.0, 4.0)))
    eager_and_staged(funcjax.vmap(g), lambda xs: loop_over(g, xs), BATCH, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_vmap_of_jacfwd_matches_a_loop(case):
    j = funcjax.jacfwd(case.fun)
    assert_close(funcjax.vmap(j)(BATCH), loop_over(j, BATCH), rtol=1e-5, atol=1e-6)


def test_batched_predicate_cond_becomes_select():
    f = lambda x: lax.cond(x > 0, jnp.sin, jnp.cos, x)  # noqa: E731
    xs = np.array([-1.0, 0.5, 2.0], np.float32)
    eager_and_staged(funcjax.vmap(f), lambda xs: np.where(xs > 0, np.sin(xs), np.cos(xs)), xs)
    names = [e.primitive.name for e in funcjax.make_jaxpr(funcjax.vmap(f))(xs).eqns]
    assert "cond" not in names and "select_n" in names


def test_unbatched_predicate_keeps_the_cond():
    f = lambda p, x: lax.cond(p, jnp.sin, jnp.cos, x)  # noqa: E731
    xs = np.array([-1.0, 0.5, 2.0], np.float32)
    vf = funcjax.vmap(f, in_axes=(None, 0))
    eager_and_staged(vf, lambda p, xs: np.sin(xs) if p else np.cos(xs), True, xs)
    assert "cond" in [e.primitive.name for e in funcjax.make_jaxpr(vf)(True, xs).eqns]


def test_batched_switch_index_clamps_per_lane():
    f = lambda i, x: lax.switch(i, [lambda x: x, lambda x: 2 * x, lambda x: -x], x)  # noqa
    idx = np.array([-3, 0, 1, 2, 9], np.int32)
    eager_and_staged(funcjax.vmap(f, in_axes=(0, None)),
                     lambda idx, x: np.array([[x, 2 * x, -x][min(max(i, 0), 2)] for i in idx]),
                     idx, np.float32(3))


def test_batched_while_predicate_runs_a_masked_loop():
    f = lambda x: lax.while_loop(lambda c: c[0] < 10.0,  # noqa: E731
                                 lambda c: (c[0] * 2.0, c[1] + 1), (x, 0))
    xs = np.array([1.0, 3.0, 11.0, 0.5], np.float32)
    eager_and_staged(funcjax.vmap(f), lambda xs: loop_over(f, xs), xs)


def test_while_with_batched_body_but_unbatched_predicate():
    f = lambda x: lax.while_loop(lambda c: c[0] < 3,  # noqa: E731
                                 lambda c: (c[0] + 1, c[1] * x), (0, x))[1]
    xs = np.array([1.0, 2.0, 0.5], np.float32)
    eager_and_staged(funcjax.vmap(f), lambda xs: xs ** 4, xs)
    names = [e.primitive.name for e in funcjax.make_jaxpr(funcjax.vmap(f))(xs).eqns]
    assert "while" in names and "reduce_or" not in str(funcjax.make_jaxpr(funcjax.vmap(f))(xs))


def test_scan_with_batched_consts_carry_and_xs_on_other_axes():
    def f(w, c, xs):
        return lax.scan(lambda c, x: (c * w + x, c - x), c, xs)
    ws = np.array([0.5, 2.0], np.float32)
    c = np.float32(1.0)
    xs = np.arange(6, dtype=np.float32).reshape(3, 2)   # batch along axis 1
    in_axes = (0, None, 1)
    eager_and_staged(funcjax.vmap(f, in_axes=in_axes),
                     lambda *args: loop_over(f, *args, in_axes=in_axes), ws, c, xs)


def test_nested_vmap_of_cond_in_scan():
    def f(x):
        return lax.scan(lambda c, xi: (lax.cond(xi > c, lambda: xi, lambda: c), c + xi),
                        at(x, 0), x)
    xs = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    assert_close(funcjax.vmap(funcjax.vmap(f))(xs),
                 loop_over(lambda row: loop_over(f, row), xs))
