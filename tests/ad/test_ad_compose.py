"""Derivatives compose: many paths to the same first and second derivatives."""

import numpy as np
from ad_helpers import ad_settings
from hypothesis import given
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.test_util import check_grads


def f(x):
    return jnp.sum(jnp.tanh(x) * jnp.sin(x) ** 2) + jnp.prod(x)


def g(x):
    return jnp.sum(jnp.exp(jnp.sin(x)) * jnp.cumsum(x)) + jnp.max(x) ** 2


POINTS = st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3).map(np.array)


@ad_settings(10)
@given(x=POINTS)
def test_five_paths_to_the_gradient(x64, x):
    for fun in (f, g):
        paths = [
            funcjax.grad(fun)(x),
            funcjax.value_and_grad(fun)(x)[1],
            funcjax.vjp(fun, x)[1](1.0)[0],
            funcjax.jacfwd(fun)(x),
            funcjax.jacrev(fun)(x),
            np.array([funcjax.jvp(fun, (x,), (e,))[1] for e in np.eye(3)]),
            np.array([funcjax.linearize(fun, x)[1](e) for e in np.eye(3)]),
        ]
        for p in paths[1:]:
            np.testing.assert_allclose(np.asarray(p), np.asarray(paths[0]), rtol=1e-9,
                                       atol=1e-12)


@ad_settings(6)
@given(x=POINTS)
def test_five_paths_to_the_hessian(x64, x):
    for fun in (f, g):
        grad = funcjax.grad(fun)
        paths = [
            funcjax.hessian(fun)(x),
            funcjax.jacfwd(funcjax.jacrev(fun))(x),
            funcjax.jacrev(funcjax.jacfwd(fun))(x),
            funcjax.jacrev(funcjax.jacrev(fun))(x),
            funcjax.jacfwd(funcjax.jacfwd(fun))(x),
            funcjax.jacfwd(grad)(x),
            np.array([funcjax.jvp(grad, (x,), (e,))[1] for e in np.eye(3)]),  # jvp of grad
            np.array([funcjax.grad(lambda y, e=e, h=fun: funcjax.jvp(h, (y,), (e,))[1])(x)
                      for e in np.eye(3)]),  # grad of jvp
            np.array([funcjax.vjp(grad, x)[1](e)[0] for e in np.eye(3)]),  # vjp of grad
        ]
        for p in paths[1:]:
            np.testing.assert_allclose(np.asarray(p), np.asarray(paths[0]), rtol=1e-8,
                                       atol=1e-10)


def test_grad_of_grad_of_grad(x64):
    d3 = funcjax.grad(funcjax.grad(funcjax.grad(lambda x: jnp.sin(x) * x ** 2)))
    x = 0.7
    expected = -x ** 2 * np.cos(x) - 6 * x * np.sin(x) + 6 * np.cos(x)
    np.testing.assert_allclose(d3(x), expected, rtol=1e-12)


def test_hessian_of_pytree_inputs(x64):
    def loss(p):
        return jnp.sum(jnp.tanh(p["w"] * p["b"][0])) + jnp.sum(p["w"] ** 3)
    p = {"w": np.array([0.1, -0.4]), "b": [np.array(0.7)]}
    H = funcjax.hessian(loss)(p)
    assert np.shape(H["w"]["w"]) == (2, 2) and np.shape(H["w"]["b"][0]) == (2,)
    assert np.shape(H["b"][0]["w"]) == (2,)
    np.testing.assert_allclose(H["w"]["b"][0], H["b"][0]["w"], rtol=1e-12)


def test_check_grads_to_third_order(x64):
    check_grads(lambda x, y: jnp.sum(jnp.sin(x) * jnp.exp(y) / (1.0 + x * x)),
                (np.array([0.2, 1.1]), np.array([-0.3, 0.4])), order=3)
