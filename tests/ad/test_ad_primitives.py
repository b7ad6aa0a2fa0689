"""Every primitive's jvp against central finite differences (float64), and jacfwd == jacrev,
over hypothesis-drawn shapes and values."""

import numpy as np
import pytest
from ad_helpers import ad_settings, central_difference
from hypothesis import given
from hypothesis import strategies as st

import funcjax
from funcjax import lax

SHAPES = st.sampled_from([(), (3,), (2, 3)])
SEEDS = st.integers(0, 2 ** 31 - 1)


def uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


ANY = uniform(-2, 2)
POS = uniform(0.5, 2.5)
UNIT = uniform(-0.9, 0.9)

UNARY = {
    "exp": ANY, "exp2": ANY, "log": POS, "log1p": POS, "expm1": ANY, "sin": ANY, "cos": ANY,
    "tan": UNIT, "asin": UNIT, "acos": UNIT, "atan": ANY, "sinh": ANY, "cosh": ANY,
    "tanh": ANY, "asinh": ANY, "acosh": uniform(1.2, 3), "atanh": UNIT, "logistic": ANY,
    "sqrt": POS, "rsqrt": POS, "cbrt": POS, "erf": ANY, "floor": ANY, "ceil": ANY,
    "round": ANY, "neg": ANY, "sign": ANY, "abs": ANY, "square": ANY, "reciprocal": POS,
}
BINARY = {
    "add": (ANY, ANY), "sub": (ANY, ANY), "mul": (ANY, ANY), "div": (ANY, POS),
    "rem": (POS, POS), "pow": (POS, ANY), "max": (ANY, ANY), "min": (ANY, ANY),
    "atan2": (ANY, POS), "nextafter": (ANY, ANY),
}


