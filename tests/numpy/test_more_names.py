"""The remaining everyday jnp names against numpy (eager and, where the result's shape does
not depend on values, jit), plus their coverage of jax.numpy's public names."""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcjax
import funcjax.numpy as jnp
from funcjax.core.errors import ConcretizationTypeError

NAMES_FILE = os.path.join(os.path.dirname(__file__), "jax_numpy_names.txt")


def test_covers_at_least_380_of_jax_numpy_names():
    with open(NAMES_FILE) as f:
        names = [line.strip() for line in f if line.strip()]
    assert len(names) == 416
    present = [n for n in names if hasattr(jnp, n)]
    assert len(present) >= 380, sorted(set(names) - set(present))
    # what is left are the ml_dtypes types (bfloat16, the float8/6/4 and int4/2/1 families),
    # which need the ml_dtypes package (not a dependency)
    left = set(names) - set(present)
    assert all(n == "bfloat16" or n.startswith(("float8", "float6", "float4", "int", "uint"))
               for n in left), sorted(left)


def floats(shape, lo=-10, hi=10):
    return hnp.arrays(np.float32, shape, elements=st.floats(lo, hi, width=32))


def ints(shape, lo=-20, hi=20):
    return hnp.arrays(np.int32, shape, elements=st.integers(lo, hi))


def _unless_refused(reference):
    """numpy's result, or None where numpy refuses the draw (a histogram over a range of a
    few subnormals: "Too many bins for data range")."""
    try:
        return reference()
    except ValueError:
        return None


VECTOR = st.sampled_from([(2,), (5,)])
MATRIX = st.sampled_from([(3, 4), (2, 2)])
JIT_CHECKED = set()  # jit is compared once per function: a compile per draw costs too much

