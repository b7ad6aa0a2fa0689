"""Bad input across the API: each case's message names the function, the argument (with its
pytree path, where there is one) and the fix. The messages are collected and checked one by
one, so a regression names the case."""

import dataclasses

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax


@dataclasses.dataclass
class Params:
    w: float


@fj.custom_vjp
def _reverse_only(x):
    return x


_reverse_only.defvjp(lambda x: (x, None), lambda r, g: (g,))


def _leak():
    box = []
    fj.jit(lambda x: box.append(x) or x)(1.0)
    return box[0] + 1


X3 = jnp.ones(3)
SDS3 = fj.ShapeDtypeStruct((3,), np.float32)
SCALAR = fj.ShapeDtypeStruct((), np.float32)


def loss(params, x):
    return params.w * x


# name: (thunk, exception type, fragments the message must contain: function, argument, fix)
CASES = {
    "jit of a non-function": (lambda: fj.jit(3), TypeError, ["jit", "int", "jit(f)"]),
    "jit static_argnums out of range": (
        lambda: fj.jit(lambda x: x, static_argnums=3)(1.0), ValueError,
        ["jit(<lambda>)", "static_argnums=(3,)", "1 positional"]),
    "jit static_argnames unknown": (
        lambda: fj.jit(lambda x: x, static_argnames="y")(1.0), ValueError,
        ["jit(<lambda>)", "['y']", "not parameters"]),
    "jit unhashable static": (
        lambda: fj.jit(lambda x, n: x, static_argnums=1)(1.0, [1]), ValueError,
        ["jit(<lambda>)", "'n'", "tuple instead of a list"]),
    "jit unregistered dataclass": (
        lambda: fj.jit(loss)(Params(1.0), 2.0), TypeError,
        ["jit(loss)", "'params'", "register_dataclass", "static"]),
    "jit dataclass inside a pytree": (
        lambda: fj.jit(lambda tree: tree)({"layers": [Params(1.0)]}), TypeError,
        ["jit(<lambda>)", "tree['layers'][0]", "register_dataclass"]),
    "jit string argument": (
        lambda: fj.jit(lambda s: s)("hi"), TypeError, ["jit(<lambda>)", "'s'", "static"]),
    "jit Python if on a tracer": (
        lambda: fj.jit(lambda x: 1 if x > 0 else 2)(1.0), fj.errors.TracerBoolConversionError,
        ["jit(<lambda>)", "'x'", "lax.cond"]),
    "jit traced shape": (
        lambda: fj.jit(lambda x, n: jnp.ones(n))(1.0, 3), fj.errors.ConcretizationTypeError,
        ["jnp.ones", "jit(<lambda>)", "'n'", "static_argnums"]),
    "jit numpy function on a tracer": (
        lambda: fj.jit(lambda x: np.sin(x))(X3), fj.errors.TracerArrayConversionError,
        ["jit(<lambda>)", "'x'", "funcjax.numpy"]),
    "compiled called with other types": (
        lambda: fj.jit(jnp.sin).lower(X3).compile()(jnp.ones(2)), TypeError,
        ["sin", "'x'", "float32[3]", "call the jit-wrapped function"]),
    "leaked tracer": (_leak, fj.errors.UnexpectedTracerError,
                      ["jit(<lambda>)", "Return the value as an output"]),
    "grad of a non-scalar": (
        lambda: fj.grad(lambda x: x)(X3), TypeError, ["grad(<lambda>)", "(3,)", ".sum()"]),
    "grad of an int input": (
        lambda: fj.grad(lambda x: x * 2)(3), TypeError,
        ["grad(<lambda>)", "'x'", "allow_int=True"]),
    "grad argnums out of range": (
        lambda: fj.grad(lambda x: x, argnums=2)(1.0), ValueError,
        ["grad", "argnums=2", "1 positional"]),
    "grad has_aux without a pair": (
        lambda: fj.grad(lambda x: x, has_aux=True)(1.0), TypeError,
        ["grad", "has_aux=True", "pair"]),
    "grad unregistered dataclass": (
        lambda: fj.grad(loss)(Params(1.0), 2.0), TypeError,
        ["grad(loss)", "'params'", "register_dataclass"]),
    "grad of a string output": (
        lambda: fj.grad(lambda x: "s")(1.0), TypeError, ["grad", "str", "arrays"]),
    "float() under grad": (
        lambda: fj.grad(lambda x: float(x))(1.0), fj.errors.ConcretizationTypeError,
        ["grad(<lambda>)", "float()", "Keep the value as an array"]),
    "vjp cotangent shape": (
        lambda: fj.vjp(jnp.sin, X3)[1](jnp.ones(2)), ValueError, ["vjp", "(3,)", "(2,)"]),
    "vjp cotangent structure": (
        lambda: fj.vjp(jnp.sin, X3)[1]((X3,)), ValueError,
        ["vjp", "cotangent of sin's output", "PyTreeDef(*)"]),
    "vjp unregistered dataclass": (
        lambda: fj.vjp(loss, Params(1.0), 2.0), TypeError,
        ["vjp(loss)", "'params'", "register_pytree_node"]),
    "jvp primals not a tuple": (
        lambda: fj.jvp(jnp.sin, X3, X3), TypeError, ["jvp", "primals", "jvp(f, (x,), (v,))"]),
    "jvp tangent dtype": (
        lambda: fj.jvp(jnp.sin, (X3,), (jnp.ones(3, jnp.int32),)), TypeError,
        ["jvp", "leaf 0", "float32", "int32"]),
    "jvp tangent shape": (
        lambda: fj.jvp(jnp.sin, (X3,), (jnp.ones(2),)), ValueError, ["jvp", "leaf 0", "(2,)"]),
    "jvp of a reverse-only rule": (
        lambda: fj.jvp(_reverse_only, (1.0,), (1.0,)), TypeError,
        ["_reverse_only", "custom_vjp", "reverse mode"]),
    "jacrev of an int input": (
        lambda: fj.jacrev(lambda x: x)(1), TypeError, ["jacrev(<lambda>)", "'x'", "astype"]),
    "linear_transpose of an int argument": (
        lambda: fj.linear_transpose(lambda x: x, 1), TypeError,
        ["linear_transpose", "leaf 0", "floating-point"]),
    "vmap of a rank-0 argument": (
        lambda: fj.vmap(jnp.sin)(1.0), ValueError, ["vmap(sin)", "argument x", "None"]),
    "vmap inconsistent sizes": (
        lambda: fj.vmap(lambda a, b: a + b)(jnp.ones(2), jnp.ones(3)), ValueError,
        ["vmap(<lambda>)", "argument a", "argument b", "use None in in_axes"]),
    "vmap in_axes length": (
        lambda: fj.vmap(lambda a, b: a, in_axes=(0, 0, 0))(X3, X3), ValueError,
        ["vmap(<lambda>)", "in_axes", "one entry per positional argument"]),
    "vmap out_axes": (
        lambda: fj.vmap(lambda a: a, out_axes=2)(X3), ValueError,
        ["vmap(<lambda>)", "out_axes", "Use an axis"]),
    "vmap unregistered dataclass": (
        lambda: fj.vmap(loss, in_axes=(None, 0))(Params(1.0), X3), TypeError,
        ["vmap(loss)", "'params'", "register_dataclass"]),
    "make_jaxpr unregistered dataclass": (
        lambda: fj.make_jaxpr(loss)(Params(1.0), 2.0), TypeError,
        ["make_jaxpr(loss)", "'params'", "register"]),
    "eval_shape keyword dataclass": (
        lambda: fj.eval_shape(lambda x, *, p: x * p.w, 1.0, p=Params(1.0)), TypeError,
        ["eval_shape(<lambda>)", "'p'", "register"]),
    "checkpoint unregistered dataclass": (
        lambda: fj.checkpoint(loss)(Params(1.0), 2.0), TypeError,
        ["checkpoint(loss)", "'params'", "register"]),
    "add with incompatible shapes": (
        lambda: jnp.add(jnp.ones(2), jnp.ones(3)), TypeError, ["add", "(2,)", "(3,)"]),
    "reshape to another size": (
        lambda: jnp.reshape(X3, (2, 2)), TypeError, ["reshape", "(3,)", "(2, 2)"]),
    "matmul inner dimensions": (
        lambda: jnp.matmul(jnp.ones((2, 3)), jnp.ones((2, 3))), TypeError,
        ["matmul", "inner dimensions", "(2, 3)"]),
    "sum over a missing axis": (
        lambda: jnp.sum(X3, axis=2), ValueError, ["sum", "axis 2", "rank 1"]),
    "item assignment": (
        lambda: X3.__setitem__(0, 1.0), TypeError, ["immutable", "x.at[idx].set(y)"]),
    "unsupported dtype": (
        lambda: X3.astype("datetime64[s]"), TypeError, ["astype", "datetime64", "supported"]),
    "split into unequal parts": (
        lambda: jnp.split(X3, 2), ValueError, ["split", "size 3", "array_split"]),
    "cond branches differ": (
        lambda: lax.cond(True, lambda: jnp.ones(2), lambda: jnp.ones(3)), TypeError,
        ["true_fun", "false_fun", "float32[3]", "Revise"]),
    "scan carry changes type": (
        lambda: lax.scan(lambda c, x: (c + jnp.ones(2), x), 0.0, X3), TypeError,
        ["scan", "carry c", "float32[2]"]),
    "pure_callback result shape": (
        lambda: fj.pure_callback(lambda x: np.ones(2, np.float32), SDS3, X3), TypeError,
        ["pure_callback(<lambda>)", "float32[2]", "result_shape_dtypes"]),
    "pure_callback under vmap without a method": (
        lambda: fj.vmap(lambda x: fj.pure_callback(np.sin, SCALAR, x))(X3), NotImplementedError,
        ["pure_callback(sin)", "vmap_method"]),
    "pure_callback differentiated": (
        lambda: fj.grad(lambda x: fj.pure_callback(np.sin, SCALAR, x))(1.0), ValueError,
        ["pure_callback(sin)", "custom_jvp"]),
    "ordered io_callback under vmap": (
        lambda: fj.vmap(lambda x: fj.experimental.io_callback(print, None, x, ordered=True))(X3),
        ValueError, ["io_callback(print)", "ordered=False"]),
    "debug.print without a format string": (
        lambda: fj.debug.print(X3), TypeError, ["debug.print", "format string", "'{}'"]),
    "custom_gradient without a vjp": (
        lambda: fj.grad(fj.custom_gradient(lambda x: (x, 3)))(1.0), TypeError,
        ["custom_gradient(<lambda>)", "(value, vjp function)"]),
    "device_put to an unknown device": (
        lambda: fj.device_put(X3, device="gpu"), ValueError, ["device_put", "'gpu'", "devices()"]),
    "unknown config flag": (
        lambda: fj.config.update("jax_foo", 1), AttributeError,
        ["config.update", "'jax_foo'", "known flags"]),
    "tree_map structures differ": (
        lambda: fj.tree_util.tree_map(lambda a, b: a, [1, 2], [1]), ValueError,
        ["tree_map", "argument 1", "PyTreeDef([*, *])"]),
    "device_get of a tracer": (
        lambda: fj.jit(fj.device_get)(X3), TypeError, ["device_get", "traced", "outside"]),
}


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_message_names_function_argument_and_fix(name):
    thunk, error, fragments = CASES[name]
    with pytest.raises(error) as info:
        thunk()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert missing == [], f"{name}: {message}"
