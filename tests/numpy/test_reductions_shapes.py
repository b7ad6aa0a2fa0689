"""Reductions, shape ops, joining, creation, sorting and products against numpy."""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from jnp_helpers import DTYPES, arrays, assert_close

import funcjax.numpy as jnp

REDUCTIONS = ["sum", "prod", "max", "min", "mean", "var", "std", "all", "any", "ptp",
              "count_nonzero", "median", "nansum", "nanmax", "nanmean", "argmax", "argmin"]


@st.composite
def array_and_axis(draw, dtypes=DTYPES, min_side=0):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=4))
    dtype = draw(st.sampled_from(dtypes))
    x = draw(arrays(dtype, shape))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    return x, axis


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(REDUCTIONS), array_and_axis(min_side=1), st.booleans())
def test_reductions(name, case, keepdims):
    x, axis = case
    if name in ("ptp",) and x.dtype == np.bool_:
        return
    kwargs = {} if name in ("argmax", "argmin", "count_nonzero") and axis is None else \
        {"keepdims": keepdims}
    got = getattr(jnp, name)(x, axis=axis, **kwargs)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x.astype(np.float64) if x.dtype.kind == "f" else x,
                                     axis=axis, **kwargs)
    if name in ("sum", "prod") and x.dtype.kind in "iub":
        expected = np.asarray(expected).astype(got.dtype)  # both wrap around alike
    if x.dtype.kind == "f" and got.dtype.kind == "f":
        with np.errstate(over="ignore"):  # the result is stored in its dtype: 65536 -> f16 inf
            expected = np.asarray(expected).astype(got.dtype)
    assert_close(got, expected, np.float16 if x.dtype == np.float16 else np.float32,
                 rtol=1e-2 if x.dtype == np.float16 else 1e-4,
                 atol=1e-1 if x.dtype == np.float16 else 1e-3)


@settings(max_examples=25, deadline=None)
@given(array_and_axis(dtypes=[np.int32, np.float32]))
def test_cumulative_and_sort(case):
    x, axis = case
    assert_close(jnp.cumsum(x, axis), np.cumsum(x, axis).astype(x.dtype))
    ax = -1 if axis is None else axis
    assert_close(jnp.sort(x, ax), np.sort(x, ax))
    np.testing.assert_array_equal(jnp.argsort(x, ax), np.argsort(x, ax, kind="stable"))
    q = np.array([0.0, 0.3, 1.0])
    if x.size:
        assert_close(jnp.quantile(x, q, axis=axis), np.quantile(x, q, axis=axis), rtol=1e-4,
                     atol=1e-4)


def test_reduction_options():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    m = x % 3 != 0
    assert_close(jnp.sum(x, 1, where=m), np.sum(x, 1, where=m))
    assert_close(jnp.mean(x, 0, where=m), np.mean(x, 0, where=m))
    assert_close(jnp.max(x, 1, where=m, initial=-1), np.max(x, 1, where=m, initial=-1))
    assert_close(jnp.average(x, 1, weights=np.arange(4.0)), np.average(x, 1, np.arange(4.0)))
    assert_close(jnp.var(x, 0, ddof=1), np.var(x, 0, ddof=1))
    assert jnp.sum(jnp.ones(3, bool)).dtype == np.int32
    assert jnp.mean(jnp.arange(3)).dtype == np.float32
    assert not jnp.sum(1.0).weak_type
    empty = np.zeros((0, 3), np.float32)
    for fn in ("max", "min"):
        want = getattr(np, fn)(empty, 0, initial=-3.0)
        assert_close(getattr(jnp, fn)(empty, 0, initial=-3.0), want)
        assert_close(getattr(jnp, fn)(empty, initial=2, keepdims=True), np.full((1, 1), 2.0))


def test_float16_mean_and_var_accumulate_in_float32():
    """As in JAX: float16 squares and sums of 1200 values of ~200 overflow float16's 65504."""
    x = np.linspace(-200, 200, 1200).astype(np.float16)
    for fn in ("mean", "var", "std"):
        got = getattr(jnp, fn)(x)
        assert got.dtype == np.float16
        assert_close(got, getattr(np, fn)(x.astype(np.float32)).astype(np.float16), rtol=1e-3)