# name: (strategy of argument tuples, funcjax call, numpy call, compare under jit too)
CASES = {
    "searchsorted": (st.tuples(floats(VECTOR).map(np.sort), floats(VECTOR),
                               st.sampled_from(["left", "right"])),
                     lambda a, v, s: jnp.searchsorted(a, v, side=s),
                     lambda a, v, s: np.searchsorted(a, v, side=s), True),
    "digitize": (st.tuples(floats(VECTOR), floats(VECTOR).map(np.unique), st.booleans()),
                 jnp.digitize, np.digitize, True),
    "bincount": (st.tuples(ints(VECTOR, 0, 6)), lambda x: jnp.bincount(x, length=7),
                 lambda x: np.bincount(x, minlength=7), True),
    "histogram": (st.tuples(floats(VECTOR)), lambda a: jnp.histogram(a, 4)[0],
                  lambda a: _unless_refused(lambda: np.histogram(a, 4)[0]), True),
    "interp": (st.tuples(floats(VECTOR), floats(VECTOR).map(np.unique), floats(VECTOR)),
               lambda x, xp, fp: jnp.interp(x, xp, fp[:len(xp)]),
               lambda x, xp, fp: np.interp(x, xp, fp[:len(xp)]) if len(fp) >= len(xp)
               else None, True),
    "gradient": (st.tuples(floats(MATRIX)), lambda f: jnp.stack(jnp.gradient(f)),
                 lambda f: np.stack(np.gradient(f)), True),
    "cov": (st.tuples(floats(MATRIX)), jnp.cov, np.cov, True),
    "corrcoef": (st.tuples(floats(MATRIX, 1, 10)), jnp.corrcoef, np.corrcoef, True),
    "convolve": (st.tuples(floats(VECTOR), floats(VECTOR),
                           st.sampled_from(["full", "same", "valid"])),
                 jnp.convolve, np.convolve, True),
    "correlate": (st.tuples(floats(VECTOR), floats(VECTOR),
                            st.sampled_from(["full", "same", "valid"])),
                  jnp.correlate, np.correlate, True),
    "diff_prepend": (st.tuples(floats(VECTOR)), lambda a: jnp.diff(a, prepend=1.5),
                     lambda a: np.diff(a, prepend=1.5), True),
    "trapezoid": (st.tuples(floats(MATRIX)), jnp.trapezoid, np.trapezoid, True),
    "unwrap": (st.tuples(floats(VECTOR)), jnp.unwrap, np.unwrap, True),
    "vander": (st.tuples(floats(VECTOR, -2, 2)), jnp.vander, np.vander, True),
    "gcd": (st.tuples(ints(VECTOR), ints(VECTOR)),
            lambda a, b: jnp.gcd(a, b[:1]), lambda a, b: np.gcd(a, b[:1]), True),
    "lcm": (st.tuples(ints(VECTOR), ints(VECTOR)),
            lambda a, b: jnp.lcm(a, b[:1]), lambda a, b: np.lcm(a, b[:1]), True),
    "frexp": (st.tuples(hnp.arrays(np.float32, VECTOR, elements=st.floats(width=32))),
              lambda x: jnp.stack([v.astype(jnp.float32) for v in jnp.frexp(x)]),
              lambda x: np.stack([v.astype(np.float32) for v in np.frexp(x)]), True),
    "ldexp": (st.tuples(floats(VECTOR), ints(VECTOR, -5, 5)),
              lambda x, e: jnp.ldexp(x, e[:1]), lambda x, e: np.ldexp(x, e[:1]), True),
    "modf": (st.tuples(floats(VECTOR)), lambda x: jnp.stack(jnp.modf(x)),
             lambda x: np.stack(np.modf(x)), True),
    "nanmean": (st.tuples(floats(MATRIX)), lambda a: jnp.nanmean(jnp.where(a > 5, jnp.nan, a)),
                lambda a: np.nanmean(np.where(a > 5, np.nan, a)) if (a <= 5).any() else None,
                True),
    "nanmedian": (st.tuples(floats(MATRIX)),
                  lambda a: jnp.nanmedian(jnp.where(a > 5, jnp.nan, a), axis=1),
                  lambda a: np.nanmedian(np.where(a > 5, np.nan, a), axis=1)
                  if (a <= 5).any(axis=1).all() else None, True),
    "nanquantile": (st.tuples(floats(MATRIX)),
                    lambda a: jnp.nanquantile(jnp.where(a > 5, jnp.nan, a), [0.3, 0.8]),
                    lambda a: np.nanquantile(np.where(a > 5, np.nan, a), [0.3, 0.8])
                    if (a <= 5).any() else None, True),
    "nancumsum": (st.tuples(floats(MATRIX)), lambda a: jnp.nancumsum(a, axis=1),
                  lambda a: np.nancumsum(a, axis=1), True),
    "geomspace": (st.tuples(st.floats(0.1, 10), st.floats(0.1, 10)),
                  lambda a, b: jnp.geomspace(a, b, 5), lambda a, b: np.geomspace(a, b, 5),
                  False),
    "unique": (st.tuples(ints(VECTOR, -3, 3)), jnp.unique, np.unique, False),
    "unique_counts": (st.tuples(ints(VECTOR, -3, 3)),
                      lambda a: jnp.stack(jnp.unique_counts(a)),
                      lambda a: np.stack(np.unique_counts(a)), False),
    "isin": (st.tuples(ints(MATRIX, -3, 3), ints(VECTOR, -3, 3)), jnp.isin, np.isin, True),
    "intersect1d": (st.tuples(ints(VECTOR, -3, 3), ints(VECTOR, -3, 3)), jnp.intersect1d,
                    np.intersect1d, False),
    "setdiff1d": (st.tuples(ints(VECTOR, -3, 3), ints(VECTOR, -3, 3)), jnp.setdiff1d,
                  np.setdiff1d, False),
    "setxor1d": (st.tuples(ints(VECTOR, -3, 3), ints(VECTOR, -3, 3)), jnp.setxor1d,
                 np.setxor1d, False),
    "union1d": (st.tuples(ints(VECTOR, -3, 3), ints(VECTOR, -3, 3)), jnp.union1d, np.union1d,
                False),
    "delete": (st.tuples(floats(MATRIX)), lambda a: jnp.delete(a, [0, -1], axis=1),
               lambda a: np.delete(a, [0, -1], axis=1), True),
    "insert": (st.tuples(floats(MATRIX)), lambda a: jnp.insert(a, [1, 1], 7.0, axis=0),
               lambda a: np.insert(a, [1, 1], 7.0, axis=0), True),
    "block": (st.tuples(floats(MATRIX)), lambda a: jnp.block([[a, a], [a, a]]),
              lambda a: np.block([[a, a], [a, a]]), True),
    "apply_along_axis": (st.tuples(floats(MATRIX)),
                         lambda a: jnp.apply_along_axis(lambda v: v.max() - v, 1, a),
                         lambda a: np.apply_along_axis(lambda v: v.max() - v, 1, a), True),
    "vectorize": (st.tuples(floats(MATRIX), floats(VECTOR)),
                  lambda a, b: jnp.vectorize(lambda x, y: x * y + 1)(a[:, :1], b),
                  lambda a, b: np.vectorize(lambda x, y: x * y + 1)(a[:, :1], b), True),
    "piecewise": (st.tuples(floats(VECTOR)),
                  lambda x: jnp.piecewise(x, [x < 0, x > 5], [lambda v: -v, 2.0, 0.5]),
                  lambda x: np.piecewise(x, [x < 0, x > 5], [lambda v: -v, 2.0, 0.5]), True),
    "select": (st.tuples(floats(VECTOR)), lambda x: jnp.select([x < 0, x > 5], [x, x * 2], 9),
               lambda x: np.select([x < 0, x > 5], [x, x * 2], 9), True),
    "einsum_operand_list": (st.tuples(floats(MATRIX), floats(MATRIX)),
                            lambda a, b: jnp.einsum(a, [0, 1], b, [2, 1], [0, 2]),
                            lambda a, b: np.einsum(a, [0, 1], b[:, :a.shape[1]], [2, 1], [0, 2])
                            if b.shape[1] == a.shape[1] else None, True),
    "bitwise_count": (st.tuples(ints(VECTOR, -300, 300)), jnp.bitwise_count, np.bitwise_count,
                      True),
    "packbits": (st.tuples(ints(MATRIX, 0, 1)), lambda a: jnp.packbits(a, axis=1),
                 lambda a: np.packbits(a, axis=1), True),
    "polyval": (st.tuples(floats(VECTOR, -2, 2), floats(VECTOR, -2, 2)), jnp.polyval,
                np.polyval, True),
    # As JAX (trim_leading_zeros=False), polymul keeps leading zeros: numpy's convolve does too.
    "polymul": (st.tuples(floats(VECTOR), floats(VECTOR)), jnp.polymul, np.convolve, True),
    "polyder": (st.tuples(floats(VECTOR)), jnp.polyder, np.polyder, True),
    "fftshift": (st.tuples(floats(MATRIX)), jnp.fft.fftshift, np.fft.fftshift, True),
    "ifftshift": (st.tuples(floats(MATRIX)), jnp.fft.ifftshift, np.fft.ifftshift, True),
    "kaiser": (st.tuples(st.integers(1, 9), st.floats(0, 10)), jnp.kaiser, np.kaiser, False),
    "i0": (st.tuples(floats(VECTOR)), jnp.i0, np.i0, True),
    "resize": (st.tuples(floats(VECTOR)), lambda a: jnp.resize(a, (3, 4)),
               lambda a: np.resize(a, (3, 4)), True),
    "choose": (st.tuples(ints(VECTOR, 0, 2), floats(VECTOR)),
               lambda i, x: jnp.choose(i, [x[:1], x[:1] * 2, x[:1] + 5], mode="clip"),
               lambda i, x: np.choose(i, [x[:1], x[:1] * 2, x[:1] + 5], mode="clip"), True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=6)
@given(data=st.data())
def test_matches_numpy(name, data):
    strategy, ours, theirs, jittable = CASES[name]
    args = data.draw(strategy)
    with np.errstate(all="ignore"):
        expected = theirs(*args)
    if expected is None:  # a draw outside what numpy defines (e.g. all-NaN slices)
        return
    expected = np.asarray(expected)
    tol = dict(rtol=2e-5, atol=1e-5) if expected.dtype.kind == "f" else dict(rtol=0, atol=0)
    got = np.asarray(ours(*args))
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, **tol)
    if jittable and name not in JIT_CHECKED:
        JIT_CHECKED.add(name)
        arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

        def traced(*xs):
            full = list(args)
            for i, x in zip(arrays, xs):
                full[i] = x
            return ours(*full)
        compiled = funcjax.jit(traced)(*[args[i] for i in arrays])
        np.testing.assert_allclose(np.asarray(compiled), got, rtol=1e-6, atol=1e-6)


