"""Parallel loops inside control flow (``parallel_loops._capture``): the large loops of
``scan``, ``fori_loop``/``while_loop`` bodies and ``cond`` branches run on several threads,
reading the enclosing iteration's values (its counter, the rows of the scanned-over
operands, scalars computed before them) from the job's environment. Results are bitwise
those of 1 thread, and match code lowered without parallel loops, eager funcjax and a
numpy loop; loops inside pmap devices stay serial."""

import re
import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import parallel_loops

from .helpers import call_from_threads

N = 20_003  # above MIN_ELEMENTS, not a multiple of any block


def _leaves(tree):
    return [np.asarray(o) for o in funcjax.tree_util.tree_leaves(tree)]


def _same_bits(runs):
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()


def _threaded(threads, fn, *args, loops=1):
    """``fn``'s jitted results on 1, 2 and 3 threads: bitwise equal. On 2 and 3 threads at
    least ``loops`` parallel loops per call ran on several threads; on 1 none did. Code
    lowered without parallel loops (the loop inline in the body) agrees to rounding only:
    there LLVM may see the counter as a constant (a fully unrolled ``fori_loop``) and
    contract ``a * k + b`` into an FMA differently. Returns the results."""
    f = funcjax.jit(fn)
    runs = []
    for n in (1, 2, 3):
        threads(n)
        before = parallel_loops.threaded_loops()
        runs.append(_leaves(f(*args)))
        ran = parallel_loops.threaded_loops() - before
        assert (ran >= loops) if n > 1 else ran == 0, (n, ran)
    _same_bits(runs)
    with parallel_loops.serial():
        inline = _leaves(funcjax.jit(lambda *a: fn(*a))(*args))
    for a, b in zip(runs[0], inline):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    return runs[0]


