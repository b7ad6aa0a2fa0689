"""scan and lax.map against Python loops, eagerly and through make_jaxpr."""

import numpy as np
import pytest
from cf_helpers import eager_and_staged
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcjax
import funcjax.numpy as jnp
from funcjax import lax


def python_scan(f, carry, xs, length, reverse=False):
    ys = [None] * length
    for i in (reversed(range(length)) if reverse else range(length)):
        carry, ys[i] = f(carry, None if xs is None else xs[i])
    return carry, np.stack(ys) if length else np.zeros((0,), np.float32)


def step(c, x):
    return c * 0.5 + jnp.sin(x), c * x


def step_np(c, x):
    return np.float32(c * np.float32(0.5) + np.sin(x)), np.float32(c * x)


arrays = hnp.arrays(np.float32, st.integers(1, 6), elements=st.floats(-2, 2, width=32))


@settings(max_examples=15, deadline=None)
@given(arrays, st.booleans())
def test_scan_matches_a_python_loop(xs, reverse):
    eager_and_staged(lambda c, xs: lax.scan(step, c, xs, reverse=reverse),
                     lambda c, xs: python_scan(step_np, c, xs, len(xs), reverse),
                     np.float32(1.0), xs, rtol=1e-5, atol=1e-6)


def test_scan_with_pytrees_of_carries_and_xs():
    def f(c, x):
        a, (b,) = c
        return (a + x["u"], (b * x["v"],)), {"s": a * b, "t": (x["u"], x["v"])}

    def ref(init, xs):
        (a, (b,)), ys = init, []
        for u, v in zip(xs["u"], xs["v"]):
            ys.append({"s": a * b, "t": (u, v)})
            a, b = a + u, b * v
        stack = lambda *leaves: np.stack(leaves)  # noqa: E731
        return (a, (b,)), funcjax.tree_map(stack, *ys)
    xs = {"u": np.arange(4, dtype=np.float32), "v": np.linspace(1, 2, 4, dtype=np.float32)}
    init = (np.ones(2, np.float32), (np.float32(2),))
    eager_and_staged(lambda init, xs: lax.scan(f, init, xs), ref, init, xs, rtol=1e-6)


def test_scan_without_xs_needs_a_length():
    eager_and_staged(lambda c: lax.scan(lambda c, _: (c + 1, c * 2), c, length=3),
                     lambda c: (c + 3, np.array([c * 2, (c + 1) * 2, (c + 2) * 2])),
                     np.float32(1))
    with pytest.raises(ValueError, match="no values to scan over and `length` not provided"):
        lax.scan(lambda c, x: (c, x), 0.0, None)


def test_scan_of_length_zero_and_unroll():
    carry, ys = lax.scan(step, 1.0, jnp.zeros((0,)))
    assert float(carry) == 1.0 and ys.shape == (0,)
    for unroll in (2, True, 5):
        eager_and_staged(lambda c, xs, unroll=unroll: lax.scan(step, c, xs, unroll=unroll),
                         lambda c, xs: python_scan(step_np, c, xs, 4), np.float32(1),
                         np.arange(4, dtype=np.float32), rtol=1e-6)
    jaxpr = funcjax.make_jaxpr(lambda xs: lax.scan(step, 0.0, xs, unroll=True))(jnp.ones(3))
    assert jaxpr.eqns[-1].params["unroll"] == 3


def test_scan_captures_traced_values_as_consts():
    def f(w, xs):
        return lax.scan(lambda c, x: (c + w * x, c), 0.0, xs)
    jaxpr = funcjax.make_jaxpr(f)(2.0, jnp.ones(3))
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "scan"]
    assert eqn.params["num_consts"] == 1 and eqn.params["num_carry"] == 1
    eager_and_staged(f, lambda w, xs: python_scan(lambda c, x: (c + w * x, c), np.float32(0),
                                                  xs, 3), np.float32(2), np.arange(3.0))


def test_lax_map():
    xs = np.arange(6, dtype=np.float32).reshape(3, 2)
    eager_and_staged(lambda xs: lax.map(lambda r: jnp.sum(r * r), xs),
                     lambda xs: (xs * xs).sum(1), xs)
    eager_and_staged(lambda xs: lax.map(lambda p: (p[0] + 1, p[1]), xs),
                     lambda xs: (xs[0] + 1, xs[1]), (xs, xs * 2))


# -- errors ----------------------------------------------------------------------------------
def test_scan_carry_type_change_shows_both_types():
    with pytest.raises(TypeError) as err:
        lax.scan(lambda c, x: (c.astype(jnp.int32), x), 1.0, jnp.ones(3))
    msg = str(err.value)
    assert "carry c has type float32[]" in msg and "int32[]" in msg


def test_scan_length_errors():
    with pytest.raises(ValueError, match="different leading axis sizes: 3, 4"):
        lax.scan(lambda c, x: (c, x), 1.0, (jnp.ones(3), jnp.ones(4)))
    with pytest.raises(ValueError, match="disagrees"):
        lax.scan(lambda c, x: (c, x), 1.0, jnp.ones(3), length=4)
    with pytest.raises(ValueError, match="no leading axis"):
        lax.scan(lambda c, x: (c, x), 1.0, 2.0)


def test_scan_body_must_return_a_pair():
    with pytest.raises(TypeError, match="must be a pair"):
        lax.scan(lambda c, x: c, 1.0, jnp.ones(3))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 10])
def test_lax_map_with_batch_size(batch_size):
    xs = np.arange(14, dtype=np.float32).reshape(7, 2)
    f = lambda r: (jnp.sum(r * r), r[::-1])  # noqa: E731
    eager_and_staged(lambda xs: lax.map(f, xs, batch_size=batch_size),
                     lambda xs: ((xs * xs).sum(1), xs[:, ::-1]), xs)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        lax.map(f, xs, batch_size=0)
