"""Control flow compiled: cond/switch, while/fori and scan/map under jit give the eager values,
also differentiated (against finite differences) and vmapped (against a loop); loops run in
native code (a million iterations, no Python dispatch); the memory plan stays sound with loop
carries live across their bodies."""

import sys
from pathlib import Path

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.memory import overlapping_live_pairs

sys.path.insert(0, str(Path(__file__).parents[1] / "control_flow"))
from cf_cases import CASES, FORWARD_ONLY_CASES, REVERSE_CASES  # noqa: E402
from cf_helpers import finite_difference  # noqa: E402


def _close(got, want, rtol=1e-12, atol=1e-12, what=""):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol,
                               err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_jit_and_jvp_of_jit_equal_eager(x64, case):
    for x in case.points:
        x = x.astype(np.float64)
        _close(funcjax.jit(case.fun)(x), case.unrolled(x), what="jit")
        out, tangent = funcjax.jvp(funcjax.jit(case.fun), (x,), (np.cos(x),))
        want_out, want_tangent = funcjax.jvp(case.fun, (x,), (np.cos(x),))
        _close(out, want_out, what="jvp primal")
        _close(tangent, want_tangent, what="jvp tangent")


@pytest.mark.parametrize("case", REVERSE_CASES, ids=repr)
def test_grad_of_jit_equals_jit_of_grad_equals_finite_differences(x64, case):
    def loss(x):
        return jnp.sum(case.fun(x) * np.array([1.0, -2.0, 0.5]))
    for x in case.points:
        x = x.astype(np.float64)
        want = funcjax.grad(loss)(x)
        _close(funcjax.grad(funcjax.jit(loss))(x), want, what="grad(jit(f))")
        _close(funcjax.jit(funcjax.grad(loss))(x), want, what="jit(grad(f))")
        _close(want, finite_difference(loss, x, eps=1e-6), rtol=1e-6, atol=1e-8,
               what="finite differences")


@pytest.mark.parametrize("case", FORWARD_ONLY_CASES, ids=repr)
def test_reverse_mode_through_a_while_loop_under_jit_is_jaxs_error(case):
    # Under jit every trip count is traced, so these are while loops (eagerly, a bound that
    # is concrete under grad makes fori_loop a scan).
    f = funcjax.jit(case.fun)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        funcjax.grad(lambda v: jnp.sum(f(v)))(case.points[0])


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_vmap_of_jit_equals_jit_of_vmap_equals_loop(case):
    xs = np.stack(case.points[:2] + [-case.points[0]])  # branch predicates differ by lane
    want = np.stack([np.asarray(case.fun(x)) for x in xs])
    _close(funcjax.vmap(funcjax.jit(case.fun))(xs), want, rtol=1e-6, atol=1e-6)
    _close(funcjax.jit(funcjax.vmap(case.fun))(xs), want, rtol=1e-6, atol=1e-6)


def test_a_million_iterations_run_in_native_code(eager_dispatches):
    f = funcjax.jit(lambda n: lax.fori_loop(0, n, lambda i, s: s + i % 7, 0))
    assert "while" in str(funcjax.make_jaxpr(f)(3))
    f(3)
    del eager_dispatches[:]  # the first call traced and compiled; count only the second
    n = 10 ** 6
    assert int(f(n)) == int(np.sum(np.arange(n) % 7))
    assert eager_dispatches == []


def test_edge_cases_clamped_index_empty_loops_and_lazy_operands():
    x = np.linspace(-1, 1, 6).astype(np.float32).reshape(2, 3)
    branches = [lambda v: v + 1, lambda v: v * 2, lambda v: jnp.sin(v)]

    def f(v, k):
        picked = lax.switch(k, branches, v)  # k out of range clamps, as in eager code
        none = lax.while_loop(lambda s: s[0] < 0, lambda s: (s[0] + 1, s[1] * 2), (0, v))[1]
        carry, ys = lax.scan(lambda c, row: (c + row, c * row), jnp.zeros(3), jnp.exp(v) * 2)
        empty = lax.scan(lambda c, row: (c, row), 1.0, jnp.zeros((0, 3)))
        back = lax.scan(lambda c, _: (c * 2, c), 1, None, length=4, reverse=True)
        return picked, none, carry, ys, empty, back
    for k in (-3, 0, 1, 2, 7):
        got, want = funcjax.jit(f)(x, k), f(x, k)
        for g, w in zip(funcjax.tree_leaves(got), funcjax.tree_leaves(want)):
            assert np.asarray(g).dtype == np.asarray(w).dtype
            _close(g, w, rtol=1e-6, atol=1e-7)


def test_nested_control_flow_and_jit_inside_bodies():
    inner = funcjax.jit(lambda v: jnp.tanh(v) * 1.5)

    def f(xs):
        def step(c, x):
            c = lax.cond(x[0] > 0, lambda c: inner(c) + x, lambda c: c - x, c)
            c = lax.fori_loop(0, 2, lambda i, c: c * 0.9 + i, c)
            return c, jnp.sum(c)
        return lax.scan(step, jnp.ones(2, np.float32), xs)
    xs = np.array([[0.5, -1.0], [-0.2, 0.3], [1.0, 2.0]], np.float32)
    got, want = funcjax.jit(f)(xs), f(xs)
    for g, w in zip(funcjax.tree_leaves(got), funcjax.tree_leaves(want)):
        _close(g, w, rtol=1e-6, atol=1e-6)

    def loss(xs):
        return jnp.sum(f(xs)[1])
    _close(funcjax.grad(funcjax.jit(loss))(xs), funcjax.grad(loss)(xs), rtol=1e-5, atol=1e-6)


def test_jit_inside_an_eager_scan_body_compiles_once_also_differentiated():
    inner = funcjax.jit(lambda c, x: jnp.sin(c) * x + c)

    def loss(c, xs):
        return jnp.sum(lax.scan(lambda c, x: (inner(c, x), c), c, xs)[1])
    c, xs = np.float32(0.3), np.linspace(-1, 1, 5).astype(np.float32)
    grad = funcjax.grad(loss)
    grad(c, xs)
    before = compiler.stats["compiled"]
    for _ in range(2):
        got = grad(c, xs)
    assert compiler.stats["compiled"] == before
    _close(got, funcjax.grad(loss)(c, xs), rtol=0, atol=0)
    _close(got, finite_difference(lambda v: loss(np.float32(v), xs), np.float64(c), eps=1e-3),
           rtol=1e-3, atol=1e-3)


def test_memory_plan_keeps_loop_carries_apart_from_body_intermediates():
    def f(x, w):
        def body(s):
            i, v = s
            h = jnp.tanh(lax.dot(v, w))  # intermediates allocated inside the loop body
            return i + 1, jnp.exp(h) * v + jnp.sum(h)
        out = lax.while_loop(lambda s: s[0] < 3, body, (0, x))[1]
        return lax.scan(lambda c, row: (jnp.sin(c) + row, lax.dot(w, c)), out[0], out)
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 4)) / 4).astype(np.float32)
    w = (rng.standard_normal((4, 4)) / 4).astype(np.float32)
    compiled = funcjax.jit(f).lower(x, w).compile()
    assert not overlapping_live_pairs(compiled.memory_analysis().allocations)
    for g, e in zip(funcjax.tree_leaves(compiled(x, w)), funcjax.tree_leaves(f(x, w))):
        _close(g, e, rtol=2e-5, atol=1e-6)
