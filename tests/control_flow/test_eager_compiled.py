"""Eager loops that hand themselves to the jit backend: same answers as a Python loop, one
compilation per structurally distinct loop, interpretation where compiling does not pay."""

import functools
import sys

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.config import debug_nans, disable_jit
from funcjax.ops.control_flow import eager


@pytest.fixture
def always_compile(monkeypatch):
    monkeypatch.setattr(eager, "MIN_WORK", 0)


@pytest.fixture
def never_compile(monkeypatch):
    monkeypatch.setattr(eager, "MIN_WORK", 10**12)


def _scan_with(scale):
    def step(c, x):
        c = jnp.sin(c) * x + scale * c
        return c, c.sum()
    return step


def _python_scan(scale, c, xs):
    ys = []
    for x in xs:
        c = np.sin(c) * x + np.float32(scale) * c
        ys.append(c.sum())
    return c, np.array(ys)


def test_compiled_scan_matches_a_python_loop(always_compile):
    c0 = np.linspace(-1, 1, 5).astype(np.float32)
    xs = np.linspace(0, 1, 30).astype(np.float32).reshape(6, 5)
    for scale in (0.5, 0.25):  # a different literal is a different program, not a cache hit
        before = len(eager._programs)
        c, ys = lax.scan(_scan_with(scale), jnp.asarray(c0), jnp.asarray(xs))
        assert len(eager._programs) == before + 1
        c_ref, ys_ref = _python_scan(scale, c0, xs)
        np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ys, ys_ref, rtol=1e-5, atol=1e-5)
        # Retraced on the next call, the same loop reuses its program.
        lax.scan(_scan_with(scale), jnp.asarray(c0), jnp.asarray(xs))
        assert len(eager._programs) == before + 1


def test_compiled_and_interpreted_scan_agree(monkeypatch):
    c0, xs = jnp.linspace(0, 1, 4), jnp.linspace(-2, 2, 40).reshape(10, 4)
    monkeypatch.setattr(eager, "MIN_WORK", 10**12)
    interpreted = lax.scan(_scan_with(0.75), c0, xs)
    monkeypatch.setattr(eager, "MIN_WORK", 0)
    compiled = lax.scan(_scan_with(0.75), c0, xs)
    for a, b in zip(interpreted, compiled):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_while_loop_switches_to_compiled_code_mid_loop(always_compile):
    def cond(s):
        return s[0] < 500

    def body(s):
        i, x = s
        return i + 1, x * 0.99 + 0.5

    before = len(eager._programs)
    i, x = lax.while_loop(cond, body, (0, jnp.float32(1.0)))
    assert len(eager._programs) == before + 1  # 64 steps interpreted, the rest compiled
    ref = np.float32(1.0)
    for _ in range(500):
        ref = ref * np.float32(0.99) + np.float32(0.5)
    assert int(i) == 500
    np.testing.assert_allclose(x, ref, rtol=1e-5)


def test_disable_jit_and_small_loops_are_interpreted(never_compile):
    before = len(eager._programs)
    lax.fori_loop(0, 20, lambda i, c: c + i, 0.0)
    with disable_jit():
        lax.scan(_scan_with(0.1), jnp.ones(3), jnp.ones((4, 3)))
    assert len(eager._programs) == before


def test_structural_keys_tell_bodies_apart():
    def traced(scale, dtype):
        return funcjax.make_jaxpr(lambda c: _scan_with(scale)(c, c)[0])(jnp.ones(3, dtype))
    assert eager.jaxpr_key(traced(0.5, np.float32)) == eager.jaxpr_key(traced(0.5, np.float32))
    assert eager.jaxpr_key(traced(0.5, np.float32)) != eager.jaxpr_key(traced(0.6, np.float32))
    assert eager.jaxpr_key(traced(0.5, np.float32)) != eager.jaxpr_key(traced(0.5, np.float16))


