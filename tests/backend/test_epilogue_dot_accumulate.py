"""A gemm product added to an array (``c + s * (a @ b)``, an SGD update, a bias) is one
``dot_general(a, b, c)`` equation lowered as gemm with beta (backend/llvm/dot_layout.py,
lower_dot.py): jit equals eager and numpy over forms, layouts, batches and dtypes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import dot_layout

# form -> (function of (c, product), folded?)
FORMS = {
    "c + p": (lambda c, p: c + p, True),
    "p + c": (lambda c, p: p + c, True),
    "c - p": (lambda c, p: c - p, True),
    "p - c": (lambda c, p: p - c, True),
    "c - 0.01 * p": (lambda c, p: c - 0.01 * p, True),
    "c + p * 3": (lambda c, p: c + p * 3, True),
    "-p + c": (lambda c, p: -p + c, True),
    "c - (-(2 * p))": (lambda c, p: c - (-(2 * p)), True),
    "c + 0 * p": (lambda c, p: c + 0 * p, False),  # 0 * nan stays nan: not folded
}


def _accumulations(jaxpr):
    """The products ``fold_accumulations`` made in ``jaxpr`` (three operands)."""
    folded = dot_layout.fold_accumulations(jaxpr)
    return sum(e.primitive.name == "dot_general" and len(e.inputs) == 3 for e in folded.eqns)


def _dimension_numbers(a, b, lhs_t, rhs_t):
    """Of the product of ``a`` and ``b`` stored transposed or not (gemm's flags), batched
    over a leading axis when they have one."""
    return (((a.ndim - 2 if lhs_t else a.ndim - 1,), (b.ndim - 1 if rhs_t else b.ndim - 2,)),
            ((0,), (0,)) if a.ndim == 3 else ((), ()))


@settings(max_examples=25, deadline=None)
@given(form=st.sampled_from(sorted(FORMS)), m=st.integers(32, 70), n=st.integers(32, 70),
       k=st.integers(32, 70), lhs_t=st.booleans(), rhs_t=st.booleans(),
       batch=st.sampled_from([(), (2,)]), f64=st.booleans(), seed=st.integers(0, 1000))
def test_accumulated_product_equals_eager_and_numpy(form, m, n, k, lhs_t, rhs_t, batch, f64,
                                                    seed):
    rng = np.random.default_rng(seed)
    dt = np.float64 if f64 else np.float32
    a = rng.standard_normal(batch + ((k, m) if lhs_t else (m, k))).astype(dt)
    b = rng.standard_normal(batch + ((n, k) if rhs_t else (k, n))).astype(dt)
    c = rng.standard_normal(batch + (m, n)).astype(dt)
    combine, folds = FORMS[form]
    dims = _dimension_numbers(a, b, lhs_t, rhs_t)

    def f(c, a, b):
        return combine(c, lax.dot_general(a, b, dims))
    ref = combine(c, (np.swapaxes(a, -1, -2) if lhs_t else a)
                  @ (np.swapaxes(b, -1, -2) if rhs_t else b))
    with jax.enable_x64(f64):
        jaxpr = jax.make_jaxpr(f)(c, a, b).jaxpr
        assert _accumulations(jaxpr) == int(folds)
        out = jax.jit(f)(c, a, b)
        with jax.disable_jit():
            eager = f(c, a, b)
    tol = 1e-10 if f64 else 2e-5
    np.testing.assert_allclose(np.asarray(out), ref, rtol=tol, atol=tol * k)
    np.testing.assert_allclose(np.asarray(out), np.asarray(eager), rtol=tol, atol=tol * k)


def test_a_bias_broadcast_is_written_before_the_gemm():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 48)).astype(np.float32)
    w = rng.standard_normal((48, 40)).astype(np.float32)
    bias = rng.standard_normal(40).astype(np.float32)

    def f(x, w, bias):
        return jnp.maximum(x @ w + bias, 0.0)
    assert _accumulations(jax.make_jaxpr(f)(x, w, bias).jaxpr) == 1
    np.testing.assert_allclose(np.asarray(jax.jit(f)(x, w, bias)),
                               np.maximum(x @ w + bias, 0), rtol=2e-5, atol=1e-4)


def _returned(c, a):
    p = a @ a
    return c + p, p


def _read_twice(c, a):
    p = a @ a
    return c + p * p


@pytest.mark.parametrize("f, c, a, folds", [
    (_returned, np.ones((40, 40), np.float32), np.ones((40, 40), np.float32), 0),
    (_read_twice, np.ones((40, 40), np.float32), np.ones((40, 40), np.float32), 0),
    (lambda c, a: c + a @ a + (a @ a) * 0.5, np.ones((40, 40), np.float32),
     np.ones((40, 40), np.float32), 2),  # the first sum is c of the second product
    (lambda c, a: c + a @ a, np.ones((8, 8), np.float32), np.ones((8, 8), np.float32), 0),
    (lambda c, a: c + a @ a, np.ones((40, 40), np.int32), np.ones((40, 40), np.int32), 0),
    (lambda c, a: c[0] + a @ a, np.ones((40, 40), np.float32), np.ones((40, 40), np.float32),
     1),  # a row broadcast (as a bias) is c
])
def test_products_read_twice_returned_small_or_integer_are_kept(f, c, a, folds):
    jaxpr = jax.make_jaxpr(f)(c, a).jaxpr
    assert _accumulations(jaxpr) == folds
    got = jax.tree_util.tree_leaves(jax.jit(f)(c, a))
    with jax.disable_jit():
        want = jax.tree_util.tree_leaves(f(c, a))
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5)


def test_nan_and_inf_in_c_and_operands_propagate():
    a = np.ones((40, 40), np.float32)
    c = np.zeros((40, 40), np.float32)
    c[3, 4], c[5, 6] = np.nan, np.inf
    a_nan = a.copy()
    a_nan[7, 0] = np.nan
    f = jax.jit(lambda c, a, b: c - 0.5 * (a @ b))
    want = c - 0.5 * (a_nan @ a)
    np.testing.assert_array_equal(np.asarray(f(c, a_nan, a)), want)


def test_sgd_step_with_donated_weights_equals_numpy():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((50, 30)).astype(np.float32)
    x = rng.standard_normal((64, 50)).astype(np.float32)
    y = rng.standard_normal((64, 30)).astype(np.float32)

    def step(w, x, y):
        g = jax.grad(lambda w: jnp.mean((x @ w - y) ** 2))(w)
        return w - 0.1 * g
    want = w - 0.1 * (x.T @ (2 * (x @ w - y) / y.size))
    got = jax.jit(step, donate_argnums=0)(jnp.asarray(w), x, y)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    # the forward ``x @ w - y`` and the update
    assert _accumulations(jax.make_jaxpr(step)(w, x, y).jaxpr) == 2


@pytest.mark.parametrize("form", ["c + p", "c - 0.01 * p"])
def test_inside_a_scan_body(form):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 32)).astype(np.float32) / 8
    h = rng.standard_normal((32, 32)).astype(np.float32)
    combine = FORMS[form][0]

    def run(w, h):
        return lax.scan(lambda h, _: (combine(h, h @ w), None), h, None, length=3)[0]
    want = h
    for _ in range(3):
        want = combine(want, want @ w)
    np.testing.assert_allclose(np.asarray(jax.jit(run)(w, h)), want, rtol=1e-4, atol=1e-4)
