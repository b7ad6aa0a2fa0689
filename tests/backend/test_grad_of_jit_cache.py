"""``grad(jit(f))`` called outside transformations runs one cached ``jit(value_and_grad(f))``
program; its results equal the traced route's, and errors stay the same."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp


def loss(w, x, scale=1.0):
    return jnp.sum(jnp.tanh(x @ w) ** 2) * scale


W = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
X = np.linspace(0, 2, 8, dtype=np.float32).reshape(2, 4)


def test_grad_of_jit_is_staged_once_and_equals_grad():
    f = funcjax.jit(loss)
    g = funcjax.grad(f)
    first = g(W, X)
    for _ in range(3):
        np.testing.assert_allclose(g(W, X), first, rtol=1e-6)
    np.testing.assert_allclose(first, funcjax.grad(loss)(W, X), rtol=1e-5, atol=1e-6)
    (staged,) = f._store.staged.values()
    assert staged.cache_info().traces == 1
    value, (gw, gx) = funcjax.value_and_grad(f, argnums=(0, 1))(W, X)
    np.testing.assert_allclose(value, loss(W, X), rtol=1e-6)
    np.testing.assert_allclose(gx, funcjax.grad(loss, argnums=1)(W, X), rtol=1e-5, atol=1e-6)


def test_has_aux_kwargs_static_and_nested_calls_keep_their_meaning():
    def with_aux(w, x):
        return loss(w, x), {"n": jnp.sum(w)}
    g, aux = funcjax.grad(funcjax.jit(with_aux), has_aux=True)(W, X)
    np.testing.assert_allclose(g, funcjax.grad(loss)(W, X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aux["n"], W.sum(), rtol=1e-6)
    f = funcjax.jit(loss, static_argnames="scale")
    np.testing.assert_allclose(funcjax.grad(f)(W, X, scale=2.0),
                               2 * funcjax.grad(loss)(W, X), rtol=1e-5, atol=1e-6)
    assert not f._store.staged  # static arguments: the traced route
    h = funcjax.jit(lambda w, x: loss(w, x))  # its own cache
    outer = funcjax.jit(lambda w: funcjax.grad(h)(w, X))
    np.testing.assert_allclose(outer(W), funcjax.grad(loss)(W, X), rtol=1e-5, atol=1e-6)
    assert not h._store.staged  # under jit tracing: the traced route


def test_errors_are_unchanged():
    f = funcjax.jit(lambda v: jnp.sum(v))
    with pytest.raises(TypeError, match="grad"):
        funcjax.grad(f)(np.arange(3))  # integer input
    with pytest.raises(TypeError, match="scalar"):
        funcjax.grad(funcjax.jit(lambda v: v * 2))(np.ones(3, np.float32))
