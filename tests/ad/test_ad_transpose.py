"""The transpose identity <L v, w> == <v, L^T w> for every linear rule, and the coverage of
jvp and transpose rules."""

import numpy as np
import pytest
from ad_helpers import ad_settings
from hypothesis import given
from hypothesis import strategies as st

import funcjax
from funcjax import lax
from funcjax.core.primitive import coverage
from funcjax.interpreters.remat import checkpoint_name

# name -> (linear function of the float arrays, the arrays' shapes)
LINEAR = {
    "neg": (lax.neg, [(3,)]),
    "add": (lax.add, [(2, 3), (2, 3)]),
    "sub": (lax.sub, [(3,), (3,)]),
    "mul": (lambda x: lax.mul(x, np.array([1.0, -2.0, 3.0])), [(3,)]),
    "mul_left": (lambda x: lax.mul(np.array([1.0, -2.0, 3.0]), x), [(3,)]),
    "div": (lambda x: lax.div(x, np.array([1.0, -2.0, 4.0])), [(3,)]),
    "reduce_sum": (lambda x: lax.reduce_sum(x, (0, 2)), [(2, 3, 4)]),
    "broadcast_in_dim": (lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (0, 2)), [(2, 1)]),
    "reshape": (lambda x: lax.reshape(x, (6,)), [(2, 3)]),
    "squeeze": (lambda x: lax.squeeze(x, (0, 2)), [(1, 3, 1)]),
    "expand_dims": (lambda x: lax.expand_dims(x, (1,)), [(3,)]),
    "transpose": (lambda x: lax.transpose(x, (1, 2, 0)), [(2, 3, 4)]),
    "concatenate": (lambda x, y: lax.concatenate([x, y], 0), [(2, 3), (1, 3)]),
    "pad": (lambda x, v: lax.pad(x, v, ((2, -1, 1), (-1, 0, 2))), [(3, 3), ()]),
    "slice": (lambda x: lax.slice(x, (1, 0), (6, 3), (2, 2)), [(7, 3)]),
    "rev": (lambda x: lax.rev(x, (0, 1)), [(2, 3)]),
    "dynamic_slice": (lambda x: lax.dynamic_slice(x, (np.int32(1), np.int32(5)), (2, 2)),
                      [(4, 3)]),
    "dynamic_update_slice": (lambda x, u: lax.dynamic_update_slice(
        x, u, (np.int32(2), np.int32(1))), [(4, 3), (2, 2)]),
    "gather_clip": (lambda x: lax.gather(x, np.array([[1], [1], [9]]), (0,), "clip"), [(4, 2)]),
    "gather_fill": (lambda x: lax.gather(x, np.array([[1, 0], [3, 5]]), (0, 1), "fill",
                                         fill_value=0.0), [(4, 2)]),
    "scatter_add": (lambda x, u: lax.scatter_add(x, np.array([[1], [1], [7]]), u, (0,)),
                    [(4, 2), (3, 2)]),
    "scatter": (lambda x, u: lax.scatter(x, np.array([[2], [0]]), u, (0,)), [(4, 2), (2, 2)]),
    "scatter_mul": (lambda x: lax.scatter_mul(x, np.array([[2], [2]]), np.array([2.0, 3.0]),
                                              (0,)), [(4,)]),
    "select_n": (lambda x, y: lax.select_n(np.array([True, False, False]), x, y), [(3,), (3,)]),
    "convert_element_type": (lambda x: lax.convert_element_type(x, np.float32), [(3,)]),
    "dot_general_lhs": (lambda a: lax.dot_general(a, np.arange(40.0).reshape(2, 4, 5),
                                                  (((2,), (1,)), ((0,), (0,)))), [(2, 3, 4)]),
    "dot_general_rhs": (lambda b: lax.dot_general(np.arange(24.0).reshape(3, 2, 4), b,
                                                  (((0, 2), (2, 0)), ((), ()))), [(4, 5, 3)]),
    "cumsum": (lambda x: lax.cumsum(x, 1, reverse=True), [(2, 4)]),
    "name": (lambda x: checkpoint_name(x, "tag"), [(3,)]),
    "checkpoint": (funcjax.checkpoint(lambda x: lax.reduce_sum(lax.mul(x, 2.0), (0,))), [(3,)]),
}


def inner(a, b):
    return sum(float(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64)))
               for x, y in zip(funcjax.tree_leaves(a), funcjax.tree_leaves(b)))


@pytest.mark.parametrize("name", sorted(LINEAR))
@ad_settings(6)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_transpose_identity(x64, name, seed):
    f, shapes = LINEAR[name]
    rng = np.random.default_rng(seed)
    v = [rng.standard_normal(s) for s in shapes]
    out = f(*v)
    w = funcjax.tree_map(lambda o: rng.standard_normal(np.shape(o)).astype(o.dtype), out)
    transposed = funcjax.linear_transpose(f, *v)(w)
    # atol: a conversion to float32 rounds each element (~1e-7 relative), so two sides of an
    # inner product that cancels to ~1e-4 differ by more than rtol alone allows (seed 263).
    np.testing.assert_allclose(inner(out, w), inner(v, transposed), rtol=1e-5, atol=1e-6)


# Primitives linear in some input: they must have a transpose rule.
LINEAR_PRIMITIVES = {
    "neg", "add", "sub", "mul", "div", "reduce_sum", "broadcast_in_dim", "reshape", "squeeze",
    "expand_dims", "transpose", "concatenate", "pad", "slice", "rev", "dynamic_slice",
    "dynamic_update_slice", "gather", "scatter", "scatter_add", "scatter_mul", "select_n",
    "convert_element_type", "dot_general", "cumsum",
    "conv_general_dilated", "name", "checkpoint", "custom_lin",
    "reduce_window_sum", "select_and_gather_add", "select_and_scatter_add",
}


def test_every_primitive_has_a_jvp_rule():
    assert coverage().missing("jvp") == []


def test_every_linear_primitive_has_a_transpose_rule():
    missing = set(coverage().missing("transpose")) & LINEAR_PRIMITIVES
    assert not missing


def test_transposing_a_nonlinear_function_is_a_clear_error():
    with pytest.raises(TypeError, match="not linear"):
        funcjax.linear_transpose(lambda x: x * x, 1.0)(1.0)
    with pytest.raises(TypeError, match="divisor"):
        funcjax.linear_transpose(lambda x: 1.0 / x, 1.0)(1.0)


def test_matmul_weight_gradient_needs_no_transpose():
    """dW of x @ W comes out as x^T ct in W's layout (a transposed result would cost a
    strided pass over dW on every training step); the batched case keeps its values."""
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    loss = lambda w, x: (x @ w).sum() ** 2  # noqa: E731
    names = [e.primitive.name for e in funcjax.make_jaxpr(funcjax.grad(loss))(w, x).eqns]
    assert "transpose" not in names
    np.testing.assert_allclose(funcjax.grad(loss)(w, x),
                               2 * (x @ w).sum() * np.outer(x.sum(0), np.ones(3)), rtol=1e-5)
    xs = np.stack([x, -x, 2 * x])
    got = funcjax.vmap(funcjax.grad(loss), in_axes=(None, 0))(w, xs)
    want = [funcjax.grad(loss)(w, xi) for xi in xs]
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5)
