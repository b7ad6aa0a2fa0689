"""The pooling primitives' own rules: max/min-pooling gradients against finite differences,
the gather/scatter pair as each other's transpose, vmap against a loop, jit against eager,
NaNs and integers."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import funcjax
from funcjax import lax
from funcjax.ops import pooling


@st.composite
def windows(draw):
    ndim = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 5)) for _ in range(ndim)]
    base = [draw(st.sampled_from([1, 1, 2])) for _ in range(ndim)]
    wdil = [draw(st.sampled_from([1, 1, 2])) for _ in range(ndim)]
    extent = [1 + b * (n - 1) for n, b in zip(shape, base)]
    window = [draw(st.integers(1, max(1, (e - 1) // d + 1))) for e, d in zip(extent, wdil)]
    params = dict(window_dimensions=tuple(window),
                  window_strides=tuple(draw(st.integers(1, 3)) for _ in range(ndim)),
                  padding=tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1)))
                                for _ in range(ndim)),
                  base_dilation=tuple(base), window_dilation=tuple(wdil))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0  # distinct: no ties
    return x, params, draw(st.sampled_from(["max", "min"]))


def _pool(kind, params):
    return lambda x: pooling.SELECTING[kind].bind(x, **params)


@settings(max_examples=10, deadline=None)
@given(problem=windows())
def test_selecting_pool_gradients(x64, problem):
    x, params, kind = problem
    f = _pool(kind, params)
    assume(np.isfinite(np.asarray(f(x))).all())  # no window lies wholly in the padding
    ct = np.random.default_rng(1).standard_normal(np.shape(f(x)))
    loss = lambda x: (f(x) * ct).sum()  # noqa: E731
    grad = np.asarray(funcjax.grad(loss)(x))
    np.testing.assert_allclose(np.asarray(funcjax.jit(funcjax.grad(loss))(x)), grad, atol=1e-12)
    t = np.random.default_rng(2).standard_normal(x.shape)
    eps = 1e-6
    fd = (np.asarray(loss(x + eps * t)) - np.asarray(loss(x - eps * t))) / (2 * eps)
    np.testing.assert_allclose(np.vdot(grad, t), fd, rtol=1e-6, atol=1e-8)
    _, tangent = funcjax.jvp(loss, (x,), (t,))
    np.testing.assert_allclose(np.asarray(tangent), np.vdot(grad, t), rtol=1e-10, atol=1e-12)
    # the jitted forward and the gather/scatter pair as each other's transpose
    params = dict(params, select=kind)
    np.testing.assert_array_equal(np.asarray(funcjax.jit(f)(x)), np.asarray(f(x)))
    gather = lambda t: pooling.select_and_gather_add_p.bind(t, x, **params)  # noqa: E731
    scatter = lambda s: pooling.select_and_scatter_add_p.bind(s, x, **params)  # noqa: E731
    np.testing.assert_allclose(np.vdot(np.asarray(gather(t)), ct),
                               np.vdot(t, np.asarray(scatter(ct))), rtol=1e-10)
    for fn, arg in ((gather, t), (scatter, ct)):
        np.testing.assert_allclose(np.asarray(funcjax.jit(fn)(arg)), np.asarray(fn(arg)),
                                   atol=1e-12)
        (back,) = funcjax.linear_transpose(fn, arg)(np.ones(np.shape(fn(arg))))
        other = scatter if fn is gather else gather
        np.testing.assert_allclose(np.asarray(back), np.asarray(other(np.ones(np.shape(
            fn(arg))))), atol=1e-12)


def test_vmap_of_max_pool_gradient_matches_a_loop():
    xs = np.random.default_rng(0).standard_normal((3, 4, 6)).astype(np.float32)

    def loss(x):
        y = lax.reduce_window(x, -np.inf, lax.max, (2, 3), (2, 2), "SAME")
        return (y * y).sum()
    g = funcjax.grad(loss)
    expected = np.stack([np.asarray(g(x)) for x in xs])
    np.testing.assert_allclose(np.asarray(funcjax.vmap(g)(xs)), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(funcjax.jit(funcjax.vmap(g))(xs)), expected,
                               rtol=1e-6)


def test_nan_wins_and_gets_the_gradient():
    x = np.array([1.0, np.nan, 3.0, np.nan, 2.0, 0.0], np.float32)

    def f(x):
        return lax.reduce_window(x, -np.inf, lax.max, (3,), (3,), "VALID")
    for fn in (f, funcjax.jit(f)):
        np.testing.assert_array_equal(np.isnan(np.asarray(fn(x))), [True, True])
    loss = lambda x: f(x).sum()  # noqa: E731
    for g in (funcjax.grad(loss), funcjax.jit(funcjax.grad(loss))):
        np.testing.assert_array_equal(np.asarray(g(x)), [0, 1, 0, 1, 0, 0])


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float16])
def test_integer_and_half_pools_jit_matches_eager(dtype):
    x = np.random.default_rng(0).integers(0, 100, (2, 5, 7)).astype(dtype)
    for comp, init in ((lax.max, -np.inf if dtype == np.float16 else 0), (lax.min, 255),
                       (lax.add, 0)):
        def f(x, comp=comp, init=init):
            return lax.reduce_window(x, np.asarray(init, dtype), comp, (1, 2, 3), (1, 1, 2),
                                     ((0, 0), (1, 0), (1, 1)))
        np.testing.assert_array_equal(np.asarray(funcjax.jit(f)(x)), np.asarray(f(x)))


def test_non_identity_init_is_folded_in():
    x = np.arange(6.0, dtype=np.float32)
    out = lax.reduce_window(x, 3.5, lax.max, (2,), (2,), "VALID")
    np.testing.assert_array_equal(np.asarray(out), [3.5, 3.5, 5.0])
    out = lax.reduce_window(x, 1.0, lax.add, (3,), (3,), "VALID")
    np.testing.assert_array_equal(np.asarray(out), [4.0, 13.0])


def test_mismatched_select_operands_are_clear_errors():
    params = dict(window_dimensions=(2,), window_strides=(2,), padding=((0, 0),),
                  base_dilation=(1,), window_dilation=(1,), select="max")
    with pytest.raises(TypeError, match=r"source of dtype float32 and shape \(2,\)"):
        pooling.select_and_scatter_add_p.bind(np.ones(3, np.float32), np.ones(4, np.float32),
                                              **params)
    with pytest.raises(TypeError, match="tangent of the operand's type"):
        pooling.select_and_gather_add_p.bind(np.ones(3, np.float32), np.ones(4, np.float32),
                                             **params)
