"""grad, vjp, jvp, jacobians: pytrees, argnums, has_aux, errors, and the known traps."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax


def test_grad_pytrees_argnums_and_aux(x64):
    def loss(params, x, scale):
        return jnp.sum(jnp.tanh(x @ params["w"]) ** 2) * scale + params["b"][0] ** 2, "aux"
    params = {"w": np.ones((3, 2)) * 0.1, "b": [np.array(1.5)]}
    x = np.arange(6.0).reshape(2, 3)
    (value, aux), (g_params, g_scale) = funcjax.value_and_grad(
        loss, argnums=(0, 2), has_aux=True)(params, x, 2.0)
    assert aux == "aux"
    assert set(g_params) == {"w", "b"} and g_params["w"].shape == (3, 2)
    np.testing.assert_allclose(g_params["b"][0], 3.0)
    np.testing.assert_allclose(g_scale, (value - 1.5 ** 2) / 2.0)
    g, aux = funcjax.grad(loss, has_aux=True)(params, x, 2.0)
    np.testing.assert_allclose(g["w"], g_params["w"])


def test_vjp_and_linearize_agree_with_jvp(x64):
    f = lambda x, y: {"a": jnp.sin(x) * y, "b": jnp.sum(x)}  # noqa: E731
    x, y = np.array([0.3, 1.2]), np.array([2.0, -1.0])
    out, pullback = funcjax.vjp(f, x, y)
    _, f_jvp = funcjax.linearize(f, x, y)
    v = (np.array([1.0, 2.0]), np.array([0.5, 0.25]))
    u = {"a": np.array([1.0, -1.0]), "b": np.array(3.0)}
    t = f_jvp(*v)
    _, t2 = funcjax.jvp(f, (x, y), v)
    np.testing.assert_allclose(t["a"], t2["a"])
    ct = pullback(u)
    lhs = sum(np.sum(np.asarray(a) * b) for a, b in zip(ct, v))
    rhs = np.sum(u["a"] * np.asarray(t["a"])) + u["b"] * np.asarray(t["b"])
    np.testing.assert_allclose(lhs, rhs)


def test_python_control_flow_on_primal_values(x64):
    def f(x):
        if x > 0:
            return x ** 3
        for _ in range(int(x * -2)):
            x = x * 2.0
        return x
    assert funcjax.grad(f)(2.0) == 12.0
    assert funcjax.grad(f)(-1.0) == 4.0
    assert funcjax.grad(funcjax.grad(f))(2.0) == 12.0


def test_stop_gradient_blocks_gradients(x64):
    f = lambda x: x * lax.stop_gradient(x) + lax.stop_gradient(x ** 2)  # noqa: E731
    assert funcjax.grad(f)(3.0) == 3.0
    assert funcjax.jvp(f, (3.0,), (1.0,))[1] == 3.0


def test_where_sqrt_at_zero_is_nan_as_in_jax(x64):
    # The untaken branch's derivative (infinite) times a zero cotangent: JAX also gives nan.
    with np.errstate(all="ignore"):
        g = funcjax.grad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0))(0.0)
        assert np.isnan(g)
        assert funcjax.grad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0))(4.0) == 0.25


def test_norm_at_zero_does_not_crash(x64):
    with np.errstate(all="ignore"):
        g = funcjax.grad(lambda x: jnp.sqrt(jnp.sum(x * x)))(np.zeros(3))
    assert np.asarray(g).shape == (3,) and np.all(np.isnan(g))  # as JAX's norm
    g = funcjax.grad(lambda x: jnp.sqrt(jnp.sum(x * x)))(np.array([3.0, 4.0]))
    np.testing.assert_allclose(g, [0.6, 0.8])


def test_ties_split_the_derivative_like_jax(x64):
    np.testing.assert_allclose(funcjax.grad(lambda x: jnp.max(x))(np.array([1.0, 1.0, 0.0])),
                               [0.5, 0.5, 0.0])
    assert funcjax.grad(lambda x: jnp.maximum(x, 1.0))(1.0) == 0.5
    assert funcjax.grad(jnp.abs)(0.0) == 1.0
    np.testing.assert_allclose(funcjax.grad(lambda x: jnp.prod(x))(np.array([0.0, 2.0, 3.0])),
                               [6.0, 0.0, 0.0])


def test_integer_inputs(x64):
    with pytest.raises(TypeError, match=r"argument 'n' \(argnums=1\) has dtype int64.*allow_int"):
        funcjax.grad(lambda x, n: x * n, argnums=1)(1.0, 3)
    g = funcjax.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    assert g[0] == 3.0 and g[1].dtype == funcjax.numpy.float0
    out, tangent = funcjax.jvp(lambda n: n * 2, (3,), (np.zeros((), funcjax.numpy.float0),))
    assert out == 6 and tangent.dtype == funcjax.numpy.float0
    with pytest.raises(TypeError, match="float0"):
        funcjax.jvp(lambda n: n * 2, (3,), (1.0,))
    with pytest.raises(TypeError, match="jacfwd.*floating-point inputs"):
        funcjax.jacfwd(lambda n: n * 2.0)(np.arange(3))


def test_grad_output_errors(x64):
    def vector(x):
        return x * np.ones(3)
    with pytest.raises(TypeError, match=r"grad\(vector\) requires a scalar output.*shape \(3,\)"
                                        r".*jacrev"):
        funcjax.grad(vector)(1.0)
    with pytest.raises(TypeError, match="floating-point output.*i64"):
        funcjax.grad(lambda x: (x > 0).astype(np.int64))(1.0)
    with pytest.raises(TypeError, match="holomorphic"):
        funcjax.grad(jnp.sin, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="has_aux=True requires"):
        funcjax.grad(jnp.sin, has_aux=True)(1.0)
    with pytest.raises(ValueError, match="argnums"):
        funcjax.grad(jnp.sin, argnums=3)(1.0)


def test_make_jaxpr_of_grad_shows_the_backward_pass(x64):
    text = str(funcjax.make_jaxpr(funcjax.grad(lambda x: jnp.sin(x) * x))(1.0))
    assert "sin" in text and "cos" in text and text.count("mul") >= 3 and "add" in text


def test_jacobian_shapes_with_pytrees(x64):
    f = lambda d: {"y": d["a"] * d["b"], "s": jnp.sum(d["b"])}  # noqa: E731
    d = {"a": 2.0, "b": np.array([1.0, 2.0, 3.0])}
    for jac in (funcjax.jacfwd, funcjax.jacrev):
        J = jac(f)(d)
        assert np.shape(J["y"]["b"]) == (3, 3) and np.shape(J["y"]["a"]) == (3,)
        assert np.shape(J["s"]["b"]) == (3,)
        np.testing.assert_allclose(J["y"]["b"], 2.0 * np.eye(3))
