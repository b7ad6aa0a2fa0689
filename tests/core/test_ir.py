"""The IR: printing in JAX's text form, typecheck, eval_jaxpr round trips, constants."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.core.abstract import ShapedArray
from funcjax.core.ir import Eqn, Jaxpr, JaxprTypeError, Var, typecheck
from funcjax.interpreters.eval import eval_closed_jaxpr
from funcjax.ops import elementwise as ew


def test_printer_matches_jax_text_form():
    def f(x, y):
        return jnp.sum(jnp.tanh(x @ y) * 2.0, axis=0)

    text = str(jax.make_jaxpr(f)(jnp.ones((3, 4)), jnp.ones((4, 5))))
    lines = text.splitlines()
    assert lines[0] == "{ lambda ; a:f32[3,4] b:f32[4,5]. let"
    # An equation longer than 80 columns puts its params one per line, as JAX does.
    assert lines[1] == "    c:f32[3,5] = dot_general["
    assert lines[2].startswith("      dimension_numbers=") and "    ] a b" in lines
    assert "    d:f32[3,5] = tanh c" in lines
    assert "2.0:f32[]" in text  # the Python scalar is an inline literal
    assert "g:f32[5] = reduce_sum[axes=(0,)] f" in text
    assert lines[-1] == "  in (g,) }"


def test_printer_layout_matches_jax():
    # Expected texts obtained from JAX 0.10.2 (jaxprs whose equations print the same in both).
    assert str(jax.make_jaxpr(lambda x: jnp.sin(jnp.cos(x)))(1.0)) == (
        "{ lambda ; a:f32[]. let b:f32[] = cos a; c:f32[] = sin b in (c,) }")
    assert str(jax.make_jaxpr(lambda x: (x, x))(1.0)) == "{ lambda ; a:f32[]. let  in (a, a) }"
    text = str(jax.make_jaxpr(lambda p, x: lax.cond(p, jnp.sin, jnp.cos, x))(
        True, jnp.ones((2, 3))))
    assert text == """{ lambda ; a:bool[] b:f32[2,3]. let
    c:i32[] = convert_element_type[new_dtype=int32 weak_type=False] a
    d:f32[2,3] = cond[
      branches=(
        { lambda ; e:f32[2,3]. let f:f32[2,3] = cos e in (f,) }
        { lambda ; g:f32[2,3]. let h:f32[2,3] = sin g in (h,) }
      )
    ] c b
  in (d,) }"""
    text = str(jax.make_jaxpr(lambda x: lax.scan(lambda c, y: (c + y, c), 0.0, x))(
        jnp.arange(3.0)))
    assert text == """{ lambda ; a:f32[3]. let
    b:f32[] c:f32[3] = scan[
      jaxpr={ lambda ; d:f32[] e:f32[]. let
          f:f32[] = convert_element_type[new_dtype=float32 weak_type=False] d
          g:f32[] = add f e
        in (g, d) }
      length=3
      num_carry=1
      num_consts=0
      reverse=False
      unroll=1
    ] 0.0:f32[] a
  in (b, c) }"""


def test_closed_over_arrays_become_constvars():
    w = jnp.arange(3.0)
    closed = jax.make_jaxpr(lambda x: x * w)(jnp.ones(3))
    assert len(closed.jaxpr.constvars) == 1 and np.array_equal(closed.consts[0], np.arange(3.0))
    assert str(closed).startswith("{ lambda a:f32[3]; b:f32[3]. let")
    np.testing.assert_allclose(eval_closed_jaxpr(closed, jnp.full(3, 2.0))[0], [0, 2, 4])


def test_typecheck_rejects_wrong_types_and_scoping():
    a = Var(ShapedArray((3,), np.float32))
    b = Var(ShapedArray((3,), np.float32))
    wrong = Var(ShapedArray((4,), np.float32))
    ok = Jaxpr([], [a], [Eqn(ew.sin_p, [a], {}, [b])], [b])
    assert typecheck(ok)
    with pytest.raises(JaxprTypeError, match="sin: output typed f32\\[4\\] but the rule gives "
                                             "f32\\[3\\]"):
        typecheck(Jaxpr([], [a], [Eqn(ew.sin_p, [a], {}, [wrong])], [wrong]))
    with pytest.raises(JaxprTypeError, match="used before it is defined"):
        typecheck(Jaxpr([], [], [Eqn(ew.sin_p, [a], {}, [b])], [b]))
    with pytest.raises(JaxprTypeError, match="assigned twice"):
        typecheck(Jaxpr([], [a], [Eqn(ew.sin_p, [a], {}, [a])], [a]))


# Random compositions of primitives: staged then re-evaluated equals eager evaluation.
UNARY = [jnp.sin, jnp.cos, jnp.tanh, jnp.exp, lambda x: jnp.log1p(x * x), jnp.abs,
         lambda x: x * 2.0 - 1, lambda x: jnp.sum(x, axis=-1, keepdims=True) + x,
         lambda x: jnp.max(x, axis=0) + x, lambda x: lax.rev(jnp.transpose(x), (0,)).T,
         lambda x: jnp.reshape(x, (-1,)).reshape(x.shape), lambda x: jnp.where(x > 0, x, -x),
         lambda x: lax.cumsum(x, axis=0), lambda x: x @ jnp.ones((x.shape[-1], x.shape[-1])),
         lambda x: lax.slice_in_dim(jnp.concatenate([x, x], axis=0), 0, x.shape[0]),
         lambda x: lax.pad(x, 0.0, [(1, -1, 0)] * x.ndim),
         lambda x: lax.dynamic_slice(jnp.concatenate([x, x]), [1] + [0] * (x.ndim - 1),
                                     x.shape)]


@given(st.lists(st.integers(0, len(UNARY) - 1), min_size=1, max_size=5),
       st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(0, 2**31 - 1))
def test_eval_jaxpr_of_make_jaxpr_equals_eager(program, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)

    def f(x):
        for i in program:
            x = UNARY[i](x)
        return x

    closed = jax.make_jaxpr(f)(x)
    assert typecheck(closed)
    np.testing.assert_allclose(eval_closed_jaxpr(closed, x)[0], f(jnp.asarray(x)), rtol=1e-5,
                               atol=1e-5)


def test_eager_results_are_float32_arrays():
    out = jnp.tanh(jnp.ones((2, 2)) @ jnp.ones((2, 2))) * 2.0
    assert isinstance(out, jax.Array) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.tanh(np.full((2, 2), 2.0)) * 2.0, rtol=1e-6)


def test_shaped_array_text_matches_jax():
    # JAX 0.10.2: repr(ShapedArray((2,3), float32)) == 'ShapedArray(float32[2,3])'
    assert repr(ShapedArray((2, 3), np.float32)) == "ShapedArray(float32[2,3])"
    assert repr(ShapedArray((), np.int32, True)) == "ShapedArray(int32[], weak_type=True)"
    assert str(ShapedArray((2,), np.bool_)) == "bool[2]"
    assert ShapedArray((2,), np.float32).str_short() == "f32[2]"  # jaxprs keep short names
