"""Collectives under vmap(..., axis_name=...) against references written over the stacked
per-member values (what a loop over the members would compute), alone, nested, and under jvp."""

import numpy as np
import pytest
import vmap_testing as vt

import funcjax
from funcjax import lax, vmap
from funcjax.interpreters.jvp import jvp_flat

B = vt.BATCH
rng = np.random.default_rng(0)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _all_to_all_ref(xs, split, concat, tiled):
    chunks = np.split(xs, B, axis=1 + split)  # chunks[k][m]: member m's chunk for member k
    if tiled:
        return np.stack([np.concatenate(list(c), axis=concat) for c in chunks])
    return np.stack([np.stack([np.squeeze(cm, split) for cm in c], axis=concat) for c in chunks])


def _ppermute_ref(xs, perm):
    out = np.zeros_like(xs)
    for s, t in perm:
        out[t] = xs[s]
    return out


# name: (function of one member's value, reference on the stacked values, per-member shape)
COLLECTIVES = {
    "psum": (lambda x: lax.psum(x, "i"), lambda xs: np.broadcast_to(xs.sum(0), xs.shape),
             (2, 3)),
    "pmean": (lambda x: lax.pmean(x, "i"), lambda xs: np.broadcast_to(xs.mean(0), xs.shape),
              (2, 3)),
    "pmax": (lambda x: lax.pmax(x, "i"), lambda xs: np.broadcast_to(xs.max(0), xs.shape),
             (2, 3)),
    "pmin": (lambda x: lax.pmin(x, "i"), lambda xs: np.broadcast_to(xs.min(0), xs.shape),
             (4,)),
    "normalize": (lambda x: x / lax.psum(x, "i"), lambda xs: xs / xs.sum(0), (3,)),
    "all_gather": (lambda x: lax.all_gather(x, "i", axis=1),
                   lambda xs: np.broadcast_to(np.moveaxis(xs, 0, 1), (B,) + np.moveaxis(
                       xs, 0, 1).shape), (2, 3)),
    "all_gather_tiled": (lambda x: lax.all_gather(x, "i", axis=1, tiled=True),
                         lambda xs: np.broadcast_to(np.concatenate(list(xs), 1),
                                                    (B, 2, 3 * B)), (2, 3)),
    "psum_scatter": (lambda x: lax.psum_scatter(x, "i", scatter_dimension=1),
                     lambda xs: np.moveaxis(xs.sum(0), 1, 0), (2, B)),
    "psum_scatter_tiled": (lambda x: lax.psum_scatter(x, "i", tiled=True),
                           lambda xs: xs.sum(0).reshape(B, 2, 4), (2 * B, 4)),
    "all_to_all": (lambda x: lax.all_to_all(x, "i", 0, 1),
                   lambda xs: _all_to_all_ref(xs, 0, 1, False), (B, 2)),
    "all_to_all_tiled": (lambda x: lax.all_to_all(x, "i", 1, 0, tiled=True),
                         lambda xs: _all_to_all_ref(xs, 1, 0, True), (2, 2 * B)),
    "ppermute_cycle": (lambda x: lax.ppermute(x, "i", [(k, (k + 1) % B) for k in range(B)]),
                       lambda xs: np.roll(xs, 1, axis=0), (2,)),
    "ppermute_partial": (lambda x: lax.ppermute(x, "i", [(0, 2), (2, 1)]),
                         lambda xs: _ppermute_ref(xs, [(0, 2), (2, 1)]), (2, 2)),
    "axis_index": (lambda x: x + lax.axis_index("i"),
                   lambda xs: xs + np.arange(B, dtype=np.float32).reshape(
                       (B,) + (1,) * (xs.ndim - 1)), (2,)),
}


@pytest.mark.parametrize("name", sorted(COLLECTIVES))
@pytest.mark.parametrize("in_axis", [0, -1, None])
def test_collective_matches_reference(name, in_axis):
    fun, reference, shape = COLLECTIVES[name]
    xs = normal(B, *shape)
    if in_axis is None:
        xs = np.broadcast_to(xs[0], xs.shape)
    arg = xs[0] if in_axis is None else np.moveaxis(xs, 0, in_axis)
    out = vmap(fun, in_axes=in_axis, axis_name="i", axis_size=B)(arg)
    vt.assert_trees_equal(out, np.asarray(reference(xs), np.float32))


@pytest.mark.parametrize("name", sorted(COLLECTIVES))
def test_collective_over_the_outer_axis_of_nested_vmaps(name):
    """Inside an inner vmap, a collective over the outer axis acts lane by lane of the inner."""
    fun, reference, shape = COLLECTIVES[name]
    xs = normal(B, 2, *shape)
    out = vmap(vmap(fun, axis_name="j"), axis_name="i")(xs)
    ref = np.stack([reference(xs[:, j]) for j in range(2)], axis=1)
    vt.assert_trees_equal(out, np.asarray(ref, np.float32))


