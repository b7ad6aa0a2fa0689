"""Parallel reductions (``lower_reductions``): sums into one element are cut into chunks
fixed by the shape, summed in parallel into float64 partials that are added in order; the
results are bitwise the same for 1, 2 and 4 threads and in serially lowered code, and
float32 sums stay at least as accurate as numpy's."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import parallel_loops
from funcjax.backend.llvm.program import LoweredModule


def _same_for_any_threads(threads, fn, *args):
    """``fn``'s results on 1, 2 and 4 threads and lowered without parallel loops: bitwise
    equal. Returns them."""
    f = funcjax.jit(fn)
    runs = []
    for n in (1, 2, 4):
        threads(n)
        runs.append([np.asarray(o) for o in funcjax.tree_util.tree_leaves(f(*args))])
    with parallel_loops.serial():
        runs.append([np.asarray(o) for o in funcjax.tree_util.tree_leaves(
            funcjax.jit(lambda *a: fn(*a))(*args))])
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()
    return runs[0]


def _parallel(fn, *args):
    closed = funcjax.make_jaxpr(fn)(*args)
    return parallel_loops.PARALLEL_FOR in LoweredModule(closed, "probe").ir_text


@pytest.mark.parametrize("shape", [(70_001,), (300, 257), (3, 1, 40_000), (2, 9000, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_sums_equal_for_any_thread_count(threads, x64, shape, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) + 0.5).astype(dtype)

    def fn(x):
        return jnp.sum(x * x), jnp.mean(x), jnp.sum(x, axis=tuple(range(x.ndim)),
                                                     keepdims=True)
    assert _parallel(fn, x)
    squares, mean, keep = _same_for_any_threads(threads, fn, x)
    assert squares.dtype == dtype
    wide = x.astype(np.float64)
    for got, want, ours in ((squares, np.sum(wide * wide), np.sum(x * x)),
                            (mean, np.mean(wide), np.mean(x)),
                            (keep.reshape(()), np.sum(wide), np.sum(x))):
        # at numpy's accuracy or better (numpy: pairwise float32 sums)
        err, np_err = abs(float(got) - want), abs(float(ours) - want)
        assert err <= max(2 * np_err, abs(want) * np.finfo(dtype).eps * 8), (err, np_err)


def test_small_full_sums_are_not_chunked():
    x = np.ones(1000, np.float32)
    assert not _parallel(lambda x: jnp.sum(x * x), x)


def test_full_sum_in_a_scan_body_equals_top_level(threads):
    """Chunks depend on the shape only: the inline loop in a loop body adds the same."""
    x = np.random.default_rng(1).standard_normal(50_000).astype(np.float32)

    def body(c, _):
        return c, jnp.sum(c * c)
    threads(2)
    _, ys = funcjax.jit(lambda x: funcjax.lax.scan(body, x, None, length=2))(x)
    top = funcjax.jit(lambda x: jnp.sum(x * x))(x)
    assert np.asarray(ys)[0].tobytes() == np.asarray(top).tobytes()


@pytest.mark.parametrize("shape,axes", [((4096, 40), (0,)), ((3, 2000, 17), (1,)),
                                        ((600, 5, 64), (0, 1)), ((1, 9000, 8), (0, 1))])
def test_reductions_keeping_the_last_axis(threads, shape, axes):
    """Chunks of rows accumulate into partial rows combined in order: the same for any
    thread count; sums as accurate as numpy's row-by-row ones."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) + 0.25).astype(np.float32)
    ints = rng.integers(-50, 50, shape).astype(np.int32)

    def fn(x, i):
        return (jnp.sum(x, axis=axes), jnp.mean(x ** 2, axis=axes), jnp.max(x, axis=axes),
                jnp.min(x * 2, axis=axes), jnp.sum(i, axis=axes), jnp.prod(1 + x * 1e-3,
                                                                          axis=axes))
    assert _parallel(fn, x, ints)
    total, mean, top, low, isum, prod = _same_for_any_threads(threads, fn, x, ints)
    wide = x.astype(np.float64)
    for got, want, ours in ((total, wide.sum(axes), x.sum(axes)),
                            (mean, (wide ** 2).mean(axes), (x ** 2).mean(axes))):
        err, np_err = np.abs(got - want).max(), np.abs(ours - want).max()
        assert err <= max(1.5 * np_err, np.abs(want).max() * 1e-6), (err, np_err)
    np.testing.assert_array_equal(top, x.max(axes))
    np.testing.assert_array_equal(low, (x * 2).min(axes))
    np.testing.assert_array_equal(isum, ints.sum(axes))
    np.testing.assert_allclose(prod, np.prod(1 + wide * 1e-3, axes), rtol=1e-5)


def test_other_full_reductions(threads, x64):
    """max, min, prod, integer and bool reductions over every axis, and float16 sums, are
    chunked too: the same for any thread count, and right."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 9001)).astype(np.float32)
    x[3, 4567] = 9.5
    i = rng.integers(-1000, 1000, 70_001).astype(np.int64)
    h = rng.standard_normal(40_000).astype(np.float16)

    def fn(x, i, h):
        return (jnp.max(x), jnp.min(x * 2), jnp.prod(1 + x * 1e-4), jnp.sum(i), jnp.max(i),
                jnp.all(x < 9), jnp.any(x > 9), jnp.sum(h), jnp.max(h))
    assert _parallel(lambda x: jnp.max(x), x)
    top, low, prod, isum, imax, all_, any_, hsum, hmax = _same_for_any_threads(
        threads, fn, x, i, h)
    assert top == 9.5 and low == (x * 2).min() and imax == i.max()
    assert isum == i.sum() and not all_ and any_
    terms = 1 + x * np.float32(1e-4)  # float32 products drift as numpy's (main: same)
    np.testing.assert_allclose(prod, np.prod(terms.astype(np.float64)), rtol=1e-3)
    assert hsum.dtype == np.float16 and hmax == h.max()
    np.testing.assert_allclose(float(hsum), h.astype(np.float64).sum(), rtol=2e-3, atol=0.5)
