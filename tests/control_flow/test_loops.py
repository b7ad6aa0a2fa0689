"""while_loop and fori_loop against Python loops, eagerly and through make_jaxpr."""

import numpy as np
import pytest
from cf_helpers import eager_and_staged
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax


def collatz_steps(n):
    def body(s):
        n, steps = s
        odd = lax.rem(n, 2) == 1
        return lax.select(odd, 3 * n + 1, n // 2), steps + 1
    return lax.while_loop(lambda s: s[0] != 1, body, (n, 0))[1]


def collatz_reference(n):
    steps = 0
    while n != 1:
        n, steps = (3 * n + 1 if n % 2 else n // 2), steps + 1
    return np.int32(steps)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 60))
def test_while_loop_matches_a_python_while(n):
    eager_and_staged(collatz_steps, collatz_reference, np.int32(n))


def test_while_loop_with_pytree_carry_and_captured_values():
    scale = jnp.array([1.0, 2.0])

    def f(x, limit):
        return lax.while_loop(lambda s: s["i"] < limit,
                              lambda s: {"i": s["i"] + 1, "v": s["v"] * scale + x},
                              {"i": 0, "v": jnp.zeros(2)})

    def ref(x, limit):
        v = np.zeros(2, np.float32)
        for _ in range(limit):
            v = v * np.array([1.0, 2.0], np.float32) + x
        return {"i": np.int32(limit), "v": v}
    eager_and_staged(f, ref, np.float32(0.5), np.int32(4))
    eager_and_staged(f, ref, np.float32(0.5), np.int32(0))


def test_while_loop_promotes_a_weakly_typed_carry():
    out = lax.while_loop(lambda c: c < 10, lambda c: c * 2.5, 1)
    assert out.dtype == np.float32 and float(out) == 15.625


@settings(max_examples=15, deadline=None)
@given(st.integers(-2, 6), st.integers(-2, 8), st.floats(-2, 2, width=32))
def test_fori_loop_matches_a_python_for(lower, upper, x):
    def ref(lo, hi, x):
        for i in range(int(lo), int(hi)):
            x = np.float32(x * np.float32(0.9) + np.float32(i))
        return np.float32(x)
    body = lambda i, x: x * 0.9 + i  # noqa: E731
    eager_and_staged(lambda x: lax.fori_loop(lower, upper, body, x),
                     lambda x: ref(lower, upper, x), np.float32(x), rtol=1e-5, atol=1e-5)
    eager_and_staged(lambda lo, hi, x: lax.fori_loop(lo, hi, body, x), ref,
                     np.int32(lower), np.int32(upper), np.float32(x), rtol=1e-5, atol=1e-5)


def test_fori_loop_is_a_scan_with_concrete_bounds_and_a_while_otherwise():
    def names(jaxpr):
        return [e.primitive.name for e in jaxpr.eqns]
    static = funcjax.make_jaxpr(lambda x: lax.fori_loop(0, 3, lambda i, c: c * i, x))(1.0)
    assert "scan" in names(static) and "while" not in names(static)
    traced = funcjax.make_jaxpr(lambda n, x: lax.fori_loop(0, n, lambda i, c: c * i, x))(3, 1.0)
    assert "while" in names(traced) and "scan" not in names(traced)


def test_fori_loop_carry_promotion_and_unroll():
    assert float(lax.fori_loop(0, 3, lambda i, c: c + 1.5, 0)) == 4.5
    eager_and_staged(lambda x: lax.fori_loop(0, 5, lambda i, c: c + i, x, unroll=2),
                     lambda x: x + 10, np.float32(1))
    with pytest.raises(ValueError, match="unroll"):
        funcjax.make_jaxpr(lambda n: lax.fori_loop(0, n, lambda i, c: c, 1.0, unroll=2))(3)


# -- errors ----------------------------------------------------------------------------------
def test_while_carry_type_change_shows_both_types():
    with pytest.raises(TypeError) as err:
        lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, jnp.ones(3)), (1, 1.0))
    msg = str(err.value)
    assert "c[1] has type float32[]" in msg and "float32[3]" in msg
    assert "shapes do not match" in msg


def test_while_carry_structure_change():
    with pytest.raises(TypeError, match="same pytree structure"):
        lax.while_loop(lambda c: c[0] < 10, lambda c: [c[0] + 1, c[1]], (1, 1.0))


def test_fori_carry_type_change_shows_both_types():
    with pytest.raises(TypeError, match=r"float32\[\].*int32\[\].*dtypes do not match"):
        lax.fori_loop(0, 3, lambda i, c: c.astype(jnp.int32), 1.0)


@pytest.mark.parametrize("cond_fun, shown", [(lambda c: c, "i32[]"),
                                              (lambda c: jnp.zeros(2) < c, "bool[2]"),
                                              (lambda c: (c < 1, c < 2), "PyTreeDef")])
def test_while_predicate_must_be_a_boolean_scalar(cond_fun, shown):
    with pytest.raises(TypeError, match="cond_fun must return a boolean scalar") as err:
        lax.while_loop(cond_fun, lambda c: c - 1, 3)
    assert shown in str(err.value)


def test_fori_bounds_must_be_integers():
    with pytest.raises(TypeError, match="lower must be an integer scalar"):
        lax.fori_loop(0.5, 3, lambda i, c: c, 1.0)
