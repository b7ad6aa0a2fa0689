"""Parallel tasks (``backend/llvm/parallel_tasks``): independent matrix products of a program
run at once when OpenBLAS is on one thread. Results are bitwise those of the program lowered
without tasks, whatever ran in parallel; dependent products, donated outputs, small products
and serial lowering form no group; several Python threads and pmap devices share the pool."""

import ctypes
import re

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import blas, dot_layout, parallel_loops, parallel_tasks
from funcjax.backend.llvm.program import LoweredModule, needs_unroller
from funcjax.ops.lapack import library_path

from .helpers import call_from_threads

# (not blas.available(): loading numpy's OpenBLAS into the global namespace before scipy.linalg
# is imported breaks scipy's LAPACK for the rest of the process)
pytestmark = pytest.mark.skipif(library_path() is None, reason="needs numpy's OpenBLAS")


def _openblas():
    lib = ctypes.CDLL(library_path())
    return lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_


@pytest.fixture
def small_tasks(monkeypatch, threads):
    """Every product that calls BLAS is a task (small shapes keep the tests fast), and
    OpenBLAS stays on one thread while ``threads(n)`` sizes the pool (the configuration in
    which groups run in parallel). (A tiny product lowered to generated loops would be a task
    too, but its reassociated sums may vectorise differently in a task's function than
    inline: still the same bits on every thread count, not those of the program lowered
    without tasks.)"""
    monkeypatch.setattr(parallel_tasks, "TASK_MIN_FLOPS", 2 * dot_layout.BLAS_MIN_FLOPS)
    monkeypatch.setattr(parallel_tasks, "enabled", True)
    monkeypatch.setattr(blas, "use_threads", lambda n: None)
    get, put = _openblas()
    before = get()
    put(1)
    yield threads
    put(before)


def _calls(fn, *args):
    """The task counts of ``fn``'s groups: (tasks when parallel, products) per group (a lone
    product split into row blocks has one product)."""
    closed = funcjax.make_jaxpr(fn)(*args)
    text = LoweredModule(closed, "probe").ir_text
    pattern = rf'call void @"{parallel_tasks.PARALLEL_TASKS}"\(.*, i64 (\d+), .*, i64 (\d+)\)'
    return [tuple(map(int, m)) for m in re.findall(pattern, text)]


def _groups(fn, *args):
    """The number of groups of several products in ``fn``."""
    return sum(products > 1 for _, products in _calls(fn, *args))


def _leaves(tree):
    return [np.asarray(o) for o in funcjax.tree_util.tree_leaves(tree)]


def _same_as_one_thread(threads, fn, *args):
    """``fn``'s results on 1, 2 and 3 threads, and from code lowered without tasks on one
    thread: all bitwise equal. Returns them."""
    f = funcjax.jit(fn)
    runs = []
    for n in (1, 2, 3, 2):
        threads(n)
        runs.append(_leaves(f(*args)))
    threads(1)
    parallel_tasks.enabled = False
    try:
        runs.append(_leaves(funcjax.jit(lambda *a: fn(*a))(*args)))
    finally:
        parallel_tasks.enabled = True  # (the fixture restores the setting after the test)
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            np.testing.assert_array_equal(a, b)
    return runs[0]


def _data(*shapes, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_products_run_as_tasks(small_tasks, dtype, request):
    """``dW = x^T g`` and ``dx = g W^T``: one group, results of one thread."""
    if dtype == np.float64:
        request.getfixturevalue("x64")
    x, g, w = _data((96, 64), (96, 80), (64, 80), dtype=dtype)

    def fn(x, g, w):
        return x.T @ g, g @ w.T
    assert _groups(fn, x, g, w) == 1
    dw, dx = _same_as_one_thread(small_tasks, fn, x, g, w)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, g.astype(np.float64) @ w.T, rtol=tol, atol=tol)