def _rk4_loss(y0, h=0.01, n=50):
    def f(y):
        return -0.5 * y + jnp.sin(y)

    def step(y, _):
        k1 = f(y)
        k2 = f(y + h / 2 * k1)
        k3 = f(y + h / 2 * k2)
        k4 = f(y + h * k3)
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None
    y, _ = lax.scan(step, y0, None, length=n)
    return jnp.sum(y ** 2)


def test_eager_grad_of_a_compiled_scan_equals_jit(always_compile):
    y0 = jnp.linspace(0, 1, 8)
    g = funcjax.grad(_rk4_loss)
    first, again = g(y0), g(y0)  # the second reuses memoised transformations and programs
    jitted = funcjax.jit(g)(y0)
    np.testing.assert_allclose(first, jitted, rtol=1e-5)
    np.testing.assert_allclose(again, jitted, rtol=1e-5)
    eps = 1e-2
    fd = (_rk4_loss(y0.at[3].add(eps)) - _rk4_loss(y0.at[3].add(-eps))) / (2 * eps)
    np.testing.assert_allclose(first[3], fd, rtol=1e-2)


SCALE = 0.5


def _loop_reading(kind, value):
    """A loop body made anew per call, reading ``value`` through a closure or a global."""
    def body(c, x):
        factor = SCALE if kind == "global" else value
        return c * factor + x, c
    return body


@pytest.mark.parametrize("kind", ["closure", "global"])
def test_retraced_bodies_are_reused_only_when_what_they_read_is_equal(kind, monkeypatch):
    xs = jnp.arange(4.0)
    for value in (0.5, 0.5, 2.0, 2, True, -1.5):
        if kind == "global":
            monkeypatch.setattr(sys.modules[__name__], "SCALE", value)
        carry, ys = lax.scan(_loop_reading(kind, value), jnp.asarray(1.0), xs)
        c, expect = 1.0, []
        for x in np.arange(4.0):
            expect.append(c)
            c = c * value + x
        np.testing.assert_allclose(carry, c, rtol=1e-6)
        np.testing.assert_allclose(ys, expect, rtol=1e-6)


def test_bodies_reading_mutable_or_array_values_stay_correct():
    xs = jnp.arange(3.0)
    scale = [1.0]
    for value in (1.0, 3.0):
        scale[0] = value  # a list: no key, staged every time
        out, _ = lax.scan(lambda c, x: (c * scale[0] + x, None), jnp.asarray(1.0), xs)
        np.testing.assert_allclose(out, ((1.0 * value + 0) * value + 1) * value + 2)
        w = jnp.asarray(value)  # an Array (here a default): keyed by identity
        out, _ = lax.scan(lambda c, x, w=w: (c * w + x, None), jnp.asarray(1.0), xs)
        np.testing.assert_allclose(out, ((1.0 * value + 0) * value + 1) * value + 2)
    assert eager.function_key(lambda: scale) is None
    assert eager.function_key(lambda: xs) is not None
    big = jnp.zeros(eager._MAX_KEPT_SIZE + 1)
    assert eager.function_key(lambda: big) is None  # not kept alive by the cache


def test_reused_body_under_grad_matches_jit():
    def loss(w):
        out, _ = lax.scan(lambda c, x: (jnp.sin(c) * 0.5 + x * w, None), jnp.zeros(3), w)
        return jnp.sum(out ** 2)
    w = jnp.asarray(np.linspace(-1, 1, 3, dtype=np.float32))
    for _ in range(3):
        np.testing.assert_allclose(funcjax.grad(loss)(w), funcjax.jit(funcjax.grad(loss))(w),
                                   rtol=1e-5, atol=1e-6)


class _Scaled:
    """A callable object as a branch or body (no ``__code__`` to key a cache on)."""

    def __init__(self, k):
        self.k = k

    def __call__(self, v):
        return v * self.k