def test_value_dependent_shapes_need_size_under_jit():
    x = np.array([3, 1, 3, 2])
    with pytest.raises(ConcretizationTypeError, match="size="):
        funcjax.jit(jnp.unique)(x)
    out = funcjax.jit(lambda x: jnp.unique(x, size=5, fill_value=-1))(x)
    np.testing.assert_array_equal(np.asarray(out), [1, 2, 3, -1, -1])
    out = funcjax.jit(lambda a, b: jnp.intersect1d(a, b, size=3))(x, np.array([3, 4, 1]))
    np.testing.assert_array_equal(np.asarray(out), [1, 3, 0])


def test_index_helpers_match_numpy():
    np.testing.assert_array_equal(np.asarray(jnp.r_[np.array([1, 2]), 0, 3:6]),
                                  np.r_[np.array([1, 2]), 0, 3:6])
    np.testing.assert_array_equal(np.asarray(jnp.c_[np.array([1, 2]), np.array([3, 4])]),
                                  np.c_[np.array([1, 2]), np.array([3, 4])])
    np.testing.assert_allclose(np.asarray(jnp.r_[0:1:5j]), np.r_[0:1:5j])
    np.testing.assert_array_equal(np.asarray(jnp.mgrid[0:2, 0:3]), np.mgrid[0:2, 0:3])
    for got, want in zip(jnp.ogrid[0:2, 0:3], np.ogrid[0:2, 0:3]):
        np.testing.assert_array_equal(np.asarray(got), want)
    for got, want in zip(jnp.triu_indices(4, 1), np.triu_indices(4, 1)):
        np.testing.assert_array_equal(np.asarray(got), want)
    a = np.zeros((5, 3))
    expected = a.copy()
    np.fill_diagonal(expected, [1, 2], wrap=True)
    np.testing.assert_array_equal(
        np.asarray(jnp.fill_diagonal(a, np.array([1.0, 2.0]), wrap=True, inplace=False)),
        expected)
    with pytest.raises(NotImplementedError, match="inplace=False"):
        jnp.fill_diagonal(a, 1.0)
    with pytest.raises(ValueError, match="inplace=False"):
        jnp.put(a, [0], 1.0)


