"""Straight-line eager code (``funcjax.interpreters.straight_line``) behind eager jvp rules and
tape pullbacks (``steps.fast``): it must give the step-by-step results bit for bit, be taken
only for inputs of exactly the staged types, and leave every other input to the binding
path with its checks."""

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.interpreters import jvp as jvp_interpreter
from funcjax.interpreters import steps, tape

F32 = np.float32


def bits(x):
    a = np.asarray(x)
    return a.dtype, a.shape, a.tobytes(), getattr(x, "weak_type", None)


@contextlib.contextmanager
def patched(make_fast):
    """Fresh jvp-rule and pullback caches whose compiled steps (and the tape's forward
    steps) get ``make_fast(fast)`` as their straight-line function."""
    compile_steps = steps.compile_steps

    def compile_with(closed):
        compiled = compile_steps(closed)
        compiled[0].fast = make_fast(compiled[0].fast)
        return compiled
    generate = tape.generate  # (the tape's forward steps)
    saved = jvp_interpreter._programs, tape._programs
    jvp_interpreter._programs, tape._programs = {}, {}
    jvp_interpreter.compile_steps = tape.compile_steps = compile_with
    tape.generate = lambda *args, **kwargs: make_fast(generate(*args, **kwargs))
    try:
        yield
    finally:
        jvp_interpreter.compile_steps = tape.compile_steps = compile_steps
        tape.generate = generate
        jvp_interpreter._programs, tape._programs = saved


@pytest.fixture
def counted():
    """Records, for each call of a straight-line function, whether it ran (gave results)."""
    calls = []

    def counting(fast):
        if fast is None:
            return None

        def wrapped(*inputs):
            out = fast(*inputs)
            calls.append(out is not None)
            return out
        return wrapped
    with patched(counting):
        yield calls


FUNCTIONS = {
    "sin_chain": lambda v: jnp.sum(jnp.sin(v) * 2 + 1),
    "tanh_mul": lambda v: jnp.sum(jnp.tanh(v) * v),
    "exp_div": lambda v: jnp.sum(jnp.exp(v) / (1 + v * v)),
    "matmul": lambda v: jnp.sum(v.reshape(2, -1) @ v.reshape(-1, 2)),
    "index": lambda v: v[1] * v[0] + v[1:3].sum(),
    "max": lambda v: jnp.max(v * v) + jnp.mean(v),
    "log_softmax": lambda v: jnp.sum(v - jnp.log(jnp.sum(jnp.exp(v)))),
}


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(FUNCTIONS)), seed=st.integers(0, 999),
       dtype=st.sampled_from([np.float32, np.float16]))
def test_straight_line_equals_step_by_step(name, seed, dtype):
    f = FUNCTIONS[name]
    x = jnp.asarray(np.random.default_rng(seed).uniform(-2, 2, 8).astype(dtype))
    t = jnp.asarray(np.random.default_rng(seed + 1).uniform(-1, 1, 8).astype(dtype))
    g = funcjax.grad(f)

    def results():
        out = []
        for _ in range(3):  # cold, then warm caches
            p, tangent = funcjax.jvp(f, (x,), (t,))
            out.append((bits(p), bits(tangent), bits(g(x))))
        return out
    with patched(lambda fast: fast):
        fast = results()
    assert fast[0] == fast[1] == fast[2]
    with patched(lambda fast: None):
        slow = results()
    assert fast == slow
    np.testing.assert_allclose(np.asarray(g(x), np.float64),
                               np.asarray(funcjax.jit(g)(x), np.float64), rtol=2e-2, atol=2e-2)


def test_straight_line_is_taken_for_staged_types(counted):
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype=F32))
    for _ in range(3):
        funcjax.jvp(FUNCTIONS["sin_chain"], (x,), (x,))
        funcjax.grad(FUNCTIONS["sin_chain"])(x)
    assert counted and all(counted)


def test_other_input_types_bind_step_by_step(counted):
    # A weak-typed tangent is not the staged (strong) type: that call binds each step, with
    # its type rules, and gives the same result as numpy.
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype=F32))
    f = FUNCTIONS["tanh_mul"]
    funcjax.jvp(f, (x,), (x,))
    counted.clear()
    weak = funcjax.core.array.Array(np.linspace(0, 1, 8, dtype=F32), weak_type=True)
    _, tangent = funcjax.jvp(f, (x,), (weak,))
    a, w = np.asarray(x, np.float64), np.asarray(weak, np.float64)
    want = np.sum((1 - np.tanh(a) ** 2) * w * a + np.tanh(a) * w)
    np.testing.assert_allclose(float(tangent), want, rtol=1e-5)
    assert False in counted  # the weak tangent was refused by a straight-line function


def test_errors_unchanged_with_warm_caches():
    x = jnp.asarray(np.linspace(-1, 1, 8, dtype=F32))
    f = FUNCTIONS["sin_chain"]
    for _ in range(3):
        funcjax.jvp(f, (x,), (x,))
    with pytest.raises(ValueError, match="shapes"):
        funcjax.jvp(f, (x,), (jnp.ones(4, F32),))
    with pytest.raises(TypeError, match="dtype"):
        funcjax.jvp(f, (x,), (jnp.ones(8, jnp.int32),))
    with pytest.raises(TypeError):
        funcjax.grad(lambda v: v * 2)(x)  # a non-scalar output


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float16, "weak"]), seed=st.integers(0, 999),
       shape=st.sampled_from([(), (3,), (2, 3)]))
def test_tangent_sums_equal_lax_add(dtype, seed, shape):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(shape).astype(np.float32 if dtype == "weak" else dtype)
              for _ in range(2)]
    a, b = (funcjax.core.array.Array(v, weak_type=dtype == "weak") for v in values)
    for _ in range(2):  # staged, then cached
        assert bits(jvp_interpreter.add_tangents(a, b)) == bits(funcjax.lax.add(a, b))
    ints = [jnp.asarray(np.arange(3, dtype=np.int32))] * 2  # not a float type: lax.add
    assert bits(jvp_interpreter.add_tangents(*ints)) == bits(funcjax.lax.add(*ints))
