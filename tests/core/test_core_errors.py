"""Errors raised while tracing: each names the problem, the argument and the fix."""

import numpy as np
import pytest

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.core.errors import MissingRuleError
from funcjax.core.primitive import define_primitive, registry


def test_python_if_on_traced_value_names_argument_and_fix():
    def f(x, y):
        return x if y > 0 else -x

    with pytest.raises(jax.TracerBoolConversionError) as info:
        jax.make_jaxpr(f)(1.0, 2.0)
    msg = str(info.value)
    assert "make_jaxpr(f)" in msg and "'y'" in msg and "'x'" not in msg
    assert "lax.cond" in msg and "static_argnums" in msg


def test_float_and_int_of_tracer():
    with pytest.raises(jax.ConcretizationTypeError, match="float\\(\\).*argument 'x'"):
        jax.make_jaxpr(lambda x: float(x))(1.0)
    with pytest.raises(jax.TracerIntegerConversionError, match="argument 'n'"):
        jax.make_jaxpr(lambda n: list(range(n)))(3)
    with pytest.raises(jax.TracerArrayConversionError, match="funcjax.numpy"):
        jax.make_jaxpr(lambda x: np.sin(np.asarray(x)))(1.0)


def test_pytree_argument_names_in_messages():
    def f(params):
        return params["w"] if params["b"] > 0 else params["w"]

    with pytest.raises(jax.TracerBoolConversionError, match="params\\['b'\\]"):
        jax.make_jaxpr(f)({"w": 1.0, "b": 2.0})


def test_static_argnums_makes_python_control_flow_work():
    closed = jax.make_jaxpr(lambda x, n: x * 2 if n > 0 else x, static_argnums=1)(1.0, 3)
    assert [e.primitive.name for e in closed.jaxpr.eqns] == ["mul"]


def test_leaked_tracer_raises_unexpected_tracer_error():
    leaked = []

    def f(x):
        leaked.append(x * 2)
        return x

    jax.make_jaxpr(f)(1.0)
    with pytest.raises(jax.UnexpectedTracerError) as info:
        jnp.sin(leaked[0])
    msg = str(info.value)
    assert "make_jaxpr(f)" in msg and "'mul'" in msg and "test_core_errors.py" in msg
    assert "Return the value as an output" in msg
    # A leaked tracer used while tracing something else raises too, not a silent constant.
    with pytest.raises(jax.UnexpectedTracerError):
        jax.make_jaxpr(lambda y: y + leaked[0])(1.0)


def test_missing_rule_names_primitive_and_transformation():
    prim = define_primitive("test_only_identity", lambda x: x, lambda x: x)
    try:
        with pytest.raises(MissingRuleError, match="'test_only_identity' has no batch rule.*vmap"):
            prim.rule("batch")
    finally:
        registry.pop("test_only_identity")  # keep the coverage tables to shipped primitives


def test_shape_errors_name_operation_and_shapes():
    with pytest.raises(TypeError, match="add: incompatible shapes for broadcasting: "
                                         "\\(3,\\), \\(4,\\)"):
        jnp.ones(3) + jnp.ones(4)
    with pytest.raises(TypeError, match="dot_general: contracting axis 1 of lhs f32\\[2,3\\] has"
                                        " size 3 but axis 0 of rhs f32\\[4,5\\] has size 4"):
        jax.lax.dot(jnp.ones((2, 3)), jnp.ones((4, 5)))
    with pytest.raises(TypeError, match="add requires operands of equal dtypes, got f32\\[3\\], "
                                        "i32\\[3\\]"):
        jax.lax.add(jnp.ones(3), jnp.ones(3, dtype=jnp.int32))


def test_tracer_fields_never_hide_array_methods():
    """A tracer's own attributes must not shadow array methods (``x.var(1)`` once called the
    staging tracer's IR variable)."""
    from funcjax.core.array import ArrayMethods
    from funcjax.core.trace import Tracer

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(Tracer):
        fields = {s for k in cls.__mro__ for s in getattr(k, "__slots__", ())}
        assert not fields & set(dir(ArrayMethods)), cls
    closed = jax.make_jaxpr(lambda a: a.var(1) + a.std() + a.T.mean())(np.ones((3, 5)))
    np.testing.assert_allclose(jax.eval_jaxpr(closed.jaxpr, closed.consts, np.eye(3, 5))[0],
                               np.eye(3, 5).var(1) + np.eye(3, 5).std() + 0.2, rtol=1e-6)


def test_static_args_that_do_not_exist_are_errors_as_in_jax():
    # JAX 0.10.2 raises ValueError for both ("only accepts 3 positional arguments",
    # "invalid argnames").
    def f(x, n, m=1, *, k=2):
        return x * n + m + k

    with pytest.raises(ValueError, match="only accepts 3 positional arguments"):
        jax.jit(f, static_argnums=5)
    with pytest.raises(ValueError, match="only accepts 3 positional arguments"):
        jax.jit(f, static_argnums=-4)
    with pytest.raises(ValueError, match="zz"):
        jax.jit(f, static_argnames="zz")
    assert float(jax.jit(f, static_argnums=-1)(1.0, 2, 3).sum()) == 7.0
    assert float(jax.jit(f, static_argnames="k")(1.0, 2, k=5)) == 8.0
    assert float(jax.jit(lambda *a: a[0] * a[1], static_argnums=1)(2.0, 3)) == 6.0
    assert float(jax.jit(lambda x, **kw: x * kw["s"], static_argnames="s")(2.0, s=3)) == 6.0