@settings(max_examples=40, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4), st.data())
def test_shape_ops(shape, data):
    x = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    nd = len(shape)
    axis = data.draw(st.integers(-nd, nd - 1))
    perm = data.draw(st.permutations(range(nd)))
    checks = [
        (jnp.reshape(x, (-1,)), x.reshape(-1)),
        (jnp.transpose(x, perm), np.transpose(x, perm)),
        (jnp.moveaxis(x, axis, 0), np.moveaxis(x, axis, 0)),
        (jnp.swapaxes(x, axis, -1), np.swapaxes(x, axis, -1)),
        (jnp.expand_dims(x, axis), np.expand_dims(x, axis)),
        (jnp.flip(x, axis), np.flip(x, axis)),
        (jnp.roll(x, 2, axis), np.roll(x, 2, axis)),
        (jnp.tile(x, (2, 1)), np.tile(x, (2, 1))),
        (jnp.repeat(x, 2, axis), np.repeat(x, 2, axis)),
        (jnp.stack([x, x], axis), np.stack([x, x], axis)),
        (jnp.concatenate([x, x], axis), np.concatenate([x, x], axis)),
        (jnp.broadcast_to(x, (2,) + shape), np.broadcast_to(x, (2,) + shape)),
        (jnp.diff(x, axis=axis), np.diff(x, axis=axis)),
        (jnp.atleast_3d(x), np.atleast_3d(x)),
        (jnp.squeeze(x), np.squeeze(x)),
        (jnp.pad(x, 1), np.pad(x, 1)),
    ]
    if x.size:
        checks += [(jnp.pad(x, (1, 2), mode=m), np.pad(x, (1, 2), mode=m))
                   for m in ("edge", "wrap", "symmetric", "reflect")]
    for n_split, part in zip(range(1, 4), jnp.array_split(x, 3, axis)):
        np.testing.assert_array_equal(part, np.array_split(x, 3, axis)[n_split - 1])
    for got, want in checks:
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_joining_variants():
    a, b = np.arange(3), np.arange(3, 6)
    for name in ("hstack", "vstack", "dstack", "column_stack"):
        np.testing.assert_array_equal(getattr(jnp, name)([a, b]), getattr(np, name)([a, b]))
    np.testing.assert_array_equal(jnp.split(np.arange(6), [2, 5])[1], np.arange(2, 5))
    np.testing.assert_array_equal(jnp.append(a, b), np.append(a, b))
    assert jnp.concatenate([jnp.ones(2, jnp.int8), jnp.ones(2, jnp.float16)]).dtype == np.float16


def test_creation():
    np.testing.assert_array_equal(jnp.arange(1, 3, 0.25), np.arange(1, 3, 0.25))
    assert jnp.arange(5).dtype == np.int32 and jnp.arange(5.0).dtype == np.float32
    assert_close(jnp.linspace(-1, 2, 7), np.linspace(-1, 2, 7))
    assert_close(jnp.linspace(0, 1, 4, endpoint=False), np.linspace(0, 1, 4, endpoint=False))
    assert_close(jnp.linspace([0, 1], 2, 3, axis=1), np.linspace([0, 1], 2, 3, axis=1))
    assert_close(jnp.logspace(0, 2, 3), np.logspace(0, 2, 3))
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(jnp.eye(3, 4, k), np.eye(3, 4, k))
        np.testing.assert_array_equal(jnp.tri(3, 4, k), np.tri(3, 4, k))
        x = np.arange(12).reshape(3, 4)
        np.testing.assert_array_equal(jnp.triu(x, k), np.triu(x, k))
        np.testing.assert_array_equal(jnp.tril(x, k), np.tril(x, k))
    np.testing.assert_array_equal(jnp.full((2, 2), [1, 2]), np.full((2, 2), [1, 2]))
    assert jnp.zeros_like(np.ones(2, np.int8)).dtype == np.int8
    # JAX 0.10.2: a Python scalar fill stays weak (bools never are), a numpy scalar is strong.
    assert jnp.full(3, 1.5).dtype == np.float32 and jnp.full(3, 1.5).weak_type
    assert jnp.full(3, 2).weak_type and not jnp.full(3, np.float32(2)).weak_type
    assert not jnp.full(2, True).weak_type and not jnp.full_like(np.ones(2), 3).weak_type
    for got, want in zip(jnp.meshgrid(np.arange(3), np.arange(2)),
                         np.meshgrid(np.arange(3), np.arange(2))):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(jnp.indices((2, 3)), np.indices((2, 3)))
    x = jnp.float32(3)
    assert x.dtype == np.float32 and not x.weak_type and isinstance(x, jnp.ndarray)
    assert isinstance(np.float32(1), jnp.float32) and np.dtype(jnp.int8) == np.int8