def test_branches_and_bodies_that_are_not_plain_functions():
    """Eager control flow given a jitted function, a ``functools.partial`` or a callable object
    (found by the nested-transformations fuzzer: a jitted branch raised AttributeError):
    each call stages it afresh and gives the Python result."""
    x = np.array([0.5, -1.0, 2.0], np.float32)
    jitted = funcjax.jit(lambda v: jnp.sin(v) * 2)
    half = functools.partial(jnp.multiply, 0.5)
    for k, branch in enumerate([jitted, half, _Scaled(3.0)]):
        want_true = np.asarray(branch(jnp.asarray(x)))
        for _ in range(2):  # a second call would hit a cache, if one were kept
            got = lax.cond(x[0] > 0, branch, lambda v: -v, jnp.asarray(x))
            np.testing.assert_allclose(np.asarray(got), want_true, rtol=1e-6)
            got = lax.cond(x[1] > 0, branch, lambda v: -v, jnp.asarray(x))
            np.testing.assert_allclose(np.asarray(got), -x)
        body = (lambda i, v, b=branch: b(v) + 1.0)
        loop = lax.fori_loop(0, 3, body, jnp.asarray(x))
        want = x
        for _ in range(3):
            want = np.asarray(branch(jnp.asarray(want))) + 1.0
        np.testing.assert_allclose(np.asarray(loop), want, rtol=1e-5, err_msg=str(k))
        ys = lax.scan(lambda c, v, b=branch: (c, b(v)), 0.0, jnp.asarray(x))[1]
        np.testing.assert_allclose(np.asarray(ys), np.asarray(branch(jnp.asarray(x))),
                                   rtol=1e-6)


def _entries_in_use():
    return [p for p in eager._programs.values()
            if p is not None and p.entry not in (None, False)]


def test_hot_compiled_loops_take_their_native_entry_with_equal_results(always_compile):
    """After ``NATIVE_AFTER`` calls a compiled loop runs through its generated entry; its
    results are the bits of the checked Python path, for the forward and backward scans of
    an eager gradient, and equal jit's."""
    y0 = jnp.linspace(0, 1, 8)
    g = funcjax.grad(_rk4_loss)
    first = g(y0)  # Python path
    for _ in range(eager.NATIVE_AFTER + 1):
        hot = g(y0)
    entries = _entries_in_use()
    assert entries, "no compiled loop built its native entry"
    before = sum(e.entry.calls for e in entries)
    again = g(y0)
    assert sum(e.entry.calls for e in entries) > before  # the entry ran
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(hot, first)
    np.testing.assert_allclose(again, funcjax.jit(g)(y0), rtol=1e-5)


def test_native_loop_entries_fall_back_for_other_operands_and_debug_nans(always_compile):
    xs = jnp.linspace(-2, 2, 40).reshape(10, 4)
    for _ in range(eager.NATIVE_AFTER + 1):
        lax.scan(_scan_with(0.5), jnp.ones(4), xs)
    loop = next(p for p in eager._programs.values()
                if p is not None and p.entry not in (None, False)
                and p.program.closed.in_avals[-1].shape == (10, 4))
    calls = loop.entry.calls
    # float64 numpy operands are not what the entry was built for: it declines them and the
    # checked Python path converts them (float32 without x64), as a jitted call does.
    from_python = loop(np.ones(4), np.asarray(xs, np.float64))
    assert loop.entry.calls == calls
    c, ys = loop(np.ones(4, np.float32), np.asarray(xs))
    assert loop.entry.calls == calls + 1
    for a, b in zip(from_python, (c, ys)):
        np.testing.assert_array_equal(a, b)
    ref_c, ref_ys = _python_scan(0.5, np.ones(4, np.float32), np.asarray(xs))
    np.testing.assert_allclose(c, ref_c, rtol=1e-5)
    np.testing.assert_allclose(ys, ref_ys, rtol=1e-5, atol=1e-5)
    with debug_nans():
        out = loop(np.ones(4, np.float32), np.asarray(xs))
    assert loop.entry.calls == calls + 1  # debug_nans checks every output in Python
    np.testing.assert_array_equal(out[0], c)