def test_histogramdd_and_2d_match_numpy():
    s = np.random.default_rng(0).standard_normal((40, 2))
    np.testing.assert_array_equal(np.asarray(jnp.histogramdd(s, (3, 4))[0]),
                                  np.histogramdd(s, (3, 4))[0])
    got, ex, ey = jnp.histogram2d(s[:, 0], s[:, 1], 3, density=True)
    want = np.histogram2d(s[:, 0], s[:, 1], 3, density=True)
    np.testing.assert_allclose(np.asarray(got), want[0], rtol=1e-5)


def test_fft_frequencies():
    for n in (1, 6, 7):
        np.testing.assert_allclose(np.asarray(jnp.fft.fftfreq(n, 0.5)), np.fft.fftfreq(n, 0.5))
        np.testing.assert_allclose(np.asarray(jnp.fft.rfftfreq(n, 0.5)),
                                   np.fft.rfftfreq(n, 0.5))


def test_gradient_with_coordinates_and_derivatives():
    x = np.array([0.0, 0.5, 1.5, 3.0, 3.2])
    f = x ** 2
    np.testing.assert_allclose(np.asarray(jnp.gradient(f, x)), np.gradient(f, x), rtol=1e-5)
    g = funcjax.grad(lambda a: jnp.sum(jnp.convolve(a, np.array([1.0, -2.0, 0.5]))))(
        np.ones(4, np.float32))
    np.testing.assert_allclose(np.asarray(g), np.full(4, -0.5), rtol=1e-6)


@settings(max_examples=6)
@given(seed=st.integers(0, 999), deg=st.integers(0, 3))
def test_polyfit_and_roots_match_numpy(seed, deg):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, 8))
    y = rng.standard_normal(8)
    np.testing.assert_allclose(np.asarray(jnp.polyfit(x, y, deg)), np.polyfit(x, y, deg),
                               rtol=1e-3, atol=1e-3)
    p = np.concatenate([[1.0], rng.standard_normal(deg)])
    got = np.sort_complex(np.asarray(jnp.roots(p)).astype(complex))
    np.testing.assert_allclose(got, np.sort_complex(np.roots(p)), rtol=1e-3, atol=1e-3)


def test_set_operations_with_empty_results():
    for got, want in [(jnp.intersect1d(np.array([0, 0]), np.array([1, 1])),
                       np.intersect1d([0, 0], [1, 1])),
                      (jnp.setdiff1d(np.array([1]), np.array([1])), np.setdiff1d([1], [1])),
                      (jnp.unique(np.array([], np.int32)), np.unique(np.array([], np.int32)))]:
        assert np.asarray(got).shape == want.shape == (0,)
