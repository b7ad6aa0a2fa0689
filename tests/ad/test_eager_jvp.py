"""Eager jvp through cached jvp programs (``interpreters.jvp._program``) against jvp under
jit (the rules traced) and finite differences, with caches warm and keys varied."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.interpreters import jvp as jvp_module

FUNCTIONS = [
    lambda x, y: jnp.sum(jnp.sin(x) * 2 + 1) + jnp.sum(y),
    lambda x, y: jnp.tanh(x) * y - jnp.exp(-x * x),
    lambda x, y: jnp.where(x > 0, x ** 3, y / (1 + x * x)),
    lambda x, y: jnp.cumsum(x * y) + jnp.max(x),
    lambda x, y: (x @ jnp.ones((3, 2), x.dtype), jnp.sqrt(y * y + 1)),
]


def _fd(f, x, y, tx, ty, eps=1e-3):
    def at(s):
        out = f(jnp.asarray(x + s * tx), jnp.asarray(y + s * ty))
        return [np.asarray(o, np.float64) for o in (out if isinstance(out, tuple) else (out,))]
    plus, minus = at(eps), at(-eps)
    return [(p - m) / (2 * eps) for p, m in zip(plus, minus)]


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, len(FUNCTIONS) - 1), seed=st.integers(0, 2 ** 16),
       zero_y=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_eager_jvp_equals_jit_jvp_and_finite_differences(k, seed, zero_y, dtype):
    rng = np.random.default_rng(seed)
    f = FUNCTIONS[k]
    x, y, tx, ty = (rng.uniform(-1, 1, (4, 3)).astype(np.float32) for _ in range(4))
    # x: distinct values at least 1/6 apart and 1/60 away from 0, so the finite differences
    # (step 1e-3) cross neither the kink of where(x > 0) nor that of max(x)
    x = ((rng.permutation(12).reshape(4, 3) + rng.uniform(0.1, 0.9)) / 6 - 1).astype(np.float32)
    if zero_y:
        ty = np.zeros_like(ty)
    with funcjax.enable_x64(dtype == np.float64):
        args = [jnp.asarray(v.astype(dtype)) for v in (x, y, tx, ty)]

        def jvp(a, b, c, d):
            return funcjax.jvp(f, (a, b), (c, d))
        eager = [jvp(*args) for _ in range(2)]  # the second run uses the cached programs
        jitted = funcjax.jit(jvp)(*args)
        for got in eager:
            for e, j in zip(funcjax.tree_util.tree_leaves(got),
                            funcjax.tree_util.tree_leaves(jitted)):
                np.testing.assert_allclose(np.asarray(e), np.asarray(j), rtol=2e-5, atol=2e-5)
        tangents = eager[1][1]
        tangents = tangents if isinstance(tangents, tuple) else (tangents,)
        fd = _fd(f, *(v.astype(np.float64) for v in (x, y, tx, ty)))
        for t, d in zip(tangents, fd):
            np.testing.assert_allclose(np.asarray(t), d, rtol=2e-2, atol=2e-2)


def test_jvp_programs_are_keyed_by_weak_type_and_nonzero_tangents():
    x = jnp.asarray(np.array([0.5, -1.0], np.float32))
    jvp_module._programs.clear()
    t1 = funcjax.jvp(lambda a: a * 2.0 + jnp.sin(a), (x,), (x,))[1]
    t2 = funcjax.jvp(lambda a: a * 2 + jnp.sin(a), (x,), (x,))[1]
    t3 = funcjax.jvp(lambda a, b: a * b, (x, x), (x, jnp.zeros_like(x)))[1]
    t4 = funcjax.jvp(lambda a, b: a * b, (x, x), (x, x))[1]
    v = np.asarray(x)
    np.testing.assert_allclose(np.asarray(t1), v * 2 + np.cos(v) * v, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(t2), v * 2 + np.cos(v) * v, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(t3), v * v, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(t4), 2 * v * v, rtol=1e-6)
    assert any(p is not None for p in jvp_module._programs.values())


def test_errors_still_raised_with_warm_caches():
    x = jnp.asarray(np.ones((2, 3), np.float32))
    for _ in range(2):
        funcjax.jvp(lambda a: a @ a.T, (x,), (x,))
        with pytest.raises(TypeError):
            funcjax.jvp(lambda a: a @ a, (x,), (x,))