def test_lone_products_run_as_row_blocks(small_tasks):
    """A product with no partner runs as row blocks of its output, its lhs read in place: by
    row when the lhs rows are its leading axis, with gemm's transposed flag when the lhs is a
    transpose (``x.T @ g``), in the blocks as in the whole product. Same bits on 1 thread (the
    whole product) and on 2 and 3 (the blocks), for this OpenBLAS."""
    x, w, g = _data((100, 72), (72, 88), (100, 88), seed=9)
    closed = funcjax.make_jaxpr(lambda x, g: x.T @ g)(x, g)
    flags = re.findall(r"scipy_cblas_sgemm64_\"?\(i32 101, i32 (\d+)",
                       LoweredModule(closed, "probe").ir_text)
    assert len(flags) == 3 and set(flags) == {"112"}  # the whole product and two blocks

    def fn(x, w, g):
        return jnp.tanh(x @ w), x.T @ g
    assert _calls(lambda x, w: x @ w, x, w) == [(2, 1)]
    assert _calls(lambda x, g: x.T @ g, x, g) == [(2, 1)]
    assert _calls(lambda x, w: x[:31] @ w, x, w) == []  # too few rows for two blocks
    closed = funcjax.make_jaxpr(lambda x, w: jnp.tanh(x @ w))(x, w)  # blocks repeat the gemm
    assert not needs_unroller(closed, LoweredModule(closed, "probe").ir_text)
    h, dw = _same_as_one_thread(small_tasks, fn, x, w, g)
    np.testing.assert_allclose(h, np.tanh(x.astype(np.float64) @ w), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, x.T.astype(np.float64) @ g, rtol=1e-4, atol=1e-4)