def _close(got, want, rtol=2e-5, atol=1e-5):
    for g, w in zip(got, _leaves(want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _step(c, x):
    return jnp.tanh(c) * 0.5 + jnp.sin(c) * x, c * 2.0 - x


def _np_step(c, x):
    return np.tanh(c) * np.float32(0.5) + np.sin(c) * x, c * np.float32(2.0) - x


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_body_loops_threaded(threads, reverse):
    rng = np.random.default_rng(0)
    c0 = rng.standard_normal(N).astype(np.float32)
    xs = rng.uniform(0.5, 1.5, (4, N)).astype(np.float32)

    def fn(c, xs):
        return lax.scan(_step, c, xs, reverse=reverse)
    got = _threaded(threads, fn, c0, xs, loops=4)
    _close(got, fn(c0, xs))  # eager
    c, ys = c0, [None] * 4
    for t in (reversed(range(4)) if reverse else range(4)):
        c, ys[t] = _np_step(c, xs[t])
    _close(got, (c, np.stack(ys)))


def test_fori_loop_reads_the_counter(threads):
    c0 = np.linspace(-2, 2, N, dtype=np.float32)

    def fn(c):
        return lax.fori_loop(0, 3, lambda k, c: jnp.cos(c) * (k + 1).astype(jnp.float32)
                             + 0.25 * c, c)
    got = _threaded(threads, fn, c0, loops=3)
    want = c0
    for k in range(3):
        want = np.cos(want) * np.float32(k + 1) + np.float32(0.25) * want
    _close(got, [want])
    _close(got, [fn(c0)])


def test_while_loop_with_reductions(threads):
    """The predicate's and the body's sums run as parallel chunked sums: bitwise equal."""
    c0 = np.random.default_rng(1).standard_normal((40, 1001)).astype(np.float32) * 3

    def fn(c):
        def body(s):
            c, k = s
            c = c * 0.7 - jnp.mean(c, axis=0) * 0.1 + jnp.sum(jnp.abs(c)) * 1e-7
            return c, k + 1
        return lax.while_loop(lambda s: jnp.sum(s[0] * s[0]) > 1000.0, body, (c, 0))
    got = _threaded(threads, fn, c0, loops=2)
    c, k = c0.astype(np.float64), 0
    while np.sum(c * c) > 1000.0:
        c = c * 0.7 - np.mean(c, axis=0) * 0.1 + np.sum(np.abs(c)) * 1e-7
        k += 1
    assert got[1] == k
    np.testing.assert_allclose(got[0], c, rtol=1e-4, atol=1e-5)
    _close(got, fn(c0))


@pytest.mark.parametrize("which", [0, 1])
def test_cond_branches_threaded(threads, which):
    x = np.random.default_rng(2).standard_normal(N).astype(np.float32)

    def fn(i, x):
        return lax.switch(i, [lambda x: jnp.tanh(x) * 2.0, lambda x: jnp.exp(-x * x) + x], x)
    got = _threaded(threads, fn, np.int32(which), x)
    want = np.tanh(x) * 2 if which == 0 else np.exp(-x * x) + x
    _close(got, [want])


def test_row_reductions_and_earlier_scalars_in_a_scan(threads):
    """Reductions into each output element and a scalar computed earlier in the iteration
    (the row's maximum) read by a later large loop."""
    rng = np.random.default_rng(3)
    c0 = rng.standard_normal((300, 67)).astype(np.float32)
    xs = rng.standard_normal((3, 300, 67)).astype(np.float32)

    def step(c, x):
        m = jnp.max(c)
        c = jnp.exp(c - m) + x * 0.1
        return c - jnp.max(c, axis=-1, keepdims=True), (jnp.sum(c, axis=-1), m)

    def fn(c, xs):
        return lax.scan(step, c, xs)
    got = _threaded(threads, fn, c0, xs, loops=3)
    _close(got, fn(c0, xs), rtol=1e-5, atol=1e-6)
    c, sums, maxes = c0.astype(np.float64), [], []
    for x in xs:
        m = c.max()
        c = np.exp(c - m) + x * 0.1
        sums.append(c.sum(-1))
        maxes.append(m)
        c = c - c.max(-1, keepdims=True)
    _close(got, (c, np.stack(sums), np.stack(maxes)), rtol=1e-4, atol=1e-5)


def test_dynamic_slice_at_the_counter(threads):
    """The loop reads a window of a large operand that starts at the iteration counter."""
    big = np.random.default_rng(4).standard_normal(N + 8).astype(np.float32)

    def fn(big):
        def body(k, acc):
            return acc + jnp.sin(lax.dynamic_slice(big, (k,), (N,))) * 0.5
        return lax.fori_loop(0, 8, body, jnp.zeros(N, jnp.float32))
    got = _threaded(threads, fn, big, loops=8)
    want = np.zeros(N, np.float32)
    for k in range(8):
        want = want + np.sin(big[k:k + N]) * np.float32(0.5)
    _close(got, [want])


def test_grad_of_a_scan(threads):
    rng = np.random.default_rng(5)
    c0 = rng.standard_normal(N).astype(np.float32)
    xs = rng.uniform(0.5, 1.5, (3, N)).astype(np.float32)

    def loss(c, xs):
        c, ys = lax.scan(_step, c, xs)
        return jnp.sum(c * c) + jnp.sum(ys)
    got = _threaded(threads, funcjax.grad(loss, argnums=(0, 1)), c0, xs, loops=3)
    _close(got, funcjax.grad(loss, argnums=(0, 1))(c0, xs), rtol=1e-4, atol=1e-4)
    # directional derivative against a central difference in float64
    d = rng.standard_normal(N)

    def loss64(c):
        out, total = c, 0.0
        for x in xs.astype(np.float64):
            total += np.sum(out * 2.0 - x)
            out = np.tanh(out) * 0.5 + np.sin(out) * x
        return np.sum(out * out) + total
    eps = 1e-6
    c64 = c0.astype(np.float64)
    fd = (loss64(c64 + eps * d) - loss64(c64 - eps * d)) / (2 * eps)
    np.testing.assert_allclose(np.dot(got[0].astype(np.float64), d), fd, rtol=1e-3)


def test_scan_inside_scan(threads):
    rng = np.random.default_rng(6)
    c0 = rng.standard_normal(N).astype(np.float32)
    xs = rng.uniform(0.5, 1.5, (2, 3, N)).astype(np.float32)

    def fn(c, xs):
        def outer(c, row):
            c, ys = lax.scan(_step, c, row)
            return jnp.tanh(c), ys[-1]
        return lax.scan(outer, c, xs)
    got = _threaded(threads, fn, c0, xs, loops=6)
    c, last = c0, []
    for row in xs:
        for x in row:
            c, y = _np_step(c, x)
        c = np.tanh(c)
        last.append(y)
    _close(got, (c, np.stack(last)))


def test_body_loop_is_outlined_with_an_environment():
    """The scan body's loop is a parallel loop whose job carries an environment (the
    buffer table and the row offset), not only the buffer table."""
    c0 = funcjax.ShapeDtypeStruct((N,), np.float32)
    xs = funcjax.ShapeDtypeStruct((4, N), np.float32)
    text = funcjax.jit(lambda c, xs: lax.scan(_step, c, xs)).lower(c0, xs).as_text("llvm")
    calls = re.findall(rf'call void @"{parallel_loops.PARALLEL_FOR}"\(.*', text)
    assert len(calls) >= 2 and any("%\"env" in call for call in calls)
    small = funcjax.ShapeDtypeStruct((1000,), np.float32)
    smalls = funcjax.ShapeDtypeStruct((4, 1000), np.float32)
    text = funcjax.jit(lambda c, xs: lax.scan(_step, c, xs)).lower(small, smalls).as_text(
        "llvm")
    assert parallel_loops.PARALLEL_FOR not in text  # small bodies stay inline


def test_python_threads_and_callbacks_share_the_pool(threads):
    """Several Python threads run a scan with threaded body loops at once, and a host
    callback inside a scan body runs another one: whoever finds the pool busy runs its loop
    serially; no deadlock, same values."""
    threads(2)
    rng = np.random.default_rng(10)
    c0 = rng.standard_normal(N).astype(np.float32)
    xs = rng.uniform(0.5, 1.5, (3, N)).astype(np.float32)
    inner = funcjax.jit(lambda c, xs: lax.scan(_step, c, xs)[0])
    want = np.asarray(inner(c0, xs))
    results = call_from_threads(lambda: np.asarray(inner(c0, xs)), threads=3, calls=5)
    for r in results:
        np.testing.assert_array_equal(r, want)

    def host(c):
        return np.asarray(inner(np.asarray(c), xs))

    def outer(c):
        def body(c, _):
            c = funcjax.pure_callback(host, funcjax.ShapeDtypeStruct(c.shape, c.dtype), c)
            return jnp.tanh(c), None
        return lax.scan(body, c, None, length=2)[0]
    f = funcjax.jit(outer)
    got = np.asarray(f(c0))
    threads(1)
    np.testing.assert_array_equal(got, np.asarray(f(c0)))
    mid = np.tanh(np.asarray(inner(c0, xs)))  # step 1: callback, tanh; step 2: callback
    np.testing.assert_allclose(got, np.tanh(np.asarray(inner(mid, xs))), rtol=1e-6, atol=1e-6)


def test_scan_loops_in_pmap_devices_run_serially(threads):
    threads(2)
    n = funcjax.device_count()
    c0 = np.random.default_rng(7).standard_normal((n, N)).astype(np.float32)
    xs = np.ones((n, 3, N), np.float32)

    def fn(c, xs):
        return lax.scan(_step, c, xs)[0]
    want = np.stack([np.asarray(funcjax.jit(fn)(c, x)) for c, x in zip(c0, xs)])
    results = []
    worker = threading.Thread(target=lambda: results.append(
        np.asarray(funcjax.pmap(fn)(c0, xs))), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "a loop inside pmap waited forever for the pool"
    np.testing.assert_array_equal(results[0], want)


def test_many_buffers_take_one_table(threads):
    """Past ``DIRECT_BUFFERS`` buffers the parts and the loop bodies take one table of
    pointers: the body loop of a scan reads its buffers from it."""
    rng = np.random.default_rng(8)
    scalars = [np.float32(v) for v in rng.uniform(0.5, 1.0, 70)]
    c0 = rng.standard_normal(N).astype(np.float32)

    def fn(c, *scalars):
        scale = sum(scalars[1:], scalars[0]) / len(scalars)
        return lax.scan(lambda c, _: (jnp.tanh(c) * scale + 0.1, None), c, None, length=3)[0]
    got = _threaded(threads, fn, c0, *scalars, loops=3)
    want, scale = c0, np.float32(sum(scalars[1:], scalars[0]) / np.float32(len(scalars)))
    for _ in range(3):
        want = np.tanh(want) * scale + np.float32(0.1)
    _close(got, [want])


@pytest.mark.parametrize("n", [7, N])
def test_carries_overwritten_in_place(threads, n):
    """Carries are written straight into their buffers when every read of the old value is
    at the element written; a swap, an old value also returned, a reversed or cumulative
    read and a window of the carry must still see the old values."""
    threads(2)
    rng = np.random.default_rng(9)
    a0, b0 = (rng.standard_normal(n).astype(np.float32) for _ in range(2))

    def body(s, x):
        a, b, c, d = s
        return (b, a, c[::-1] * 0.5 + x, jnp.cumsum(d) * 1e-3 + d[0]), (a + b, c)

    def fn(a, b, xs):
        carry, ys = lax.scan(body, (a, b, a * 2, b), xs)
        i, w = lax.while_loop(lambda s: s[0] < 3,
                              lambda s: (s[0] + 1, jnp.roll(s[1], 1) * 0.5 + s[1]), (0, a))

        def twice(k, s):  # one value for two carries
            v = s[0] * 0.5 + s[1]
            return v, v
        return carry, ys, w, lax.fori_loop(0, 3, twice, (a, b))
    xs = rng.standard_normal((3, n)).astype(np.float32)
    got = _leaves(funcjax.jit(fn)(a0, b0, xs))
    a, b, c, d = a0, b0, a0 * 2, b0
    sums, olds = [], []
    for x in xs:
        sums.append(a + b)
        olds.append(c)
        a, b, c, d = b, a, c[::-1] * np.float32(0.5) + x, np.cumsum(d) * np.float32(1e-3) + d[0]
    w = a0
    for _ in range(3):
        w = np.roll(w, 1) * np.float32(0.5) + w
    u, v = a0, b0
    for _ in range(3):
        u = v = u * np.float32(0.5) + v
    want = [a, b, c, d, np.stack(sums), np.stack(olds), w, u, v]
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)