def check_jvp_and_jacobians(f, args):
    rng = np.random.default_rng(0)
    direction = [rng.standard_normal(np.shape(a)) for a in args]
    _, tangents = funcjax.jvp(f, tuple(args), tuple(direction))
    for got, want in zip(funcjax.tree_leaves(tangents), central_difference(f, args, direction)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    for i in range(len(args)):
        fwd = funcjax.jacfwd(f, argnums=i)(*args)
        rev = funcjax.jacrev(f, argnums=i)(*args)
        for a, b in zip(funcjax.tree_leaves(fwd), funcjax.tree_leaves(rev)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
@ad_settings(8)
@given(shape=SHAPES, seed=SEEDS)
def test_unary_jvp(x64, name, shape, seed):
    x = UNARY[name](np.random.default_rng(seed), shape)
    check_jvp_and_jacobians(getattr(lax, name), [x])


@pytest.mark.parametrize("name", sorted(BINARY))
@ad_settings(8)
@given(shape=SHAPES, seed=SEEDS)
def test_binary_jvp(x64, name, shape, seed):
    rng = np.random.default_rng(seed)
    args = [draw(rng, shape) for draw in BINARY[name]]
    check_jvp_and_jacobians(getattr(lax, name), args)


# name -> make(rng) -> (function of float arrays, float arrays)
STRUCTURED = {
    "integer_pow": lambda r: (lambda x: lax.integer_pow(x, 3), [ANY(r, (4,))]),
    "integer_pow_negative": lambda r: (lambda x: lax.integer_pow(x, -2), [POS(r, (4,))]),
    "select_n": lambda r: (lambda x, y: lax.select_n(np.array([True, False, True]), x, y),
                           [ANY(r, (3,)), ANY(r, (3,))]),
    "convert_element_type": lambda r: (lambda x: lax.convert_element_type(x, np.float64) *
                                       lax.convert_element_type(lax.floor(x), np.int64),
                                       [ANY(r, (3,))]),
    "reduce_sum": lambda r: (lambda x: lax.reduce_sum(x, (0, 2)), [ANY(r, (2, 3, 4))]),
    "reduce_prod": lambda r: (lambda x: lax.reduce_prod(x, (1,)), [ANY(r, (2, 4))]),
    "reduce_prod_with_zero": lambda r: (lambda x: lax.reduce_prod(x * np.array([0., 1, 1]),
                                                                  (0,)), [ANY(r, (3,))]),
    "reduce_max": lambda r: (lambda x: lax.reduce_max(x, (0,)), [ANY(r, (4, 2))]),
    "reduce_min": lambda r: (lambda x: lax.reduce_min(x, (1,)), [ANY(r, (2, 5))]),
    "argmax": lambda r: (lambda x: x * lax.convert_element_type(
        lax.argmax(x, 0, np.int64), np.float64), [ANY(r, (4,))]),
    "cumsum": lambda r: (lambda x: lax.cumsum(x, 1, reverse=True), [ANY(r, (2, 5))]),
    "cumprod": lambda r: (lambda x: lax.cumprod(x, 0), [ANY(r, (5, 2))]),
    "cummax": lambda r: (lambda x: lax.cummax(x, 0), [ANY(r, (6,))]),
    "cummin": lambda r: (lambda x: lax.cummin(x, 0, reverse=True), [ANY(r, (6,))]),
    "broadcast_in_dim": lambda r: (lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (0, 2)),
                                   [ANY(r, (2, 1))]),
    "reshape": lambda r: (lambda x: lax.reshape(x, (3, 2)), [ANY(r, (2, 3))]),
    "squeeze": lambda r: (lambda x: lax.squeeze(x, (1,)), [ANY(r, (2, 1))]),
    "expand_dims": lambda r: (lambda x: lax.expand_dims(x, (0, 2)), [ANY(r, (3,))]),
    "transpose": lambda r: (lambda x: lax.transpose(x, (2, 0, 1)), [ANY(r, (2, 3, 4))]),
    "concatenate": lambda r: (lambda x, y: lax.concatenate([x, y, x], 1),
                              [ANY(r, (2, 1)), ANY(r, (2, 3))]),
    "pad": lambda r: (lambda x, v: lax.pad(x, v, ((1, -1, 1), (0, 2, 0))),
                      [ANY(r, (3, 2)), ANY(r, ())]),
    "rev": lambda r: (lambda x: lax.rev(x, (0,)), [ANY(r, (4, 2))]),
    "slice": lambda r: (lambda x: lax.slice(x, (1, 0), (5, 3), (2, 2)), [ANY(r, (6, 3))]),
    "dynamic_slice": lambda r: (lambda x: lax.dynamic_slice(x, (np.int64(2), np.int64(1)),
                                                            (2, 2)), [ANY(r, (5, 3))]),
    "dynamic_update_slice": lambda r: (lambda x, u: lax.dynamic_update_slice(
        x, u, (np.int64(1), np.int64(0))), [ANY(r, (4, 3)), ANY(r, (2, 3))]),
    "gather_clip": lambda r: (lambda x: lax.gather(x, np.array([[0], [6], [2], [-1], [2]]),
                                                   (0,), "clip"), [ANY(r, (5, 2))]),
    "gather_fill": lambda r: (lambda x: lax.gather(x, np.array([[0], [7], [2]]), (0,), "fill",
                                                   fill_value=0.0), [ANY(r, (5, 2))]),
    "scatter_add": lambda r: (lambda x, u: lax.scatter_add(x, np.array([[1], [3], [1]]), u,
                                                           (0,)), [ANY(r, (5, 2)), ANY(r, (3, 2))]),
    "scatter": lambda r: (lambda x, u: lax.scatter(x, np.array([[1], [3]]), u, (0,)),
                          [ANY(r, (5, 2)), ANY(r, (2, 2))]),
    "scatter_mul": lambda r: (lambda x, u: lax.scatter_mul(x, np.array([[4], [0]]), u, (0,)),
                              [ANY(r, (5, 2)), ANY(r, (2, 2))]),
    "scatter_max": lambda r: (lambda x, u: lax.scatter_max(x, np.array([[1], [3], [1]]), u,
                                                           (0,)), [ANY(r, (5,)), ANY(r, (3,))]),
    "scatter_min": lambda r: (lambda x, u: lax.scatter_min(x, np.array([[2], [2]]), u, (0,)),
                              [ANY(r, (4,)), ANY(r, (2,))]),
    "dot_general": lambda r: (lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
                              [ANY(r, (2, 3, 4)), ANY(r, (2, 4, 5))]),
    "dot_general_transposed": lambda r: (lambda a, b: lax.dot_general(
        a, b, (((0, 2), (2, 0)), ((), ()))), [ANY(r, (3, 2, 4)), ANY(r, (4, 5, 3))]),
    "sort": lambda r: (lambda x: lax.sort(x, 0), [ANY(r, (5, 2))]),
    "sort_multiple": lambda r: (lambda k, v: lax.sort((k, v), 1, num_keys=1),
                                [ANY(r, (2, 5)), ANY(r, (2, 5))]),
    "comparisons": lambda r: (lambda x: lax.select(lax.gt(x, 0.0), x, lax.neg(x)),
                              [ANY(r, (4,))]),
}


@pytest.mark.parametrize("name", sorted(STRUCTURED))
@ad_settings(5)
@given(seed=SEEDS)
def test_structured_jvp(x64, name, seed):
    f, args = STRUCTURED[name](np.random.default_rng(seed))
    check_jvp_and_jacobians(f, args)
