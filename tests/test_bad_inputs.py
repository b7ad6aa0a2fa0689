"""Bad calls across the API, one table row each: the exception type (JAX's kind) and that the
message names the function, the offending argument or value, and the fix."""

import numpy as np
import pytest

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax import tree_util as tu
from funcjax.core.errors import ConcretizationTypeError, TracerBoolConversionError

x3 = jnp.ones(3)
m23 = jnp.ones((2, 3))


def _custom_jvp_one_value():
    f = jax.custom_jvp(lambda x: jnp.sin(x))
    f.defjvp(lambda p, t: jnp.cos(p[0]) * t[0])
    return jax.jvp(f, (1.0,), (1.0,))


def _custom_vjp_bwd(ct):
    f = jax.custom_vjp(lambda x: x * 2)
    f.defvjp(lambda x: (x * 2, None), lambda r, g: (ct,))
    return jax.grad(lambda x: f(x).sum())(x3)


def _custom_vjp_fwd_not_pair():
    f = jax.custom_vjp(lambda x: x * 2)
    f.defvjp(lambda x: x * 2, lambda r, g: (g,))
    return jax.grad(f)(1.0)


def _custom_vjp_no_rule():
    return jax.custom_vjp(lambda x: x * 2)(1.0)


# (id, call, exception type, words the message must contain: function, argument, fix)
CASES = [
    # shapes given by the user
    ("zeros-float-shape", lambda: jnp.zeros((2.5,)), TypeError,
     ["jnp.zeros", "shape", "(2.5,)", "int("]),
    ("ones-float-size", lambda: jnp.ones(2.5), TypeError, ["jnp.ones", "shape", "2.5", "int("]),
    ("full-float-shape", lambda: jnp.full((2.5, 1), 1.0), TypeError,
     ["jnp.full", "shape", "2.5", "int("]),
    ("zeros-traced-shape", lambda: jax.jit(lambda n: jnp.zeros(n))(3), TypeError,
     ["jnp.zeros", "shape", "argument 'n'", "static_argnums"]),
    ("ones-traced-dim", lambda: jax.jit(lambda n: jnp.ones((n, 2)))(3), TypeError,
     ["jnp.ones", "shape", "traced", "static_argnums"]),
    ("reshape-float", lambda: jnp.reshape(x3, (1.5, 2)), TypeError,
     ["jnp.reshape", "shape", "1.5", "int("]),
    ("reshape-size", lambda: jnp.reshape(x3, (2, 2)), TypeError,
     ["reshape", "(2, 2)", "same number of elements"]),
    ("broadcast_to-float", lambda: jnp.broadcast_to(x3, (2.5, 3)), TypeError,
     ["jnp.broadcast_to", "shape", "2.5", "int("]),
    ("broadcast_to-shape", lambda: jnp.broadcast_to(x3, (2, 4)), ValueError,
     ["broadcast_to", "(2, 4)", "must be 1 or equal"]),
    ("iota-float", lambda: lax.iota(jnp.int32, 3.9), TypeError, ["lax.iota", "size", "3.9",
                                                                   "int("]),
    ("broadcasted_iota-float", lambda: lax.broadcasted_iota(jnp.int32, (2.5,), 0), TypeError,
     ["lax.broadcasted_iota", "shape", "2.5", "int("]),
    ("lax-full-float", lambda: lax.full((1.5,), 0.0), TypeError, ["lax.full", "shape", "1.5",
                                                                  "int("]),
    ("lax-reshape-float", lambda: lax.reshape(x3, (3.0,)), TypeError,
     ["lax.reshape", "new_sizes", "3.0", "int("]),
    ("ShapeDtypeStruct-float", lambda: jax.ShapeDtypeStruct((3.5,), jnp.float32), TypeError,
     ["ShapeDtypeStruct", "shape", "3.5", "int("]),
    ("ShapeDtypeStruct-datetime", lambda: jax.ShapeDtypeStruct((3,), np.dtype("M8[s]")),
     TypeError, ["ShapeDtypeStruct", "datetime64", "use one of"]),
    ("ShapeDtypeStruct-not-a-dtype", lambda: jax.ShapeDtypeStruct((3,), "foo"), TypeError,
     ["ShapeDtypeStruct", "'foo'", "jnp.float32"]),
    # dynamic slicing
    ("dynamic_slice-float-start", lambda: lax.dynamic_slice(x3, (1.5,), (2,)), TypeError,
     ["lax.dynamic_slice", "start_indices", "float", ".astype(int)"]),
    ("dynamic_slice-float-array-start",
     lambda: lax.dynamic_slice(x3, (jnp.float32(1),), (2,)), TypeError,
     ["lax.dynamic_slice", "start_indices", "float32", ".astype(int)"]),
    ("dynamic_update_slice-float-start",
     lambda: lax.dynamic_update_slice(x3, jnp.ones(2), (1.0,)), TypeError,
     ["lax.dynamic_update_slice", "start_indices", "float", ".astype(int)"]),
    ("dynamic_update_slice-too-big", lambda: lax.dynamic_update_slice(x3, jnp.ones(4), (0,)),
     TypeError, ["dynamic_update_slice", "f32[4]", "no larger"]),
    # jit arguments
    ("donate-out-of-range", lambda: jax.jit(lambda x: x, donate_argnums=3)(x3), ValueError,
     ["jit(", "donate_argnums", "positional"]),
    ("donate-negative-out-of-range", lambda: jax.jit(lambda x: x, donate_argnums=-2)(x3),
     ValueError, ["jit(", "donate_argnums", "fix the numbers"]),
    ("donate-and-static", lambda: jax.jit(lambda x: x, static_argnums=0, donate_argnums=0),
     ValueError, ["jit(", "static and donated", "remove it from donate_argnums"]),
    ("static_argnums-out-of-range", lambda: jax.jit(lambda x: x, static_argnums=2), ValueError,
     ["jit(", "static_argnums", "range(1)"]),
    ("jit-not-callable", lambda: jax.jit(3), TypeError, ["jit", "3", "jit(f)"]),
    ("grad-not-callable", lambda: jax.grad(3), TypeError, ["grad", "3", "grad(f)"]),
    ("vmap-not-callable", lambda: jax.vmap(3), TypeError, ["vmap", "3", "vmap(f)"]),
    ("make_jaxpr-not-callable", lambda: jax.make_jaxpr("f"), TypeError,
     ["make_jaxpr", "'f'", "make_jaxpr(f)"]),
    # indexing
    ("index-empty-axis-array-scalar", lambda: jnp.zeros(0)[jnp.int32(0)], IndexError,
     ["index", "axis 0", "size 0"]),
    ("index-empty-axis-traced", lambda: jax.jit(lambda i: jnp.zeros(0)[i])(0), IndexError,
     ["index", "axis 0", "size 0"]),
    ("index-float", lambda: x3[1.5], TypeError, ["x[index]", "float64", ".astype(int)"]),
    ("index-float-array", lambda: x3[jnp.array([1.0])], TypeError,
     ["x[index]", "float32", ".astype(int)"]),
    ("setitem", lambda: x3.__setitem__(0, 1.0), TypeError, ["x[idx] = y", "immutable",
                                                           ".at[idx].set(y)"]),
    ("traced-boolean-mask", lambda: jax.jit(lambda x: x[x > 0])(x3), IndexError,
     ["boolean indices", "bool[3]", "jnp.where"]),
    ("take-bad-mode", lambda: jnp.take(x3, jnp.array([0]), mode="bad"), ValueError,
     ["mode", "'bad'", "'clip'"]),
    ("at-set-bad-mode", lambda: x3.at[0].set(1.0, mode="bad"), ValueError,
     ["at[]", "mode", "'clip'"]),
    # differentiation
    ("grad-has_aux-single", lambda: jax.grad(lambda x: x.sum(), has_aux=True)(x3), TypeError,
     ["grad", "has_aux", "f32[]", "return (output, aux)"]),
    ("grad-non-scalar", lambda: jax.grad(lambda x: x)(x3), TypeError,
     ["grad(", "shape (3,)", ".sum()"]),
    ("grad-int-input", lambda: jax.grad(lambda x: x * 2)(3), TypeError,
     ["grad(", "argument 'x'", "int32", ".astype(float)"]),
    ("grad-argnums-range", lambda: jax.grad(lambda x: x.sum(), argnums=2)(x3), ValueError,
     ["grad", "argnums=2", "positional"]),
    ("vjp-cotangent-shape", lambda: jax.vjp(jnp.sin, x3)[1](jnp.ones(4)), ValueError,
     ["vjp", "cotangent", "(3,) and (4,)"]),
    ("jvp-tangent-shape", lambda: jax.jvp(jnp.sin, (x3,), (jnp.ones(4),)), ValueError,
     ["jvp", "tangent", "(3,) and (4,)"]),
    ("jvp-tangent-dtype", lambda: jax.jvp(jnp.sin, (x3,), (jnp.ones(3, jnp.int32),)),
     TypeError, ["jvp", "tangent", "int32", "needs tangent dtype float32"]),
    ("jvp-primals-not-tuple", lambda: jax.jvp(jnp.sin, x3, x3), TypeError,
     ["jvp", "primals", "jvp(f, (x,), (v,))"]),
    ("custom_jvp-rule-one-value", _custom_jvp_one_value, TypeError,
     ["custom_jvp", "jvp rule", "f32[]", "return f(x), df(x) * t"]),
    ("custom_vjp-bwd-shape", lambda: _custom_vjp_bwd(jnp.ones(4)), ValueError,
     ["custom_vjp", "bwd", "f32[4]", "argument's shape"]),
    ("custom_vjp-bwd-int", lambda: _custom_vjp_bwd(jnp.ones(3, jnp.int32)), ValueError,
     ["custom_vjp", "bwd", "i32[3]", "float dtype"]),
    ("custom_vjp-fwd-not-pair", _custom_vjp_fwd_not_pair, TypeError,
     ["custom_vjp", "fwd rule", "pair (output, residuals)"]),
    ("custom_vjp-no-rule", _custom_vjp_no_rule, AttributeError,
     ["custom_vjp", "no rule", "defvjp(fwd, bwd)"]),
    # vmap
    ("vmap-inconsistent-sizes", lambda: jax.vmap(lambda a, b: a + b)(jnp.ones(3), jnp.ones(4)),
     ValueError, ["vmap(", "inconsistent sizes", "use None"]),
    ("vmap-in_axes-rank", lambda: jax.vmap(jnp.sin, in_axes=2)(m23), ValueError,
     ["vmap(sin)", "argument x", "axis in [-2, 2)"]),
    ("vmap-in_axes-length", lambda: jax.vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(x3, x3),
     ValueError, ["vmap(", "in_axes", "one entry per positional argument"]),
    ("vmap-scalar", lambda: jax.vmap(jnp.sin)(1.0), ValueError,
     ["vmap(sin)", "argument x", "None"]),
    ("vmap-out_axes", lambda: jax.vmap(jnp.sin, out_axes=3)(x3), ValueError,
     ["vmap(sin)", "out_axes", "axis in [-1, 1)"]),
    # control flow
    ("cond-pred-not-scalar",
     lambda: lax.cond(jnp.array([True, False]), lambda x: x, lambda x: x, x3), TypeError,
     ["cond", "Pred", ".any()"]),
    ("cond-branch-types", lambda: lax.cond(True, lambda x: x, lambda x: x[0], x3), TypeError,
     ["cond", "false_fun", "Revise"]),
    ("scan-carry-types", lambda: lax.scan(lambda c, r: (c[0], r), x3, m23), TypeError,
     ["scan", "carry", "Revise"]),
    ("while-carry-types",
     lambda: lax.while_loop(lambda c: c[0] < 3, lambda c: c.sum(), x3), TypeError,
     ["while_loop", "carry", "Revise"]),
    ("fori-float-bound", lambda: lax.fori_loop(0, 2.5, lambda i, c: c, x3), TypeError,
     ["fori_loop", "upper", "integer"]),
    ("switch-float-index", lambda: lax.switch(1.5, [lambda x: x, lambda x: x], x3), TypeError,
     ["switch", "Index", ".astype(int)"]),
    ("python-if-on-tracer", lambda: jax.jit(lambda x: 1 if x > 0 else 0)(1.0),
     TracerBoolConversionError, ["jit(", "argument 'x'", "lax.cond"]),
    ("int-of-tracer", lambda: jax.jit(lambda x: int(x))(1.0), TypeError,
     ["jit(", "argument 'x'", "static"]),
    ("numpy-of-tracer", lambda: jax.jit(lambda x: np.asarray(x))(1.0), TypeError,
     ["jit(", "argument 'x'", "funcjax.numpy functions"]),
    # numpy-level shape and dtype errors
    ("add-broadcast", lambda: jnp.ones(3) + jnp.ones(4), TypeError,
     ["add", "(3,), (4,)", "must match or be 1"]),
    ("lax-add-shapes", lambda: lax.add(jnp.ones(3), jnp.ones(4)), TypeError,
     ["add", "f32[3], f32[4]", "funcjax.numpy functions broadcast"]),
    ("concatenate-axis", lambda: jnp.concatenate([x3, x3], axis=2), ValueError,
     ["concatenate", "axis 2", "axis in [-1, 1)"]),
    ("sum-axis", lambda: jnp.sum(x3, axis=3), ValueError, ["sum", "axis 3", "axis in [-1, 1)"]),
    ("astype-not-a-dtype", lambda: x3.astype("foo"), TypeError, ["astype", "'foo'",
                                                                "jnp.float32"]),
    ("asarray-unsupported-dtype", lambda: jnp.asarray(np.array(["a"])), TypeError,
     ["jnp.asarray", "<U1", "convert the data"]),
    ("ones-unsupported-dtype", lambda: jnp.ones(3, dtype=np.dtype("M8[s]")), TypeError,
     ["jnp.ones", "datetime64", "convert the data"]),
    ("asarray-object", lambda: jnp.asarray([object()]), TypeError,
     ["jnp.asarray", "object", "nested"]),
    ("asarray-int-overflow", lambda: jnp.asarray(2**40, jnp.int32), OverflowError,
     ["jnp.asarray", "1099511627776", "wider dtype"]),
    ("repeat-traced", lambda: jax.jit(lambda r: jnp.repeat(x3, r))(2), TypeError,
     ["repeat", "repeats", "total_repeat_length"]),
    ("repeat-total-float", lambda: jnp.repeat(x3, 2, total_repeat_length=2.5), TypeError,
     ["repeat", "total_repeat_length", "Python int"]),
    ("arange-traced", lambda: jax.jit(lambda n: jnp.arange(n))(3), ConcretizationTypeError,
     ["arange", "start", "static_argnums"]),
    ("nonzero-traced", lambda: jax.jit(lambda x: jnp.where(x > 0))(x3), ConcretizationTypeError,
     ["nonzero", "bool[3]", "size="]),
    ("split-uneven", lambda: jnp.split(x3, 2), ValueError, ["split", "size 3", "array_split"]),
    ("argmax-empty-axis", lambda: jnp.argmax(jnp.ones((0, 3)), axis=0), ValueError,
     ["argmax", "axis 0", "empty", "check the size"]),
    ("argmin-empty-jit", lambda: jax.jit(lambda a: jnp.argmin(a.reshape(-1)))(jnp.ones((2, 0))),
     ValueError, ["argmin", "axis 0", "empty"]),
    ("argmax-empty-vmap", lambda: jax.vmap(lambda a: jnp.argmax(a))(jnp.ones((3, 0))),
     ValueError, ["argmax", "empty", "check the size"]),
    ("jit-static_argnames-unknown", lambda: jax.jit(lambda x: x, static_argnames="y"),
     ValueError, ["jit(", "static_argnames", "'y'"]),
]


def test_table_is_large_and_ids_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("call,error,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(Exception) as info:
        call()
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    missing = [w for w in words if w.lower() not in message.lower()]
    assert not missing, f"message lacks {missing}:\n{message}"


def test_tree_unflatten_with_the_wrong_number_of_leaves():
    with pytest.raises(ValueError, match="tree_unflatten: .* has 2 leaves, but 1"):
        tu.tree_unflatten(tu.tree_structure((1, 2)), [1])
