"""vmap's interface: in_axes/out_axes as pytree prefixes, keyword arguments, nesting, axis_size,
what stays unmapped, and the errors for calls that cannot be mapped."""

import numpy as np
import pytest
import vmap_testing as vt

import funcjax
import funcjax.numpy as jnp
from funcjax import lax, vmap

rng = np.random.default_rng(0)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_pytree_in_axes_and_out_axes():
    def f(params, x):
        y = jnp.tanh(x * params["w"] + params["b"])
        return {"y": y, "w": params["w"]}

    params = {"w": normal(4), "b": normal(4, 3)}
    xs = normal(4, 3)
    out = vmap(f, in_axes=({"w": None, "b": 1}, 1), out_axes={"y": -1, "w": None})(params, xs)
    for i in range(3):
        ref = f({"w": params["w"], "b": params["b"][:, i]}, xs[:, i])
        vt.assert_trees_equal(np.asarray(out["y"])[:, i], ref["y"])
    vt.assert_trees_equal(out["w"], params["w"])


def test_list_in_axes_means_one_entry_per_argument():
    x, y = normal(3, 2), normal(2)
    out = vmap(lambda a, b: a * b, in_axes=[0, None])(x, y)
    vt.assert_trees_equal(out, vt.loop_vmap(lambda a, b: a * b, (0, None), [x, y]))


def test_keyword_arguments_are_mapped_over_axis_zero():
    x, y = normal(2), normal(5, 2)
    out = vmap(lambda a, b: a + b, in_axes=(None,))(x, b=y)
    vt.assert_trees_equal(out, vt.loop_vmap(lambda a, b: a + b, (None, 0), [x, y]))


def test_tuple_outputs_with_mixed_out_axes():
    xs = normal(3, 4)
    out = vmap(lambda x: (x, jnp.sum(x), 2.0 * x), out_axes=(1, 0, -1))(xs)
    ref = vt.loop_vmap(lambda x: (x, jnp.sum(x), 2.0 * x), (0,), [xs], out_axes=(1, 0, -1))
    vt.assert_trees_equal(out, ref)


def test_unmapped_output_with_out_axes_none_is_not_broadcast():
    xs, c = normal(3, 4), normal(4)
    mapped, shared = vmap(lambda x, c: (x + c, jnp.sin(c)), (0, None), (0, None))(xs, c)
    assert np.shape(mapped) == (3, 4)
    vt.assert_trees_equal(shared, jnp.sin(c))


def test_unmapped_output_is_broadcast_to_out_axes():
    out = vmap(lambda x, c: c * 2.0, (0, None), 1)(normal(3), normal(2))
    assert np.shape(out) == (2, 3)


def test_unmapped_work_stays_unmapped():
    jaxpr = funcjax.make_jaxpr(vmap(lambda x, c: x + jnp.sin(c), (0, None)))(normal(3, 4),
                                                                            normal(4))
    sin = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "sin"]
    assert [e.outputs[0].aval.shape for e in sin] == [(4,)]


def test_dot_general_folds_the_batch_into_one_contraction():
    jaxpr = funcjax.make_jaxpr(vmap(jnp.matmul))(normal(5, 2, 3), normal(5, 3, 4))
    (eqn,) = jaxpr.jaxpr.eqns
    assert eqn.primitive.name == "dot_general"
    assert eqn.params["dimension_numbers"][1] == ((0,), (0,))


def test_batched_dynamic_slice_is_one_gather():
    f = vmap(lambda x, i: lax.dynamic_slice(x, (i,), (2,)))
    small = funcjax.make_jaxpr(f)(normal(3, 5), np.arange(3, dtype=np.int32))
    large = funcjax.make_jaxpr(f)(normal(50, 5), np.arange(50, dtype=np.int32))
    assert len(small.jaxpr.eqns) == len(large.jaxpr.eqns)
    assert "gather" in [e.primitive.name for e in small.jaxpr.eqns]


def test_nested_vmap_with_different_axes():
    def dist(a, b):
        return jnp.sqrt(jnp.sum((a - b) ** 2))

    a, b = normal(4, 3), normal(3, 5)
    pairwise = vmap(vmap(dist, (None, 1)), (0, None))(a, b)
    ref = np.sqrt(((a[:, None, :] - b.T[None, :, :]) ** 2).sum(-1))
    vt.assert_trees_equal(pairwise, ref)


