"""cond and switch against Python ``if``/indexing, eagerly and through make_jaxpr."""

import numpy as np
import pytest
from cf_helpers import assert_close, eager_and_staged, staged
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

floats = st.floats(-3, 3, allow_nan=False, width=32)


@settings(max_examples=20, deadline=None)
@given(floats)
def test_cond_picks_the_branch_of_the_predicate(x):
    eager_and_staged(lambda x: lax.cond(x > 0, jnp.sin, jnp.cos, x),
                     lambda x: np.sin(x) if x > 0 else np.cos(x), np.float32(x))


def test_cond_without_operands_and_with_numeric_predicates():
    assert float(lax.cond(True, lambda: 1.0, lambda: 2.0)) == 1.0
    assert float(lax.cond(0, lambda: 1.0, lambda: 2.0)) == 2.0
    assert float(lax.cond(np.float32(0.5), lambda: 1.0, lambda: 2.0)) == 1.0
    eager_and_staged(lambda p: lax.cond(p, lambda: 1.0, lambda: 2.0),
                     lambda p: np.float32(1.0 if p else 2.0), np.int32(3))


def test_cond_with_pytree_operands_and_outputs():
    def f(x, y):
        return lax.cond(x > y, lambda a: {"s": a[0] + a[1], "d": (a[0] - a[1],)},
                        lambda a: {"s": a[0] * a[1], "d": (a[1],)}, (x, y))

    def ref(x, y):
        return {"s": x + y, "d": (x - y,)} if x > y else {"s": x * y, "d": (y,)}
    for x, y in [(2.0, 1.0), (1.0, 2.0)]:
        eager_and_staged(f, ref, np.float32(x), np.float32(y))


def test_cond_branches_capture_traced_and_concrete_values():
    c = jnp.arange(3.0)

    def f(x, y):
        return lax.cond(x > 0, lambda: x * c, lambda: c + y)
    def ref(x, y):
        return x * np.asarray(c) if x > 0 else np.asarray(c) + y
    eager_and_staged(f, ref, np.float32(2), np.float32(5))
    eager_and_staged(f, ref, np.float32(-2), np.float32(5))
    jaxpr = funcjax.make_jaxpr(f)(1.0, 2.0)
    (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "cond"]
    # Captured values are operands of the cond (index, x, c, y): c is shared by both branches.
    assert len(eqn.inputs) == 4
    assert all(len(b.jaxpr.constvars) == 0 for b in eqn.params["branches"])


def test_cond_jaxpr_is_printed_with_both_branches():
    text = str(funcjax.make_jaxpr(lambda x: lax.cond(x > 0, jnp.sin, jnp.cos, x))(1.0))
    assert "cond[" in text and "sin" in text and "cos" in text
    assert text.index("cos") < text.index("sin")  # branch 0 is false_fun, as in JAX


@pytest.mark.parametrize("index", [-5, -1, 0, 1, 2, 3, 100])
def test_switch_clamps_the_index(index):
    branches = [lambda x: x + 1, lambda x: x * 10, lambda x: -x]
    clamped = min(max(index, 0), 2)
    eager_and_staged(lambda i, x: lax.switch(i, branches, x),
                     lambda i, x: [x + 1, x * 10, -x][clamped], np.int32(index), np.float32(3))


def test_switch_with_one_branch_and_no_operands():
    assert float(lax.switch(7, [lambda: 4.0])) == 4.0
    assert_close(staged(lambda i: lax.switch(i, [lambda: 1.0, lambda: 2.0]))(np.int32(1)),
                 np.float32(2.0))


def test_cond_inside_cond():
    def f(x):
        return lax.cond(x > 0, lambda x: lax.cond(x > 1, jnp.exp, jnp.sin, x),
                        lambda x: -x, x)
    for x in (-1.0, 0.5, 2.0):
        eager_and_staged(f, lambda x: (np.exp(x) if x > 1 else np.sin(x)) if x > 0 else -x,
                         np.float32(x))


# -- errors ----------------------------------------------------------------------------------
def test_branch_output_type_mismatch_shows_both_types():
    with pytest.raises(TypeError) as err:
        lax.cond(True, lambda x: x, lambda x: x.astype(jnp.int32), 1.0)
    msg = str(err.value)
    assert "float32[]" in msg and "int32[]" in msg and "dtypes do not match" in msg
    assert "true_fun" in msg and "false_fun" in msg


def test_branch_output_shape_mismatch_names_the_output():
    with pytest.raises(TypeError, match=r"at path \[1\] has type float32\[\].*float32\[3\]"):
        lax.cond(True, lambda x: (x, x), lambda x: (x, jnp.ones(3)), 1.0)


def test_branch_output_structure_mismatch():
    with pytest.raises(TypeError, match="same pytree structure"):
        lax.cond(True, lambda x: (x, x), lambda x: [x, x], 1.0)


def test_switch_mismatch_names_the_branches():
    with pytest.raises(TypeError, match=r"branches\[0\].*branches\[2\]"):
        lax.switch(0, [lambda: 1.0, lambda: 2.0, lambda: jnp.zeros(2)])


def test_predicate_must_be_a_scalar_number():
    with pytest.raises(TypeError, match="Pred must be a scalar"):
        lax.cond(jnp.array([True, False]), lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="Pred must be a scalar"):
        funcjax.make_jaxpr(lambda p: lax.cond(p, lambda: 1.0, lambda: 2.0))(np.ones(2, bool))


def test_switch_index_must_be_an_integer_scalar():
    with pytest.raises(TypeError, match="Index type must be an integer"):
        lax.switch(1.0, [lambda: 1.0, lambda: 2.0])
    with pytest.raises(TypeError, match="must be a scalar"):
        lax.switch(np.array([0, 1]), [lambda: 1.0, lambda: 2.0])