def test_reductions_over_several_axes_and_nested_axis_index():
    xs = normal(2, 3, 4)
    both = vmap(vmap(lambda x: lax.psum(x, ("i", "j")), axis_name="j"), axis_name="i")(xs)
    vt.assert_trees_equal(both, np.broadcast_to(xs.sum((0, 1)), xs.shape))
    inner = vmap(vmap(lambda x: lax.pmax(x, "j"), axis_name="j"), axis_name="i")(xs)
    vt.assert_trees_equal(inner, np.broadcast_to(xs.max(1, keepdims=True), xs.shape))
    index = vmap(vmap(lambda x: lax.axis_index(("i", "j")), axis_name="j"),
                 axis_name="i")(xs)
    vt.assert_trees_equal(index, np.arange(6, dtype=np.int32).reshape(2, 3))
    sizes = vmap(vmap(lambda x: x * 0 + lax.axis_size(("i", "j")), axis_name="j"),
                 axis_name="i")(np.zeros((2, 3), np.int32))
    vt.assert_trees_equal(sizes, np.full((2, 3), 6, np.int32))


def test_psum_over_pytrees_and_python_scalars():
    out = vmap(lambda x: lax.psum({"a": x, "n": 1}, "i"), axis_name="i")(np.arange(3))
    vt.assert_trees_equal(out, {"a": np.full(3, 3, np.int32), "n": np.full(3, 3, np.int32)})


@pytest.mark.parametrize("name", ["psum", "all_gather", "psum_scatter_tiled", "all_to_all",
                                  "ppermute_partial"])
def test_jvp_of_linear_collectives_is_the_collective_of_tangents(name):
    fun, _, shape = COLLECTIVES[name]
    xs, ts = normal(B, *shape), normal(B, *shape)

    def tangent(x, t):
        return jvp_flat(lambda x: [fun(x)], [x], [t])[1][0]
    vt.assert_trees_equal(vmap(tangent, axis_name="i")(xs, ts), vmap(fun, axis_name="i")(ts))


@pytest.mark.parametrize("name", ["psum", "all_gather", "all_gather_tiled", "psum_scatter",
                                  "psum_scatter_tiled", "all_to_all", "all_to_all_tiled",
                                  "ppermute_partial"])
def test_transpose_identity_of_linear_collectives(name):
    """<L v, w> == <v, L^T w>, with the inner product summed over the members."""
    fun, _, shape = COLLECTIVES[name]
    vs = normal(B, *shape)
    lv = np.asarray(vmap(fun, axis_name="i")(vs))
    ws = normal(*lv.shape)
    transposed = vmap(lambda v, w: funcjax.linear_transpose(fun, v)(w)[0], axis_name="i")
    ltw = np.asarray(transposed(vs, ws))
    assert ltw.shape == vs.shape
    np.testing.assert_allclose(np.sum(lv * ws), np.sum(vs * ltw), rtol=1e-4)


def test_jvp_of_pmax_follows_the_maximum():
    xs, ts = normal(B, 4), normal(B, 4)

    def tangent(x, t):
        return jvp_flat(lambda x: [lax.pmax(x, "i")], [x], [t])[1][0]
    winner = xs.argmax(0)
    expected = np.broadcast_to(ts[winner, np.arange(4)], xs.shape)
    vt.assert_trees_equal(vmap(tangent, axis_name="i")(xs, ts), expected)


# -- errors ----------------------------------------------------------------------------------
def test_unknown_axis_name_names_the_axes_in_scope():
    with pytest.raises(NameError, match=r"unbound axis name 'k' in psum: the axis names in "
                                        r"scope are \('j', 'i'\).*vmap\(\.\.\., axis_name='k'\)"):
        vmap(vmap(lambda x: lax.psum(x, "k"), axis_name="j"), axis_name="i")(normal(2, 3))


def test_collective_outside_any_mapped_axis():
    with pytest.raises(NameError, match="unbound axis name 'i' in axis_index: no named axis is "
                                        "in scope"):
        lax.axis_index("i")
    with pytest.raises(NameError, match="unbound axis name 'i' in all_gather"):
        vmap(lambda x: lax.all_gather(x, "i"))(normal(3))


def test_ppermute_needs_a_permutation_of_members():
    with pytest.raises(ValueError, match=r"perm=\(\(0, 1\), \(1, 1\)\) must name each "
                                         "destination at most once"):
        vmap(lambda x: lax.ppermute(x, "i", [(0, 1), (1, 1)]), axis_name="i")(normal(3))
    with pytest.raises(ValueError, match="within the 3 members of axis 'i'"):
        vmap(lambda x: lax.ppermute(x, "i", [(0, 3)]), axis_name="i")(normal(3))


def test_psum_scatter_needs_a_divisible_dimension():
    with pytest.raises(ValueError, match="dimension 0 has size 4, which must be a multiple of "
                                         "3"):
        vmap(lambda x: lax.psum_scatter(x, "i", tiled=True), axis_name="i")(normal(3, 4))


def test_collectives_of_python_scalars_stay_weakly_typed():
    # Dtypes and weak types obtained by running the same function under JAX 0.10.2.
    r = funcjax.vmap(lambda x: (lax.psum(1, "i"), lax.pmax(2.0, "i"), lax.pmean(1.0, "i"),
                                lax.all_gather(1.0, "i"), lax.psum(np.float32(1), "i")),
                     axis_name="i")(np.ones(3, np.float32))
    assert [(a.dtype, a.weak_type, a.shape) for a in r] == [
        (np.int32, True, (3,)), (np.float32, True, (3,)), (np.float32, True, (3,)),
        (np.float32, True, (3, 3)), (np.float32, False, (3,))]
    np.testing.assert_array_equal(r[0], [3, 3, 3])