def test_nested_vmap_against_double_loop():
    def f(x, y):
        return lax.dot(x, y) + jnp.max(x)

    xs, ys = normal(3, 2, 4, 5), normal(5, 3)
    inner = vmap(f, in_axes=(1, None), out_axes=-1)
    out = vmap(inner, in_axes=(0, 1), out_axes=1)(xs, ys)

    def ref_inner(x, y):
        return vt.loop_vmap(f, (1, None), [x, y], out_axes=-1)
    vt.assert_trees_equal(out, vt.loop_vmap(ref_inner, (0, 1), [xs, ys], out_axes=1))


def test_axis_size_without_mapped_arguments():
    c = normal(2)
    vt.assert_trees_equal(vmap(lambda c: c * 2.0, in_axes=None, axis_size=4)(c),
                          np.stack([c * 2.0] * 4))
    index = vmap(lambda: lax.axis_index("i"), axis_name="i", axis_size=3)()
    vt.assert_trees_equal(index, np.arange(3, dtype=np.int32))


def test_constant_output_is_broadcast_with_its_dtype():
    out = vmap(lambda x: jnp.zeros(2, np.int32))(normal(3))
    vt.assert_trees_equal(out, np.zeros((3, 2), np.int32))


# -- errors ----------------------------------------------------------------------------------
def add(x, y):
    return x + y


def test_inconsistent_sizes_name_each_argument_and_size():
    with pytest.raises(ValueError) as e:
        vmap(lambda x, y: x["a"] + y)({"a": normal(3)}, normal(4))
    message = str(e.value)
    assert "inconsistent sizes" in message
    assert "size 3: axis 0 of argument x['a'] of shape (3,)" in message
    assert "size 4: axis 0 of argument y of shape (4,)" in message
    assert "in_axes" in message


def test_axis_size_conflicting_with_arguments():
    with pytest.raises(ValueError, match="size 4: the axis_size argument"):
        vmap(add, axis_size=4)(normal(3), normal(3))


def test_in_axes_length_must_match_positional_arguments():
    with pytest.raises(ValueError, match=r"vmap\(add\): in_axes has 1 entries .* called with 2 "
                                         "positional arguments"):
        vmap(add, in_axes=(0,))(normal(3), normal(3))


def test_in_axes_structure_must_be_a_prefix_of_the_arguments():
    with pytest.raises(ValueError, match=r"in_axes has a different structure at \[0\]\[0\]"):
        vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": normal(3)})


@pytest.mark.parametrize("spec", [{"a": 0}, 0.5, ("a",), ([1.5],)])
def test_in_axes_of_the_wrong_type(spec):
    with pytest.raises(TypeError, match=r"vmap\(<lambda>\): in_axes must be an int, None"):
        vmap(lambda p: p, in_axes=spec)({"a": normal(3)})


def test_in_axis_beyond_the_rank_of_the_argument():
    with pytest.raises(ValueError, match=r"map argument y of shape \(3, 4\) along axis -3, but "
                                         "it has rank 2"):
        vmap(add, in_axes=(0, -3))(normal(3), normal(3, 4))


def test_mapping_a_scalar():
    with pytest.raises(ValueError, match=r"argument x of shape \(\) along axis 0"):
        vmap(add)(1.0, normal(3))


def test_nothing_mapped_and_no_axis_size():
    with pytest.raises(ValueError, match=r"vmap\(add\): no argument is mapped.*axis_size=n"):
        vmap(add, in_axes=None)(normal(3), normal(3))


def test_out_axes_none_for_a_mapped_output():
    with pytest.raises(ValueError, match=r"out_axes is None for output \[1\], but that output "
                                         "depends on the mapped arguments"):
        vmap(lambda x: (x, x), out_axes=(0, None))(normal(3))


def test_out_axis_out_of_bounds():
    with pytest.raises(ValueError, match=r"axis 2, but that output has shape \(\) per example"):
        vmap(lambda x: x, out_axes=2)(normal(3))


def test_out_axes_structure_must_be_a_prefix_of_the_output():
    with pytest.raises(ValueError, match="out_axes has a different structure.*whose structure "
                                         r"is PyTreeDef\(\(\*, \*\)\)"):
        vmap(lambda x: (x, x), out_axes=(0, 0, 0))(normal(3))


def test_out_axes_of_the_wrong_type():
    with pytest.raises(TypeError, match="out_axes must be an int, None"):
        vmap(lambda x: x, out_axes=0.5)
