"""x[idx], x.at[idx] updates, take, take_along_axis and nonzero against numpy."""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import funcjax
import funcjax.numpy as jnp
from funcjax.numpy._indexing import NonConcreteBooleanIndexError


@st.composite
def index_expressions(draw, shape):
    """Random numpy index tuples: ints, slices, None, Ellipsis, int arrays and masks."""
    entries, axis = [], 0
    used_ellipsis = False
    while axis < len(shape) and draw(st.booleans()):
        n = shape[axis]
        kind = draw(st.sampled_from(["int", "slice", "none", "array", "mask", "ellipsis"]))
        if kind == "int" and n:
            entries.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            entries.append(slice(draw(st.none() | st.integers(-n - 2, n + 2)),
                                 draw(st.none() | st.integers(-n - 2, n + 2)),
                                 draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]))))
        elif kind == "none":
            entries.append(None)
            continue
        elif kind == "array" and n:
            entries.append(draw(hnp.arrays(np.int32, draw(st.sampled_from([(), (2,), (2, 1)])),
                                           elements=st.integers(-n, n - 1))))
        elif kind == "mask":
            entries.append(draw(hnp.arrays(np.bool_, (n,))))
        elif kind == "ellipsis" and not used_ellipsis:
            used_ellipsis = True
            entries.append(Ellipsis)
            axis = len(shape) - 1
        else:
            entries.append(slice(None))
        axis += 1
    return tuple(entries)


@st.composite
def operand_and_index(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    return x, draw(index_expressions(shape))


def _numpy_or_error(fn):
    try:
        return fn()
    except IndexError:
        return IndexError


@settings(max_examples=50, deadline=None)
@given(operand_and_index())
def test_getitem_matches_numpy(case):
    x, idx = case
    expected = _numpy_or_error(lambda: x[idx])
    if expected is IndexError:
        with pytest.raises(IndexError):
            jnp.asarray(x)[idx]
        return
    got = jnp.asarray(x)[idx]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=40, deadline=None)
@given(operand_and_index(), st.sampled_from(["set", "add", "mul", "min", "max"]))
def test_at_updates_match_numpy(case, op):
    x, idx = case
    if _numpy_or_error(lambda: x[idx]) is IndexError:
        return
    shape = x[idx].shape
    values = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + 100
    expected = x.copy()
    if op == "set":
        expected[idx] = values
        # Repeated indices: numpy and funcjax may keep different writes; compare only if none.
        flat = np.arange(x.size).reshape(x.shape)[idx]
        if len(np.unique(flat)) != flat.size:
            return
    else:
        ufunc = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}[op]
        ufunc.at(expected, idx, values)
    got = getattr(jnp.asarray(x).at[idx], op)(values)
    np.testing.assert_array_equal(got, expected)


def test_out_of_bounds_follow_jax():
    x = jnp.arange(3)
    assert int(x[5]) == 2 and int(x[-5]) == 0  # reads clamp
    np.testing.assert_array_equal(x[np.array([5, -7])], [2, 0])
    np.testing.assert_array_equal(x.at[5].set(9), [0, 1, 2])  # updates drop
    np.testing.assert_array_equal(x.at[-5].set(9), [0, 1, 2])
    assert int(x.at[5].get(mode="fill", fill_value=-1)) == -1
    np.testing.assert_array_equal(x.at[5].set(9, mode="clip"), [0, 1, 9])
    assert np.isnan(jnp.take(jnp.arange(3.0), 7))


def test_at_helpers_and_broadcast_values():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(jnp.asarray(x).at[:, 1].set(0), np.where(
        np.arange(3) == 1, 0, x))
    np.testing.assert_array_equal(jnp.asarray(x).at[...].add(1), x + 1)
    np.testing.assert_allclose(jnp.asarray(x).at[0].divide(2), np.vstack([x[0] / 2, x[1]]))
    np.testing.assert_allclose(jnp.asarray(x).at[1].power(2), np.vstack([x[0], x[1] ** 2]))
    assert jnp.arange(3).at[1].set(2.5).dtype == np.int32
    with pytest.raises(ValueError, match=r"\(2,\)"):
        jnp.asarray(x).at[0].set(np.ones(2))


def test_traced_indices():
    x = jnp.arange(12.0).reshape(3, 4)

    def f(x, i, m):
        return x[i, ::-1], x[m], x.at[i].add(1.0)
    closed = funcjax.make_jaxpr(f)(x, 2, jnp.array([0, 2]))
    got = funcjax.eval_jaxpr(closed.jaxpr, closed.consts, x, jnp.int32(-1), jnp.array([0, 2]))
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(got[0], a[-1, ::-1])
    np.testing.assert_array_equal(got[1], a[[0, 2]])
    np.testing.assert_array_equal(got[2], np.vstack([a[:2], a[2:] + 1]))


