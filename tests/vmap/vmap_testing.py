"""The reference vmap is a Python loop: slice every mapped argument, call ``f`` on each slice,
stack the results. Helpers to build batched arguments and compare results leaf by leaf."""

import numpy as np

from funcjax.core.pytree import tree_flatten, tree_unflatten

BATCH = 3


def batched(per_example, axis, rng, size=BATCH):
    """A random argument: ``per_example`` (a shape-producing sampler) stacked along ``axis``."""
    if axis is None:
        return per_example(rng)
    stacked = np.stack([per_example(rng) for _ in range(size)])
    return np.moveaxis(stacked, 0, axis)


def loop_vmap(f, in_axes, args, out_axes=0, size=None):
    """``vmap(f, in_axes, out_axes)(*args)`` for flat ``in_axes`` (one int/None per argument)
    and ``out_axes`` (an int/None, or one per output leaf), by looping."""
    if size is None:
        size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    results = []
    for i in range(size):
        sliced = [a if ax is None else np.take(np.asarray(a), i, axis=ax)
                  for a, ax in zip(args, in_axes)]
        results.append(f(*sliced))
    leaves, tree = tree_flatten(results[0])
    columns = zip(*[tree_flatten(r)[0] for r in results])
    axes = out_axes if isinstance(out_axes, (list, tuple)) else [out_axes] * len(leaves)
    stacked = [np.asarray(col[0]) if ax is None else np.stack([np.asarray(c) for c in col], ax)
               for col, ax in zip(columns, axes)]
    return tree_unflatten(tree, stacked)


def assert_trees_equal(actual, expected, rtol=1e-5, atol=1e-5):
    """Same structure, and leafwise the same shape, dtype and values (NaNs equal)."""
    actual_leaves, actual_tree = tree_flatten(actual)
    expected_leaves, expected_tree = tree_flatten(expected)
    assert actual_tree == expected_tree, (actual_tree, expected_tree)
    for a, e in zip(actual_leaves, expected_leaves):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (a.shape, e.shape)
        assert a.dtype == e.dtype, (a.dtype, e.dtype)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(a, e)