def test_partner_operands_move_before_the_group(small_tasks):
    """The second product's operand is computed between the two products in program order;
    it moves before the first, and the values are unchanged."""
    x, w1, w2 = _data((64, 96), (96, 72), (96, 72), seed=1)

    def fn(x, w1, w2):
        a = jnp.tanh(x @ w1)
        h = jnp.exp(-x * x) + a.sum()  # reads the first product: the partner must not move
        b = (x * 2.0 + 1.0) @ w2          # its operand moves before the first product
        return a, h, b
    assert _groups(fn, x, w1, w2) == 1
    a, h, b = _same_as_one_thread(small_tasks, fn, x, w1, w2)
    np.testing.assert_allclose(b, (x * 2 + 1).astype(np.float64) @ w2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(a, np.tanh(x.astype(np.float64) @ w1), rtol=1e-5, atol=1e-5)


def test_groups_of_three(small_tasks, monkeypatch):
    """Three independent products in one group (the third needs the second's operand, not
    its result), and a fourth that reads the first stays out."""
    monkeypatch.setattr(parallel_tasks, "GROUP_SIZE", 3)
    x, w1, w2, w3 = _data((64, 96), (96, 72), (96, 72), (96, 72), seed=8)

    def fn(x, w1, w2, w3):
        a = x @ w1
        b = jnp.sin(x) @ w2
        c = jnp.tanh(jnp.sin(x) @ w3)  # (``+ 1.0`` would make it an accumulating product)
        d = a.T @ b
        return a, b, c, d
    assert (3, 3) in _calls(fn, x, w1, w2, w3) and _groups(fn, x, w1, w2, w3) == 1
    a, b, c, d = _same_as_one_thread(small_tasks, fn, x, w1, w2, w3)
    np.testing.assert_allclose(c, np.tanh(np.sin(x.astype(np.float64)) @ w3), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(d, a.T.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


def test_dependent_products_form_no_group(small_tasks):
    x, w1, w2 = _data((64, 96), (96, 96), (96, 96), seed=2)

    def chained(x, w1, w2):
        return jnp.tanh(x @ w1) @ w2
    assert _groups(chained, x, w1, w2) == 0
    _same_as_one_thread(small_tasks, chained, x, w1, w2)


def test_size_and_balance_rules(monkeypatch):
    """Below ``TASK_MIN_FLOPS`` or with a partner far smaller, products stay lone calls;
    ``serial()`` lowers without groups."""
    monkeypatch.setattr(parallel_tasks, "enabled", True)
    x, w, v = _data((128, 512), (512, 512), (512, 8), seed=3)  # lowered, never run

    def two(x, w, v):
        return x @ w, x @ v
    assert _groups(lambda x, w: (x @ w, x @ w.T), x, w) == 1   # 67 MFLOP each
    assert _groups(two, x, w, v) == 0                          # 67 and 1 MFLOP
    assert _groups(lambda x, w: (x[:16] @ w, x[16:32] @ w.T), x, w) == 0  # 8 MFLOP each
    with parallel_loops.serial():
        assert _groups(lambda x, w: (x @ w, x @ w.T), x, w) == 0


def test_tasks_only_when_they_can_run_in_parallel(threads, monkeypatch):
    """By default tasks are lowered only when funcjax's pool has several threads and OpenBLAS
    one (``funcjax_num_threads`` None, OpenBLAS on one thread): otherwise every product would
    run whole anyway."""
    x, w = _data((128, 512), (512, 512), seed=10)

    def pair(x, w):
        return x @ w, x @ w.T
    get, put = _openblas()
    before = get()
    try:
        threads(2)
        assert not parallel_tasks.usable() and _groups(pair, x, w) == 0
        threads(None)
        put(2)
        assert not parallel_tasks.usable()
        put(1)
        cores = parallel_loops.threads_for(None)
        assert parallel_tasks.usable() == (cores > 1)
        assert _groups(pair, x, w) == (cores > 1)
    finally:
        put(before)


def test_donated_output_is_never_a_task(small_tasks):
    """An output computed over a donated input's buffer stays out of groups (the other task
    may still be reading that input)."""
    a, b, c = _data((64, 64), (64, 64), (64, 64), seed=4)

    def fn(a, b, c):
        return b @ c, a @ c.T   # the first may take a's memory; the second reads a
    want = [b.astype(np.float64) @ c, a.astype(np.float64) @ c.T]
    small_tasks(2)
    for _ in range(3):
        got = funcjax.jit(fn, donate_argnums=0)(funcjax.device_put(a), b, c)
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-4)


def test_mlp_gradient_step_equals_one_thread(small_tasks):
    """A training step of a 3-layer MLP (groups in its backward pass)."""
    rng = np.random.default_rng(5)
    sizes = [(48, 64), (64, 64), (64, 10)]
    params = [(rng.standard_normal(s).astype(np.float32) * 0.2, np.zeros(s[1], np.float32))
              for s in sizes]
    x, y = _data((32, 48), (32, 10), seed=6)

    def loss(params, x, y):
        for w, b in params[:-1]:
            x = jnp.maximum(x @ w + b, 0.0)
        w, b = params[-1]
        return jnp.mean((x @ w + b - y) ** 2)

    def step(params, x, y):
        g = funcjax.grad(loss)(params, x, y)
        return [(w - 0.1 * gw, b - 0.1 * gb) for (w, b), (gw, gb) in zip(params, g)]
    assert _groups(step, params, x, y) >= 1
    got = _same_as_one_thread(small_tasks, step, params, x, y)
    eager = _leaves(step(params, x, y))
    for a, b in zip(got, eager):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_python_threads_and_pmap_devices(small_tasks):
    """Groups in several Python threads at once (the pool is busy for all but one: they run
    serially), and a program with groups called from a host callback inside pmap devices:
    the same bits every time."""
    small_tasks(2)
    x, g, w = _data((96, 64), (96, 80), (64, 80), seed=7)
    f = funcjax.jit(lambda x, g, w: (x.T @ g, g @ w.T))
    want = _leaves(f(x, g, w))
    results = call_from_threads(lambda: _leaves(f(x, g, w)))
    n = funcjax.device_count()

    def host(v):
        return np.asarray(f(v, g, w)[1])
    out = funcjax.pmap(lambda v: funcjax.pure_callback(
        host, funcjax.ShapeDtypeStruct((96, 64), np.float32), v))(np.stack([x] * n))
    results.append([want[0], np.asarray(out)[-1]])
    assert len(results) == 61
    for r in results:
        for a, b in zip(r, want):
            np.testing.assert_array_equal(a, b)


def test_runtime_runs_tasks_in_parallel_only_with_one_blas_thread(threads):
    """The runtime called with Python dispatchers: with OpenBLAS on one thread and a pool of
    several, every task runs once as its own block; with OpenBLAS threading each product or
    one pool thread, the whole dispatcher runs instead (one call), and OpenBLAS's count is
    never changed."""
    engine = parallel_tasks.bind()
    get, put = _openblas()
    run = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                           ctypes.c_void_p, ctypes.c_int64)(
        engine.address(parallel_tasks.PARALLEL_TASKS))
    seen = []
    chunk_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
    chunk = chunk_type(lambda table, lo, hi: seen.append((lo, hi, get())))
    whole = chunk_type(lambda table, lo, hi: seen.append(("whole", lo, hi, get())))
    before = get()
    try:
        for pool, blas_threads in ((1, 1), (2, 1), (2, 2)):
            threads(pool)
            put(blas_threads)
            seen.clear()
            run(ctypes.cast(chunk, ctypes.c_void_p), None, 3, ctypes.cast(whole, ctypes.c_void_p),
                1)
            parallel = pool > 1 and blas_threads == 1
            assert sorted(seen) == ([(k, k + 1, 1) for k in range(3)] if parallel
                                    else [("whole", 0, 1, blas_threads)])
            assert get() == blas_threads
    finally:
        put(before)
