"""jvp, jacfwd, grad, jacrev of every construct against its unrolled Python-loop version and
against finite differences; reverse mode through a run-time trip count raises JAX's error."""

import numpy as np
import pytest
from cf_cases import CASES, FORWARD_ONLY_CASES, REVERSE_CASES
from cf_helpers import assert_close, finite_difference

import funcjax
import funcjax.numpy as jnp
from funcjax import lax


def _scalar(f):
    """A scalar function of the case's vector output, for grad."""
    return lambda x: jnp.sum(f(x) * jnp.arange(1.0, 4.0))


def _points(case):
    return [(case, p) for p in case.points]


def _all(cases):
    return [cp for c in cases for cp in _points(c)]


@pytest.mark.parametrize("case, x", _all(CASES))
def test_jvp_matches_unrolled_and_finite_differences(case, x):
    t = np.array([0.7, -0.3, 0.4], np.float32)
    out, tan = funcjax.jvp(case.fun, (x,), (t,))
    ref_out, ref_tan = funcjax.jvp(case.unrolled, (x,), (t,))
    assert_close(out, ref_out, rtol=1e-5)
    assert_close(tan, ref_tan, rtol=1e-5)
    fd = finite_difference(lambda y: float(jnp.vdot(case.fun(y), jnp.ones(3))), x) @ t
    np.testing.assert_allclose(float(jnp.sum(tan)), fd, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("case, x", _all(CASES))
def test_jacfwd_matches_unrolled(case, x):
    assert_close(funcjax.jacfwd(case.fun)(x), funcjax.jacfwd(case.unrolled)(x), rtol=1e-5)


@pytest.mark.parametrize("case, x", _all(REVERSE_CASES))
def test_grad_matches_unrolled_and_finite_differences(case, x):
    g = funcjax.grad(_scalar(case.fun))(x)
    assert_close(g, funcjax.grad(_scalar(case.unrolled))(x), rtol=1e-5, atol=1e-6)
    fd = finite_difference(lambda y: _scalar(case.fun)(y), x)
    np.testing.assert_allclose(np.asarray(g), fd, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("case, x", _all(REVERSE_CASES))
def test_jacrev_equals_jacfwd(case, x):
    assert_close(funcjax.jacrev(case.fun)(x), funcjax.jacfwd(case.fun)(x), rtol=1e-5,
                 atol=1e-6)


@pytest.mark.parametrize("case", REVERSE_CASES, ids=repr)
def test_grad_under_make_jaxpr(case):
    x = case.points[0]
    g = funcjax.grad(_scalar(case.fun))
    closed = funcjax.make_jaxpr(g)(x)
    (out,) = funcjax.eval_jaxpr(closed.jaxpr, closed.consts, x)
    assert_close(out, g(x), rtol=1e-6)


@pytest.mark.parametrize("case", FORWARD_ONLY_CASES, ids=repr)
def test_reverse_mode_through_while_raises_jax_error(case):
    # Under make_jaxpr the fori_loop bounds are traced, so it is a while loop (eagerly they
    # are concrete and it is a scan, as in JAX).
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work for "
                                         "lax.while_loop or lax.fori_loop with dynamic"):
        funcjax.make_jaxpr(funcjax.grad(_scalar(case.fun)))(case.points[0])


def test_linearize_of_while_loop_works_forward():
    x = np.array([0.3, -0.2, 0.5], np.float32)
    t = np.ones(3, np.float32)
    _, f_lin = funcjax.linearize(FORWARD_ONLY_CASES[0].fun, x)
    assert_close(f_lin(t), funcjax.jvp(FORWARD_ONLY_CASES[0].fun, (x,), (t,))[1], rtol=1e-5)


def test_second_order_through_scan_and_cond():
    def f(x):
        c, _ = lax.scan(lambda c, _: (lax.cond(c > 0, jnp.sin, jnp.cos, c) * x, None), x,
                        None, length=3)
        return c

    def unrolled(x):
        c = x
        for _ in range(3):
            c = (jnp.sin(c) if c > 0 else jnp.cos(c)) * x
        return c
    for x in (0.4, -0.7):
        assert_close(funcjax.grad(funcjax.grad(f))(x), funcjax.grad(funcjax.grad(unrolled))(x),
                     rtol=1e-4)
        assert_close(funcjax.jacfwd(funcjax.grad(f))(x),
                     funcjax.grad(funcjax.grad(unrolled))(x), rtol=1e-4)


def test_grad_with_integer_and_unused_carries():
    def f(x):
        (i, v, unused), ys = lax.scan(lambda c, xi: ((c[0] + 1, c[1] * xi, c[2]), c[1]),
                                      (0, x, 3.0), jnp.arange(1.0, 4.0))
        return v + jnp.sum(ys)
    assert_close(funcjax.grad(f)(2.0), np.float32(6 + 1 + 1 + 2))
