"""Shared checks for the control-flow tests: run a function eagerly and through its jaxpr,
finite differences, and tolerant comparison of pytrees."""

import numpy as np

import funcjax
from funcjax.core.ir import typecheck
from funcjax.core.pytree import tree_flatten, tree_leaves, tree_unflatten


def staged(f):
    """``f`` run by staging it with make_jaxpr, type-checking the jaxpr and evaluating it."""
    def run(*args):
        closed, shapes = funcjax.make_jaxpr(f, return_shape=True)(*args)
        typecheck(closed)
        outs = funcjax.eval_jaxpr(closed.jaxpr, closed.consts, *tree_leaves(args))
        return tree_unflatten(tree_flatten(shapes)[1], outs)
    return run


def assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    assert a_tree == e_tree, f"structure {a_tree} != {e_tree}"
    for a, e in zip(a_leaves, e_leaves):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


def eager_and_staged(f, reference, *args, **tol):
    """``f(*args)`` matches ``reference(*args)`` both eagerly and through make_jaxpr."""
    expected = reference(*args)
    assert_close(f(*args), expected, **tol)
    assert_close(staged(f)(*args), expected, **tol)


def finite_difference(f, x, eps=1e-3):
    """Central differences of a scalar-valued ``f`` at float64 array ``x``, one per entry."""
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (float(f(x + step)) - float(f(x - step))) / (2 * eps)
    return grad


def loop_over(f, *args, in_axes=0):
    """The reference for ``vmap(f)``: ``f`` applied lane by lane, outputs stacked leafwise."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [f(*[a if ax is None else np.take(np.asarray(a), i, ax) for a, ax in zip(args, axes)])
            for i in range(size)]
    leaves = [tree_flatten(o)[0] for o in outs]
    stacked = [np.stack([np.asarray(lane[k]) for lane in leaves]) for k in range(len(leaves[0]))]
    return tree_unflatten(tree_flatten(outs[0])[1], stacked)