@pytest.mark.parametrize("spec,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("ij", [(2, 3)]), ("ji", [(2, 3)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk", [(2, 3, 4), (4, 5)]), ("i,j->ij", [(2,), (3,)]), ("i,i", [(3,), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij->j", [(2, 2, 3)]),
    ("ab,cd->", [(2, 3), (4, 5)]), ("...i,...i->...", [(1, 3), (4, 3)]),
])
def test_einsum(spec, shapes):
    rng = np.random.default_rng(0)
    ops = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    assert_close(jnp.einsum(spec, *ops), np.einsum(spec, *ops), rtol=1e-4, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_products(data):
    n, m, k = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(arrays(np.float32, (n, m)))
    b = data.draw(arrays(np.float32, (m, k)))
    v = data.draw(arrays(np.float32, (m,)))
    tol = dict(rtol=1e-4, atol=1e-3)
    assert_close(jnp.matmul(a, b), a @ b, **tol)
    assert_close(jnp.asarray(a) @ v, a @ v, **tol)
    assert_close(jnp.dot(v, b), np.dot(v, b), **tol)
    assert_close(jnp.vdot(a, a), np.vdot(a, a), **tol)
    assert_close(jnp.inner(a, a), np.inner(a, a), **tol)
    assert_close(jnp.outer(v, v), np.outer(v, v), **tol)
    assert_close(jnp.tensordot(a, b, 1), np.tensordot(a, b, 1), **tol)
    assert_close(jnp.kron(a, v), np.kron(a, v), **tol)
    assert_close(jnp.trace(a, 1), np.trace(a, 1), **tol)
    np.testing.assert_array_equal(jnp.diag(v, -1), np.diag(v, -1))
    np.testing.assert_array_equal(jnp.diagonal(a, 1), np.diagonal(a, 1))
    for ord_ in (None, 1, 2, np.inf, -np.inf, 0, 3):
        assert_close(jnp.linalg.norm(v, ord_), np.linalg.norm(v, ord_), **tol)
    for ord_ in (None, "fro", 1, -1, np.inf, -np.inf):
        assert_close(jnp.linalg.norm(a, ord_), np.linalg.norm(a, ord_), **tol)
    assert_close(jnp.linalg.norm(a, axis=0), np.linalg.norm(a, axis=0), **tol)


def test_boolean_contractions_are_or_of_and():
    """JAX and numpy contract booleans to booleans: einsum sums by "any", dot by a scalar is
    an elementwise "and"."""
    x = np.array([[True, False, True], [False, False, True], [True, True, False]])
    for spec in ("ii", "ij->", "ij->j", "ij,ij->i", "ij,jk->ik"):
        ops = (x,) * (spec.count(",") + 1)
        got = jnp.einsum(spec, *ops)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, np.einsum(spec, *ops))
    np.testing.assert_array_equal(jnp.dot(x[0, 0], x), np.dot(x[0, 0], x))
    np.testing.assert_array_equal(jnp.dot(x[0], x[1]), np.dot(x[0], x[1]))


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_pad_modes_match_numpy(dtype):
    a = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 10).astype(dtype)
    options = {"maximum": [{}, {"stat_length": 2}], "minimum": [{"stat_length": (1, 3)}],
               "mean": [{}, {"stat_length": ((1, 2), (3, 1), (1, 1))}], "median": [{}],
               "linear_ramp": [{}, {"end_values": (5, -3)}], "edge": [{}], "wrap": [{}],
               "reflect": [{}, {"reflect_type": "odd"}], "constant": [{"constant_values": 2}],
               "symmetric": [{}, {"reflect_type": "odd"}]}
    for mode, kwargs in options.items():
        for kw in kwargs:
            for width in (((1, 2), (0, 3), (2, 0)), 7):
                assert_close(jnp.pad(a, width, mode, **kw), np.pad(a, width, mode, **kw),
                             rtol=1e-6, atol=1e-4)
    assert jnp.pad(a, 2, "empty").shape == (7, 8, 9)


def test_top_k_matches_jax():
    """Values printed by JAX 0.10.2 for the same inputs."""
    import funcjax
    x = np.array([[1, 3, 3, 2, np.nan, 3, -np.inf, -0.5, 0.0]], np.float32)
    for fn in (funcjax.lax.top_k, funcjax.jit(funcjax.lax.top_k, static_argnums=1)):
        values, indices = fn(x, 6)
        np.testing.assert_array_equal(values, [[np.nan, 3, 3, 3, 2, 1]])
        np.testing.assert_array_equal(indices, [[4, 1, 2, 5, 3, 0]])
        assert indices.dtype == np.int32
    values, indices = funcjax.lax.top_k(np.array([3, 1, 3, -2], np.int32), 3)
    np.testing.assert_array_equal(values, [3, 3, 1])
    np.testing.assert_array_equal(indices, [0, 2, 1])