def test_traced_boolean_mask_is_a_clear_error():
    with pytest.raises(NonConcreteBooleanIndexError, match=r"bool\[3\].*where"):
        funcjax.make_jaxpr(lambda x: x[x > 1])(jnp.arange(3.0))
    assert issubclass(NonConcreteBooleanIndexError, IndexError)


def test_bad_indices():
    x = jnp.ones((2, 3))
    with pytest.raises(IndexError, match="Too many indices.*2-dimensional, but 3"):
        x[0, 0, 0]
    with pytest.raises(TypeError, match="integer or boolean"):
        x[1.0]
    with pytest.raises(IndexError, match=r"\(2,\).*\(3,\)"):
        x[np.array([0, 1]), np.array([0, 1, 2])]


@settings(max_examples=25, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_take_and_take_along_axis(shape, data):
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    idx = data.draw(hnp.arrays(np.int32, (3,), elements=st.integers(-n, n - 1)))
    np.testing.assert_array_equal(jnp.take(x, idx, axis=axis), np.take(x, idx, axis=axis))
    along = np.argsort(-x, axis=axis)
    np.testing.assert_array_equal(jnp.take_along_axis(x, along, axis),
                                  np.take_along_axis(x, along, axis))


def test_nonzero_eager_and_sized():
    a = np.array([[0, 1, 0], [2, 0, 3]])
    for got, want in zip(jnp.nonzero(a), np.nonzero(a)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(jnp.argwhere(a), np.argwhere(a))
    np.testing.assert_array_equal(jnp.flatnonzero(a), np.flatnonzero(a))
    rows, cols = jnp.nonzero(a, size=4, fill_value=-1)
    np.testing.assert_array_equal(rows, [0, 1, 1, -1])
    np.testing.assert_array_equal(cols, [1, 0, 2, -1])
    closed = funcjax.make_jaxpr(lambda a: jnp.nonzero(a, size=2))(a)
    got = funcjax.eval_jaxpr(closed.jaxpr, closed.consts, jnp.asarray(a))
    np.testing.assert_array_equal(got[1], [1, 0])
    with pytest.raises(funcjax.ConcretizationTypeError, match="size="):
        funcjax.make_jaxpr(jnp.nonzero)(a)


def test_index_corner_cases_match_numpy_and_jax():
    """Repeated indices apply ``power`` once per occurrence (``np.power.at``); ``take`` wraps
    in mode "wrap" and clamps in mode "clip"; a negative dynamic_slice start counts from the
    end, as in JAX."""
    from funcjax import lax
    x = np.arange(4, dtype=np.float32) + 2
    idx = np.array([0, 2, -1, 3, 3], np.int32)
    want = x.copy()
    np.power.at(want, idx, np.float32(1.5))
    np.testing.assert_allclose(jnp.asarray(x).at[idx].power(1.5), want, rtol=1e-6)
    a = np.arange(20.0, dtype=np.float32).reshape(4, 5)
    wrap = np.array([-7, 6, 2, -1], np.int32)
    np.testing.assert_array_equal(jnp.take(a, wrap, 1, mode="wrap"), np.take(a, wrap, 1,
                                                                             mode="wrap"))
    np.testing.assert_array_equal(jnp.take(a, wrap, mode="wrap"), np.take(a, wrap, mode="wrap"))
    for axis in (None, 0, 1):  # clip: a negative index is clipped to 0, not counted from the end
        want = np.take(a, wrap, axis, mode="clip")
        np.testing.assert_array_equal(jnp.take(a, wrap, axis, mode="clip"), want)
        jitted = funcjax.jit(lambda x, i, axis=axis: jnp.take(x, i, axis, mode="clip"))
        np.testing.assert_array_equal(jitted(a, wrap), want)
    # JAX 0.10.2: starts (-1, -3) become (3, 2), then clamp to (2, 2) for a 2x2 window.
    np.testing.assert_array_equal(lax.dynamic_slice(a, (-1, -3), (2, 2)), a[2:4, 2:4])
    np.testing.assert_array_equal(lax.dynamic_slice(a, (jnp.int32(-2), 0), (1, 5)), a[2:3])
    updated = lax.dynamic_update_slice(a, np.zeros((1, 2), np.float32), (-1, -2))
    np.testing.assert_array_equal(updated, np.where(np.arange(20).reshape(4, 5) >= 18, 0, a))


def test_at_with_0d_boolean_index_matches_numpy():
    # JAX 0.10.2 accepts these too: True selects everything (with a new axis), False nothing.
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(jnp.asarray(x).at[True].set(-1.0), np.full((2, 3), -1.0))
    np.testing.assert_array_equal(jnp.asarray(x).at[False].add(1.0), x)
    np.testing.assert_array_equal(jnp.asarray(x).at[True, 0].add(1.0), x + [[1], [0]])
    np.testing.assert_array_equal(jnp.asarray(x).at[True].get(), x[True])
    np.testing.assert_array_equal(jnp.asarray(x).at[False].get(), x[False])
