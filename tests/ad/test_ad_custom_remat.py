"""Custom rules are used; checkpoint recomputes instead of saving; residual inspection."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import checkpoint_policies as cp
from funcjax import lax
from funcjax.interpreters.remat import checkpoint_name
from funcjax.tools import saved_residuals


def test_custom_jvp_rule_is_used_in_both_modes(x64):
    @funcjax.custom_jvp
    def f(x):
        return jnp.sin(x)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f(x), 100.0 * t  # deliberately not cos(x)

    assert funcjax.jvp(f, (1.0,), (1.0,))[1] == 100.0
    assert funcjax.grad(f)(1.0) == 100.0
    assert funcjax.grad(lambda x: f(x) * 2.0)(0.3) == 200.0
    np.testing.assert_allclose(f(1.0), np.sin(1.0))


def test_custom_jvp_defjvps_and_nondiff_argnums(x64):
    @funcjax.custom_jvp
    def mul(x, y):
        return x * y
    mul.defjvps(lambda t, ans, x, y: 3.0 * t, lambda t, ans, x, y: 5.0 * t)
    assert funcjax.grad(mul, argnums=(0, 1))(2.0, 4.0) == (3.0, 5.0)

    def power(n, x):
        return x ** n
    power = funcjax.custom_jvp(power, nondiff_argnums=(0,))

    @power.defjvp
    def power_jvp(n, primals, tangents):
        return power(n, primals[0]), 7.0 * n * tangents[0]
    assert funcjax.grad(power, argnums=1)(3, 2.0) == 21.0


def test_custom_vjp_rule_is_used_and_composes(x64):
    @funcjax.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        return x, None

    def bwd(_, ct):
        return (jnp.clip(ct, -1.0, 1.0),)
    clip_gradient.defvjp(fwd, bwd)
    assert funcjax.grad(lambda x: 5.0 * clip_gradient(x))(2.0) == 1.0
    assert funcjax.grad(lambda x: 0.5 * clip_gradient(x))(2.0) == 0.5

    @funcjax.custom_vjp
    def square(x):
        return x * x
    square.defvjp(lambda x: (x * x, x), lambda x, ct: (2.0 * x * ct,))
    assert funcjax.grad(funcjax.grad(square))(3.0) == 2.0   # bwd is differentiated
    with pytest.raises(TypeError, match="custom_vjp function.*reverse mode"):
        funcjax.jvp(square, (1.0,), (1.0,))


def test_custom_rule_errors_are_clear(x64):
    @funcjax.custom_jvp
    def f(x):
        return x
    f.defjvp(lambda p, t: (p[0], (t[0], t[0])))
    with pytest.raises(TypeError, match="custom rule of 'f' returned a tangent output"):
        funcjax.grad(f)(1.0)

    def closes_over(y):
        @funcjax.custom_jvp
        def h(x):
            return x * y
        h.defjvp(lambda p, t: (h(p[0]), t[0]))
        return h(2.0)
    with pytest.raises(TypeError, match="closes over"):
        funcjax.grad(closes_over)(1.0)


def deep(x):
    for _ in range(3):
        x = jnp.sin(x)
    return x


def test_checkpoint_saves_fewer_residuals_and_gives_the_same_gradient(x64):
    x = np.linspace(0.1, 1.0, 4)
    plain = saved_residuals(lambda x: jnp.sum(deep(x)), x)
    remat = saved_residuals(lambda x: jnp.sum(funcjax.checkpoint(deep)(x)), x)
    assert len(plain) == 3 and len(remat) == 1
    assert remat.total_bytes < plain.total_bytes
    assert "argument 'x'" in str(remat) and "cos" in str(plain)
    np.testing.assert_allclose(funcjax.grad(lambda x: jnp.sum(funcjax.checkpoint(deep)(x)))(x),
                               funcjax.grad(lambda x: jnp.sum(deep(x)))(x), rtol=1e-12)
    np.testing.assert_allclose(funcjax.hessian(lambda x: jnp.sum(funcjax.checkpoint(deep)(x)))(x),
                               funcjax.hessian(lambda x: jnp.sum(deep(x)))(x), rtol=1e-12)


def test_checkpoint_recomputes_in_the_backward_pass(x64):
    text = str(funcjax.make_jaxpr(funcjax.grad(lambda x: jnp.sum(funcjax.checkpoint(deep)(x))))(
        np.ones(2)))
    assert text.count("sin") == 3 + 2  # forward pass, then recomputation for the cosines


def test_checkpoint_policies(x64):
    w = np.ones((3, 3)) * 0.3

    def layer(x):
        return jnp.tanh(jnp.sin(jnp.dot(w, jnp.sin(x))))

    def count(policy):
        f = funcjax.checkpoint(layer, policy=policy)
        return len(saved_residuals(lambda x: jnp.sum(f(x)), np.ones(3)))
    everything, nothing, dots = (count(cp.everything_saveable), count(cp.nothing_saveable),
                                 count(cp.dots_saveable))
    assert nothing < dots < everything
    assert count(cp.dots_with_no_batch_dims_saveable) == dots

    def tagged(x):
        return jnp.sin(checkpoint_name(jnp.cos(x), "c"))
    named = funcjax.checkpoint(tagged, policy=cp.save_only_these_names("c"))
    assert len(saved_residuals(lambda x: jnp.sum(named(x)), np.ones(3))) == 2
    np.testing.assert_allclose(funcjax.grad(lambda x: jnp.sum(named(x)))(np.ones(3)),
                               funcjax.grad(lambda x: jnp.sum(tagged(x)))(np.ones(3)))


def test_stop_gradient_under_checkpoint(x64):
    f = funcjax.checkpoint(lambda x: x * lax.stop_gradient(x))
    assert funcjax.grad(f)(3.0) == 3.0
