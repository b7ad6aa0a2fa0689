"""Eager reverse mode on a tape (``interpreters.tape``) against the staged route (linearize +
transpose, which ``vjp`` and ``jit(grad)`` take) and against finite differences."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.interpreters import tape

sys.path.insert(0, str(Path(__file__).parents[1] / "control_flow"))
from cf_helpers import finite_difference  # noqa: E402


def _staged_grad(f, x):
    _, pullback = funcjax.vjp(f, x)
    return pullback(jnp.ones((), jnp.asarray(f(x)).dtype))[0]


FUNCTIONS = [
    lambda x: jnp.sum(jnp.sin(x) * 2 + 1),
    lambda x: jnp.sum(x * x) / 3.0 - jnp.max(x),
    lambda x: jnp.mean(jnp.tanh(x @ jnp.ones((3, 2), x.dtype)) ** 2),
    lambda x: jnp.sum(jnp.exp(-x) * jnp.where(x > 0, x, 2 * x)),
    lambda x: jnp.sum(jnp.cumsum(x[::-1], axis=0) * jnp.cos(x)),
    lambda x: jnp.sum(lax.scan(lambda c, v: (c * jnp.sin(v) + v, c), x[0], x)[0]),
    lambda x: jnp.sum(lax.cond(jnp.sum(x) > 0, jnp.sin, jnp.cos, x)),
    lambda x: jnp.sum(funcjax.jit(lambda v: v * jnp.log1p(v * v))(x)),
    lambda x: jnp.sum(lax.fori_loop(0, 3, lambda i, c: c * 0.5 + jnp.sin(c), x)),
]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(FUNCTIONS) - 1),
       st.lists(st.floats(-2, 2, width=32), min_size=6, max_size=6))
def test_tape_grad_equals_staged_grad_and_finite_differences(k, values):
    f = FUNCTIONS[k]
    x = jnp.asarray(np.array(values, np.float32).reshape(2, 3)) if k == 2 else \
        jnp.asarray(np.array(values, np.float32))
    assert tape.applies()
    g = funcjax.grad(f)(x)
    np.testing.assert_allclose(g, _staged_grad(f, x), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(g, funcjax.jit(funcjax.grad(f))(x), rtol=2e-4, atol=2e-4)
    x64 = np.asarray(x, np.float64)
    if k in (1, 3, 6):  # kinks (max, where, cond) where finite differences straddle
        return
    np.testing.assert_allclose(g, finite_difference(lambda v: f(jnp.asarray(v, np.float32)), x64),
                               rtol=3e-2, atol=3e-2)


def test_tape_handles_several_arguments_ints_and_aux():
    def f(w, n, b):
        return jnp.sum(jnp.sin(w * n) + b), {"n": n}
    w, b = jnp.arange(3.0), jnp.asarray(0.5)
    (gw, gb), aux = funcjax.grad(f, argnums=(0, 2), has_aux=True)(w, 2, b)
    np.testing.assert_allclose(gw, 2 * np.cos(2 * np.arange(3.0)), rtol=1e-6)
    np.testing.assert_allclose(gb, 3.0)
    assert aux["n"] == 2
    gi = funcjax.grad(lambda w, i: jnp.sum(w[i] ** 2), allow_int=True, argnums=(0, 1))(
        w, jnp.asarray(1))
    np.testing.assert_allclose(gi[0], [0, 2, 0])
    assert gi[1].dtype == funcjax.dtypes.float0


def test_unused_input_and_constant_output_get_zero_gradients():
    np.testing.assert_array_equal(funcjax.grad(lambda x, y: jnp.sum(y * 2.0))(
        jnp.ones(3), jnp.ones(2)), np.zeros(3))
    np.testing.assert_array_equal(funcjax.grad(lambda x: 3.0)(jnp.ones(2)), np.zeros(2))
    np.testing.assert_array_equal(funcjax.grad(lambda x: jnp.sum(lax.stop_gradient(x)))(
        jnp.ones(2)), np.zeros(2))


def test_higher_order_derivatives_and_grad_under_jit_still_work():
    f = FUNCTIONS[0]
    x = jnp.asarray(np.linspace(-1, 1, 4, dtype=np.float32))
    hess = funcjax.hessian(f)(x)
    np.testing.assert_allclose(hess, np.diag(-2 * np.sin(np.asarray(x))), rtol=1e-5, atol=1e-6)
    gg = funcjax.grad(lambda v: jnp.sum(funcjax.grad(f)(v)))(x)
    np.testing.assert_allclose(gg, -2 * np.sin(np.asarray(x)), rtol=1e-5, atol=1e-6)


def test_leaked_tangent_is_reported():
    saved = []

    def f(x):
        saved.append(x)
        return jnp.sum(x)
    funcjax.grad(f)(jnp.ones(2))
    with pytest.raises(funcjax.errors.UnexpectedTracerError):
        saved[0] + 1


def test_eager_grad_keeps_the_argument_checks():
    x = jnp.ones(3)
    with pytest.raises(TypeError, match="holomorphic=True"):
        funcjax.grad(lambda v: jnp.sum(v), holomorphic=True)(x)
    with pytest.raises(TypeError, match="scalar"):
        funcjax.grad(lambda v: v * 2)(x)
    with pytest.raises(TypeError, match="floating-point"):
        funcjax.grad(lambda v: jnp.sum(v))(jnp.arange(3))
    value, g = funcjax.value_and_grad(lambda v, s: jnp.sum(v * s), argnums=0)(x, 2.0)
    np.testing.assert_allclose(value, 6.0)
    np.testing.assert_allclose(g, [2.0, 2.0, 2.0])
    assert funcjax.grad(lambda v: (jnp.sum(v),)[0])(x).shape == (3,)


def _loss_with_closure(scale):
    def loss(x):
        def step(c, v):  # a body made anew per call: staged once per closure value
            return c * jnp.sin(v) * scale + v, c
        c, ys = lax.scan(step, x[0], x)
        return jnp.sum(ys) + c
    return loss


def test_cached_split_of_a_loop_equals_the_uncached_route_and_follows_closures():
    x = jnp.asarray(np.linspace(-1, 1, 5).astype(np.float32))
    for scale in (0.5, 0.5, 2.0, 0.5):  # repeated, then a changed closure value, then back
        loss = _loss_with_closure(scale)
        tape._splits.clear()
        first = np.asarray(funcjax.grad(loss)(x))  # the per-call route; the key is noted
        second = np.asarray(funcjax.grad(loss)(x))  # builds the split
        assert any(entry[0] is not None for entry in tape._splits.values())
        again = np.asarray(funcjax.grad(loss)(x))  # reuses it
        np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(second, again)
        np.testing.assert_allclose(first, np.asarray(_staged_grad(loss, x)), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(first, finite_difference(lambda v, f=loss: f(jnp.asarray(v)), x),
                                   rtol=2e-2, atol=2e-2)


def test_cached_split_of_cond_and_effects_are_not_cached():
    def loss(x):
        return jnp.sum(lax.cond(jnp.sum(x) > 0, lambda v: jnp.sin(v) * v, jnp.cos, x))

    def printing(x):
        def step(c, v):
            funcjax.debug.print("c {}", c)
            return c * v, c
        return lax.scan(step, x[0], x)[0]
    for x in (np.array([0.3, 0.4], np.float32), np.array([-0.3, -0.9], np.float32)):
        for _ in range(2):
            np.testing.assert_allclose(np.asarray(funcjax.grad(loss)(jnp.asarray(x))),
                                       finite_difference(loss, x), rtol=2e-2, atol=2e-2)
    tape._splits.clear()
    for _ in range(2):
        funcjax.grad(printing)(jnp.asarray(np.array([0.3, 0.4], np.float32)))
    assert all(entry[0] is None for entry in tape._splits.values())
