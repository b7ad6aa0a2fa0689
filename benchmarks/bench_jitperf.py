"""The jit-performance table of issue 12: numpy, funcjax.jit and JAX jit side by side.

    PYTHONPATH=. python benchmarks/bench_jitperf.py [--quick]

Every row of the issue's table at its sizes, plus ``sum(x*x)`` against ``np.dot(x, x)``.
JAX runs in a subprocess (``$FUNCJAX_JAX_PYTHON``, else ``/work/jaxenv/bin/python``), pinned
to one thread; funcjax and numpy's OpenBLAS get one thread too (``funcjax_num_threads``);
funcjax never imports jax. Times are the minimum over repeats
(the machine is shared: the minimum is the least noisy statistic); compare the ratios.

A second table (``--threads`` prints only it and the third) runs the large elementwise rows on
one and on two threads (``funcjax_num_threads``; ``backend/llvm/parallel_loops``) beside numpy,
the three interleaved call by call so that load changes hit them alike, and JAX with its default
threads. A third (``--tasks`` prints only it) runs the MLP step and the 2-layer gradient on one
thread, on two where OpenBLAS threads each product, and on every core with OpenBLAS on one
thread, without and with independent products as parallel tasks
(``backend/llvm/parallel_tasks``), interleaved, and JAX with its default threads.
``--blas-kernel`` runs the BLAS-bound rows on numpy's OpenBLAS instance, on a private Haswell
one and as "auto" routes them (``funcjax_blas_kernel``, ``backend/llvm/blas_kernel``), interleaved
call by call, beside numpy and JAX (one thread each; JAX before and after, min). ``--sgemm``
times float32 products of many shapes and layouts on funcjax's own kernel
(``backend/llvm/sgemm``) and on the Haswell instance, interleaved, in GFLOP/s (one thread).
``--chain`` times the 1e6 chain alone over many rounds; ``--output-reuse`` the 1e7 chain with a
fresh output, a pooled one and its input donated.
"""

import functools
import json
import sys
import time

import numpy as np
from common import best_seconds, jax_figures


class Lib:
    """The names a workload uses, from numpy, funcjax or jax."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "jax":
            import jax
            import jax.numpy as xp
            self.np, self.jit, self.grad, self.vmap = xp, jax.jit, jax.grad, jax.vmap
            self.value_and_grad, self.lax, self.nn = jax.value_and_grad, jax.lax, jax.nn
            self.ready = lambda out: jax.block_until_ready(out)
            self.put = jax.device_put
        elif kind == "funcjax":
            import funcjax
            import funcjax.numpy as xp
            self.np, self.jit, self.grad, self.vmap = xp, funcjax.jit, funcjax.grad, funcjax.vmap
            self.value_and_grad, self.lax, self.nn = (funcjax.value_and_grad, funcjax.lax,
                                                      funcjax.nn)
            self.ready = self.put = lambda out: out
            # a compile-time row compiles anew each time, as a new process would
            from funcjax.backend.llvm.compiler import forget_engines
            self.forget_compiled = forget_engines
        else:
            self.np, self.jit, self.ready, self.put = np, (lambda f: f), (lambda o: o), np.asarray


def _mlp(lib, params, x):
    for w, b in params[:-1]:
        x = lib.np.maximum(x @ w + b, 0.0)
    w, b = params[-1]
    return x @ w + b


def _loss(lib, params, x, y):
    return lib.np.mean((_mlp(lib, params, x) - y) ** 2)


def rows(quick):
    """name -> (build(lib) -> zero-argument callable or None, repeats)."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    x6 = rng.standard_normal(10**6).astype(f32)
    x7 = rng.standard_normal(10**7).astype(f32)
    big = rng.standard_normal((4096, 1024)).astype(f32)
    sizes = [(784, 512), (512, 512), (512, 10)]
    mlp = [(rng.standard_normal(s).astype(f32) * 0.05, np.zeros(s[1], f32)) for s in sizes]
    xb, yb = rng.standard_normal((128, 784)).astype(f32), rng.standard_normal((128, 10)).astype(f32)
    two = [(rng.standard_normal((1000, 1000)).astype(f32) * 0.03, np.zeros(1000, f32)),
           (rng.standard_normal((1000, 1)).astype(f32) * 0.03, np.zeros(1, f32))]
    x2, y2 = rng.standard_normal((128, 1000)).astype(f32), rng.standard_normal((128, 1)).astype(f32)
    small = [(rng.standard_normal((64, 64)).astype(f32) * 0.1, np.zeros(64, f32)),
             (rng.standard_normal((64, 1)).astype(f32) * 0.1, np.zeros(1, f32))]
    xs, ys = rng.standard_normal((256, 64)).astype(f32), rng.standard_normal((256, 1)).astype(f32)
    wh, h0 = rng.standard_normal((64, 64)).astype(f32) * 0.1, np.zeros(64, f32)
    x8 = np.arange(8, dtype=f32)
    mats = {n: (rng.standard_normal((n, n)).astype(f32), rng.standard_normal((n, n)).astype(f32))
            for n in (256, 512, 1024)}
    square = rng.standard_normal((1024, 1024)).astype(f32)
    small_batch = (rng.standard_normal((64, 16, 16)).astype(f32),
                   rng.standard_normal((64, 16, 16)).astype(f32))

    def elementwise(fn, x):
        def build(lib):
            f, a = lib.jit(lambda v: fn(lib, v)), lib.put(x)
            return lambda: lib.ready(f(a))
        return build

    def chain(lib, v):
        return lib.np.sin(v) * lib.np.exp(-v * v) + 0.5 * lib.np.tanh(v)

    def logsumexp(lib, v):
        if lib.kind == "numpy":
            m = v.max(axis=1, keepdims=True)
            return (m + np.log(np.exp(v - m).sum(axis=1, keepdims=True)))[:, 0]
        return lib.nn.logsumexp(v, axis=1)

    def needs_ad(make):
        return lambda lib: None if lib.kind == "numpy" else make(lib)

    def sgd(lib):
        def step(params, x, y):
            g = lib.grad(lambda p: _loss(lib, p, x, y))(params)
            return [(w - 0.01 * gw, b - 0.01 * gb) for (w, b), (gw, gb) in zip(params, g)]
        f, p, a, b = lib.jit(step), lib.put(mlp), lib.put(xb), lib.put(yb)
        return lambda: lib.ready(f(p, a, b))

    def two_layer(lib):
        def loss(params, x, y):
            (w1, b1), (w2, b2) = params
            return lib.np.mean((lib.np.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)
        f, p, a, b = lib.jit(lib.grad(loss)), lib.put(two), lib.put(x2), lib.put(y2)
        return lambda: lib.ready(f(p, a, b))

    def per_example(lib):
        def loss(params, x, y):
            return _loss(lib, params, x[None], y[None])
        f = lib.jit(lib.vmap(lib.grad(loss), in_axes=(None, 0, 0)))
        p, a, b = lib.put(small), lib.put(xs), lib.put(ys)
        return lambda: lib.ready(f(p, a, b))

    def scan(lib):
        def run(w, h):
            def body(h, _):
                h = lib.np.tanh(w @ h + 0.1)
                return h, None
            return lib.lax.scan(body, h, None, length=100)[0]
        f, w, h = lib.jit(run), lib.put(wh), lib.put(h0)
        return lambda: lib.ready(f(w, h))

    def dispatch(lib):
        f, a = lib.jit(lambda v: v * 2 + 1), lib.put(x8)
        return lambda: f(a)

    def compile_time(lib):
        def once():
            getattr(lib, "forget_compiled", lambda: None)()
            f = lib.jit(lib.value_and_grad(lambda p, x, y: _loss(lib, p, x, y)))  # a new function
            lib.ready(f(mlp, xb, yb))
        return once

    def matmul(n, product=lambda p, q: p @ q):
        def build(lib):
            f, a, b = lib.jit(product), lib.put(mats[n][0]), lib.put(mats[n][1])
            return lambda: lib.ready(f(a, b))
        return build

    def batched_small(lib):
        f, a, b = lib.jit(lambda p, q: p @ q), lib.put(small_batch[0]), lib.put(small_batch[1])
        return lambda: lib.ready(f(a, b))

    def sum_squares(lib):
        if lib.kind == "numpy":
            return lambda: np.dot(x7, x7)
        f, a = lib.jit(lambda v: lib.np.sum(v * v)), lib.put(x7)
        return lambda: lib.ready(f(a))

    table = {
        "tanh(x) f32 1e6": (elementwise(lambda lib, v: lib.np.tanh(v), x6), 20),
        "exp(x) f32 1e6": (elementwise(lambda lib, v: lib.np.exp(v), x6), 20),
        "sin(x) f32 1e6": (elementwise(lambda lib, v: lib.np.sin(v), x6), 20),
        "erf_inv(x) f32 1e6": (needs_ad(elementwise(lambda lib, v: lib.lax.erf_inv(v),
                                                    np.tanh(x6))), 10),
        "chain f32 1e6": (elementwise(chain, x6), 20),
        "chain f32 1e7": (elementwise(chain, x7), 5),
        "mean(x**2, axis=0) [4096,1024]": (elementwise(
            lambda lib, v: lib.np.mean(v ** 2, axis=0), big), 10),
        "logsumexp rows [4096,1024]": (elementwise(logsumexp, big), 10),
        "MLP SGD step B=128": (needs_ad(sgd), 10),
        "grad 2-layer n=1000": (needs_ad(two_layer), 10),
        "vmap(grad) B=256": (needs_ad(per_example), 20),
        "scan 100 tanh steps h=64": (needs_ad(scan), 20),
        "dispatch x*2+1 f32[8]": (dispatch, 2000),
        "compile value_and_grad(MLP)": (needs_ad(compile_time), 2 if quick else 3),
        "matmul 256": (matmul(256), 20), "matmul 512": (matmul(512), 10),
        "matmul 1024": (matmul(1024), 5),
        # a transposed operand (both products of a layer's backward pass), read in place
        "matmul 512 p @ q.T": (matmul(512, lambda p, q: p @ q.T), 10),
        "matmul 512 p.T @ q": (matmul(512, lambda p, q: p.T @ q), 10),
        "sum(x*x) f32 1e7 (numpy: np.dot)": (sum_squares, 10),
        "x.T + 0 f32[1024,1024]": (elementwise(lambda lib, v: v.T + 0.0, square), 20),
        "x.T + 0 f32[4096,1024]": (elementwise(lambda lib, v: v.T + 0.0, big), 10),
        "batched matmul 64 x 16x16": (batched_small, 50),
    }
    if quick:
        table.pop("chain f32 1e7")
    return table


def measure(kind, quick):
    lib = Lib(kind)
    out = {}
    for name, (build, repeat) in rows(quick).items():
        fn = build(lib)
        if fn is None:
            continue
        number = 1
        if name.startswith("dispatch"):
            repeat, number = 20, 200
        elif name.startswith("compile"):
            fn()  # the first compile of the process pays for LLVM/XLA start-up
        out[name] = best_seconds(fn, max(2, repeat // (3 if quick else 1)), True, number)
    return out


def thread_rows(quick):
    """name -> (fn(lib, v), input, repeats) of the threaded table."""
    rng = np.random.default_rng(0)
    x6 = rng.standard_normal(10**6).astype(np.float32)
    x7 = x6 if quick else rng.standard_normal(10**7).astype(np.float32)
    n7 = "1e6" if quick else "1e7"

    def chain(lib, v):
        return lib.np.sin(v) * lib.np.exp(-v * v) + 0.5 * lib.np.tanh(v)

    def logsumexp(lib, v):
        m = lib.np.max(v, axis=1, keepdims=True)
        return lib.np.log(lib.np.sum(lib.np.exp(v - m), axis=1)) + m[:, 0]
    big = rng.standard_normal((1024 if quick else 4096, 1024)).astype(np.float32)
    return {
        "chain f32 1e6": (chain, x6, 100),  # the 4x-numpy target: min of 100 calls
        f"chain f32 {n7}": (chain, x7, 10),
        f"exp(x) f32 {n7}": (lambda lib, v: lib.np.exp(v), x7, 10),
        f"x*2+1 f32 {n7}": (lambda lib, v: v * 2 + 1, x7, 10),
        f"logsumexp rows [{len(big)},1024]": (logsumexp, big, 10),
        f"mean(x**2, axis=0) [{len(big)},1024]": (
            lambda lib, v: lib.np.mean(v ** 2, axis=0), big, 10),
        f"sum(x*x) f32 {n7} (np: np.dot)": (sum_squares, x7, 10),
        "sum(chain) f32 1e6": (lambda lib, v: lib.np.sum(chain(lib, v)), x6, 30),
    }


# rows of ``rows()`` whose independent products run as parallel tasks (parallel_tasks)
TASK_ROWS = ("MLP SGD step B=128", "grad 2-layer n=1000")


def measure_tasks(quick):
    """The ``TASK_ROWS`` on funcjax: one thread; two with OpenBLAS threading each product
    (``funcjax_num_threads`` 2, no tasks); and a pool of every core with OpenBLAS on one
    thread (``funcjax_num_threads`` None, OpenBLAS set to 1) without and with parallel
    tasks. Interleaved call by call; min over repeats."""

    import funcjax
    from funcjax.backend.llvm import blas, parallel_tasks
    variants = {"1": (1, False), "blas": (2, False), "pool": (None, False),
                "tasks": (None, True)}  # key: (funcjax_num_threads, tasks)
    fj, table, out = Lib("funcjax"), rows(quick), {}
    for name in TASK_ROWS:
        build, repeat = table[name]
        runs = {}
        for key, (_, tasks) in variants.items():
            parallel_tasks.enabled = tasks
            runs[key] = build(fj)
            runs[key]()  # compiles now, with or without tasks
        parallel_tasks.enabled = None
        def setup(key):
            setting = variants[key][0]
            funcjax.config.update("funcjax_num_threads", setting)
            if setting is None:
                blas.use_threads(1)  # the pool takes every core, OpenBLAS one
        out[name] = best_interleaved(runs, 3 * repeat, setup)
    funcjax.config.update("funcjax_num_threads", 1)
    return out


def _ms(seconds):
    """A table cell: ``seconds`` in milliseconds, or a dash when there is no figure."""
    return f"{seconds * 1e3:8.3f}ms" if seconds else f"{'-':>10s}"


def _jax(quick, **options):
    """``common.jax_figures`` of this script's rows (``--quick`` passed on)."""
    return jax_figures(__file__, ["--quick"] if quick else [], **options)


def _ratio(top, bottom, width, digits):
    """A table cell: ``top / bottom``, or a dash when either figure is missing."""
    return f"{top / bottom:{width}.{digits}f}" if top and bottom else f"{'-':>{width}s}"


def best_interleaved(runs, rounds, setup):
    """The best time of each of ``runs`` (key -> function) over ``rounds`` rounds that call
    each once in turn, ``setup(key)`` first (interleaved: a noisy minute hurts all alike)."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for key, run in runs.items():
            setup(key)
            start = time.perf_counter()
            run()
            best[key] = min(best[key], time.perf_counter() - start)
    return best


def measure_jax_rows(quick, names):
    """JAX's times for the rows ``names`` (``--jax-tasks``, ``--jax-blas``)."""
    lib, table = Lib("jax"), rows(quick)
    return {name: best_seconds(table[name][0](lib), 3 * table[name][1], True)
            for name in names}


def print_tasks(quick):
    import os
    results = measure_tasks(quick)
    jax = _jax(quick, one_thread=False, flag="--jax-tasks")
    print(f"\nindependent products as parallel tasks (load average {os.getloadavg()[0]:.1f} at "
          "the end). OB2: 2 threads, OpenBLAS threads each product; pool: every core, "
          "OpenBLAS 1 thread, without / with tasks")
    print(f"{'workload':24s} {'fj 1 thr':>10s} {'OB2':>10s} {'pool':>10s} {'pool+tasks':>10s} "
          f"{'JAX':>10s} {'1thr/tasks':>10s} {'OB2/tasks':>9s} {'JAX/tasks':>9s}")
    for name, t in results.items():
        t_jax = jax.get(name)
        print(f"{name:24s} {_ms(t['1'])} {_ms(t['blas'])} {_ms(t['pool'])} {_ms(t['tasks'])} "
              f"{_ms(t_jax)} {t['1'] / t['tasks']:10.2f} {t['blas'] / t['tasks']:9.2f} "
              f"{_ratio(t_jax, t['tasks'], 9, 2)}")


# rows of ``rows()`` bound by gemm (``--blas-kernel``)
BLAS_ROWS = ("MLP SGD step B=128", "grad 2-layer n=1000", "vmap(grad) B=256", "matmul 256",
             "matmul 512", "matmul 1024", "matmul 512 p @ q.T", "matmul 512 p.T @ q")


def print_blas_kernel(quick):
    """``--blas-kernel``: the ``BLAS_ROWS`` with funcjax's gemm calls on numpy's OpenBLAS
    instance, on a private Haswell instance (``blas_kernel``) and as ``funcjax_blas_kernel``
    "auto" routes them (on Zen 4: funcjax's own float32 kernel, ``sgemm``, for large
    untransposed products), and numpy, interleaved call by call (the same compiled programs:
    the setting reroutes them), one thread each."""
    import os

    import funcjax
    from funcjax.backend.llvm import blas
    funcjax.config.update("funcjax_num_threads", 1)
    blas.use_threads(1)
    jax = [_jax(quick, flag="--jax-blas")]
    fj, plain, table, out = Lib("funcjax"), Lib("numpy"), rows(quick), {}
    settings = {"fj numpy kernel": "numpy", "fj Haswell": "Haswell", "fj auto": "auto"}
    for name in BLAS_ROWS:
        build, repeat = table[name]
        run, plain_run = build(fj), build(plain)
        runs = dict.fromkeys(settings, run)
        if plain_run is not None:
            runs["numpy"] = plain_run
        # blas.route is what config.update("funcjax_blas_kernel", ...) does, without the
        # listeners that drop jit's generated entries on any flag change
        out[name] = best_interleaved(runs, 3 * repeat + 1,
                                     lambda key: blas.route(settings.get(key, "auto")))
    blas.route()
    jax.append(_jax(quick, flag="--jax-blas"))
    print(f"\nBLAS kernel (load average {os.getloadavg()[0]:.1f} at the end): funcjax's gemm on "
          f"numpy's OpenBLAS ({blas_kernel_name('numpy')}), on a private Haswell instance and "
          f"as 'auto' routes it ({blas_kernel_name('auto')})")
    print(f"{'workload':24s} {'numpy':>10s} {'fj np-kern':>10s} {'fj Haswell':>10s} "
          f"{'fj auto':>10s} {'JAX':>10s} {'np-k/JAX':>8s} {'Hasw/JAX':>8s} {'auto/JAX':>8s} "
          f"{'auto/Hasw':>9s}")
    for name, t in out.items():
        t_jax = min((j[name] for j in jax if name in j), default=None)
        print(f"{name:24s} {_ms(t.get('numpy'))} {_ms(t['fj numpy kernel'])} "
              f"{_ms(t['fj Haswell'])} {_ms(t['fj auto'])} {_ms(t_jax)} "
              f"{_ratio(t['fj numpy kernel'], t_jax, 8, 2)} "
              f"{_ratio(t['fj Haswell'], t_jax, 8, 2)} {_ratio(t['fj auto'], t_jax, 8, 2)} "
              f"{t['fj auto'] / t['fj Haswell']:9.3f}")


# (m, n, k) of ``--sgemm``: the square rows, an MLP's layers, few rows, short k
SGEMM_SHAPES = ((256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (128, 512, 784),
                (128, 512, 512), (784, 512, 128), (300, 300, 300), (4, 256, 256),
                (16, 512, 512), (32, 1024, 1024), (1024, 1024, 32))
SGEMM_LAYOUTS = {"p @ q": (lambda p, q: p @ q, False, False),
                 "p.T @ q": (lambda p, q: p.T @ q, True, False),
                 "p @ q.T": (lambda p, q: p @ q.T, False, True)}


def print_sgemm(quick):
    """``--sgemm``: the same compiled float32 products on funcjax's own kernel
    (``funcjax_blas_kernel`` "funcjax") and on the private Haswell instance, interleaved call
    by call, one thread; GFLOP/s and the ratio of times."""
    import funcjax
    from funcjax.backend.llvm import blas
    if not blas.available() or not blas.own_supported():
        print("--sgemm: funcjax's own float32 gemm needs numpy's OpenBLAS and AVX-512")
        return
    funcjax.config.update("funcjax_num_threads", 1)
    blas.use_threads(1)
    rng = np.random.default_rng(0)
    print(f"\n{'product':8s} {'m x n x k':>16s} {'funcjax GF/s':>12s} {'Haswell GF/s':>12s} "
          f"{'fj/Hasw':>8s}")
    for name, (product, trans_a, trans_b) in SGEMM_LAYOUTS.items():
        for m, n, k in SGEMM_SHAPES[:4] if quick else SGEMM_SHAPES:
            p = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
            q = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
            f, a, b = funcjax.jit(product), funcjax.numpy.asarray(p), funcjax.numpy.asarray(q)
            run = functools.partial(f, a, b)  # (funcjax returns once the product is done)
            repeat = max(3, int(3e8 / (2 * m * n * k)))
            best = best_interleaved({"funcjax": run, "Haswell": run}, 3 * repeat + 1,
                                    lambda key: blas.route(key))
            gflops = {key: 2 * m * n * k / t / 1e9 for key, t in best.items()}
            print(f"{name:8s} {f'{m}x{n}x{k}':>16s} {gflops['funcjax']:12.1f} "
                  f"{gflops['Haswell']:12.1f} {best['funcjax'] / best['Haswell']:8.3f}")
    blas.route()


def blas_kernel_name(setting):
    """The kernels a setting gives float32 and float64 products of 512^3."""
    from funcjax.backend.llvm import blas
    blas.route(setting)
    names = ", ".join(f"{d} {'/'.join(blas.kernel(d, 512, 512, 512))}"
                      for d in ("float32", "float64"))
    blas.route()
    return names


def sum_squares(lib, v):
    """``sum(x*x)``; numpy's figure is ``np.dot(x, x)`` (the issue's target)."""
    return np.dot(v, v) if lib.kind == "numpy" else lib.np.sum(v * v)


def elementwise_call(lib, fn, x):
    f, a = lib.jit(lambda v: fn(lib, v)), lib.put(x)
    return lambda: lib.ready(f(a))


def measure_jax_threads(quick):
    lib = Lib("jax")
    out = {}
    for name, (fn, x, repeat) in thread_rows(quick).items():
        out[name] = best_seconds(elementwise_call(lib, fn, x), repeat, True)
    return out


def measure_threads(quick, only=None, rounds=None):
    """numpy, funcjax on 1 thread and on 2, interleaved call by call; min over repeats
    (``only``: that row alone, ``rounds`` times)."""

    import funcjax
    fj, plain = Lib("funcjax"), Lib("numpy")
    out = {}
    for name, (fn, x, repeat) in thread_rows(quick).items():
        if only is not None and name != only:
            continue
        repeat = rounds or repeat
        runs = {"numpy": elementwise_call(plain, fn, x), 1: elementwise_call(fj, fn, x)}
        runs[2] = runs[1]
        out[name] = best_interleaved(  # the first round warms up (compiles)
            runs, repeat + 1,
            lambda key: funcjax.config.update("funcjax_num_threads", 2 if key == 2 else 1))
    funcjax.config.update("funcjax_num_threads", 1)
    return out


def print_threads(quick):
    import os
    results = measure_threads(quick)
    jax = _jax(quick, one_thread=False, flag="--jax-threads")
    print(f"\nthreads (load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"{'workload':34s} {'numpy':>10s} {'fj 1 thr':>10s} {'fj 2 thr':>10s} "
          f"{'JAX':>10s} {'1thr/2thr':>9s} {'np/fj2':>7s} {'JAX/fj2':>7s}")
    for name, t in results.items():
        t_jax = jax.get(name)
        print(f"{name:34s} {_ms(t['numpy'])} {_ms(t[1])} {_ms(t[2])} {_ms(t_jax)} "
              f"{t[1] / t[2]:9.2f} {t['numpy'] / t[2]:7.2f} {_ratio(t_jax, t[2], 7, 2)}")


def print_chain(quick):
    """``--chain``: the 1e6 chain row alone (numpy / 1 thread / 2 threads), 300 rounds."""
    import os
    t = measure_threads(quick, "chain f32 1e6", 300)["chain f32 1e6"]
    print(f"chain f32 1e6, min of 300 interleaved rounds (load {os.getloadavg()[0]:.1f}): "
          f"numpy {t['numpy'] * 1e3:.3f} ms, fj 1 thread {t[1] * 1e3:.3f} ms, fj 2 "
          f"threads {t[2] * 1e3:.3f} ms; numpy / fj 1 thr {t['numpy'] / t[1]:.2f}, "
          f"numpy / fj 2 thr {t['numpy'] / t[2]:.2f}, 1 thr / 2 thr {t[1] / t[2]:.2f}")


def print_output_reuse(quick):
    """``--output-reuse``: the 1e7 chain on 1 and 2 threads with a fresh output per call (the
    output pool off: a new 40 MB array, page-faulted and zeroed by the kernel), with the
    output pool on (the default: the freed output of the last call is taken again), and with
    the input donated (its buffer becomes the output), interleaved, min of 15 rounds; the
    pool's block and the donated input are made outside the timing."""
    import os

    import funcjax
    import funcjax.numpy as jnp
    name = "chain f32 1e6" if quick else "chain f32 1e7"
    fn, x, _ = thread_rows(quick)[name]
    plain = funcjax.jit(lambda v: fn(Lib("funcjax"), v))
    donated = funcjax.jit(lambda v: fn(Lib("funcjax"), v), donate_argnums=0)
    a, held = jnp.asarray(x), {}
    cap = funcjax.config.read("funcjax_output_pool_bytes")

    def setup(key):
        funcjax.config.update("funcjax_num_threads", key[1])
        funcjax.config.update("funcjax_output_pool_bytes", 0 if key[0] == "fresh" else cap)
        if key[0] == "pooled":
            plain(a).block_until_ready()  # its output, freed, waits in the pool
        if key[0] == "donated":
            held["input"] = jnp.asarray(x.copy())
    kinds = ("fresh", "pooled", "donated")
    runs = {(kind, n): (lambda: donated(held["input"]).block_until_ready()) if kind == "donated"
            else (lambda: plain(a).block_until_ready()) for kind in kinds for n in (1, 2)}
    t = best_interleaved(runs, 16, setup)  # the first round compiles
    funcjax.config.update("funcjax_num_threads", 1)
    funcjax.config.update("funcjax_output_pool_bytes", cap)
    print(f"{name}, min of 15 interleaved rounds (load {os.getloadavg()[0]:.1f}):")
    for kind in kinds:
        print(f"  {kind:8s} output: 1 thread {t[kind, 1] * 1e3:.2f} ms, 2 threads "
              f"{t[kind, 2] * 1e3:.2f} ms (gain {t[kind, 1] / t[kind, 2]:.2f})")



def scan_program(lib, quick):
    """``(step, scan, input)`` of ``--scan-threads``: ``scan`` of ``tanh(c) * 0.5 + sin(c)``
    over a f32[2e6] carry, 50 steps (2e5 and 10 with ``--quick``)."""
    n, length = (2 * 10**5, 10) if quick else (2 * 10**6, 50)

    def step(c, _):
        return lib.np.tanh(c) * 0.5 + lib.np.sin(c), None

    def scan(c):
        return lib.lax.scan(step, c, None, length=length)[0]
    c = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    return step, scan, c


def measure_jax_scan(quick):
    lib = Lib("jax")
    step, scan, c = scan_program(lib, quick)
    return {"scan": best_seconds(elementwise_call(lib, lambda lib, v: scan(v), c), 10, True),
            "step": best_seconds(elementwise_call(lib, lambda lib, v: step(v, None)[0], c),
                                 10, True)}


def print_scan_threads(quick):
    """``--scan-threads``: the ``scan_program`` lowered with its loop inline in the scan body
    (``parallel_loops.serial``: one thread, as before loops inside loop bodies could be
    threaded), as a parallel loop on 1 and on 2 threads, and the step jitted alone on 1 and
    2 threads; interleaved call by call, min of 20 rounds. JAX (subprocess, min of 10) on one
    thread and with its default threads."""
    import os

    import funcjax
    from funcjax.backend.llvm import parallel_loops
    step, scan, x = scan_program(Lib("funcjax"), quick)
    c = funcjax.numpy.asarray(x)
    with parallel_loops.serial():
        inline = funcjax.jit(lambda v: scan(v))
        inline(c).block_until_ready()  # compiles now, without parallel loops
    threaded, once = funcjax.jit(scan), funcjax.jit(lambda v: step(v, None)[0])
    runs = {"inline": lambda: inline(c).block_until_ready(),
            1: lambda: threaded(c).block_until_ready(),
            2: lambda: threaded(c).block_until_ready(),
            "step 1": lambda: once(c).block_until_ready(),
            "step 2": lambda: once(c).block_until_ready()}
    t = best_interleaved(runs, 21, lambda key: funcjax.config.update(  # round 1 compiles
        "funcjax_num_threads", 2 if key in (2, "step 2") else 1))
    funcjax.config.update("funcjax_num_threads", 1)
    load = os.getloadavg()[0]
    args = ["--quick"] if quick else []
    jax1 = jax_figures(__file__, args, one_thread=True, flag="--jax-scan")
    jax2 = jax_figures(__file__, args, one_thread=False, flag="--jax-scan")
    length, n = (10, "2e5") if quick else (50, "2e6")
    print(f"scan of {length} steps tanh(c)*0.5+sin(c), c f32[{n}], min of 20 interleaved "
          f"rounds (load {load:.1f}): inline loops {t['inline'] * 1e3:.2f} ms, 1 thread "
          f"{t[1] * 1e3:.2f} ms, 2 threads {t[2] * 1e3:.2f} ms; gain 1 thr / 2 thr "
          f"{t[1] / t[2]:.2f}, inline / 2 thr {t['inline'] / t[2]:.2f}. The step jitted "
          f"alone: 1 thread {t['step 1'] * 1e3:.3f} ms, 2 threads {t['step 2'] * 1e3:.3f} ms "
          f"(gain {t['step 1'] / t['step 2']:.2f}); {length} steps on 2 threads / scan on 2 "
          f"{length * t['step 2'] / t[2]:.2f}")
    for name, jax in (("1 thread", jax1), ("default threads", jax2)):
        if jax:
            print(f"JAX {name}: scan {jax['scan'] * 1e3:.2f} ms (JAX / fj 2 thr "
                  f"{jax['scan'] / t[2]:.2f}), step {jax['step'] * 1e3:.3f} ms")


def main():
    quick = "--quick" in sys.argv
    if "--chain" in sys.argv:  # the 4x-numpy target alone: many rounds catch a free core
        print_chain(quick)
        return
    if "--output-reuse" in sys.argv:  # what a fresh large output costs the chain
        print_output_reuse(quick)
        return
    if "--scan-threads" in sys.argv:  # the loop of a scan body on one and two threads
        print_scan_threads(quick)
        return
    if "--jax-only" in sys.argv:
        print(json.dumps(measure("jax", quick)))
        return
    if "--jax-threads" in sys.argv:
        print(json.dumps(measure_jax_threads(quick)))
        return
    if "--jax-scan" in sys.argv:
        print(json.dumps(measure_jax_scan(quick)))
        return
    if "--jax-tasks" in sys.argv:
        print(json.dumps(measure_jax_rows(quick, TASK_ROWS)))
        return
    if "--jax-blas" in sys.argv:
        print(json.dumps(measure_jax_rows(quick, BLAS_ROWS)))
        return
    if "--blas-kernel" in sys.argv:
        print_blas_kernel(quick)
        return
    if "--sgemm" in sys.argv:
        print_sgemm(quick)
        return
    if "--threads" in sys.argv:
        print_threads(quick)
        print_tasks(quick)
        return
    if "--tasks" in sys.argv:
        print_tasks(quick)
        return
    import funcjax
    from funcjax.backend.llvm import blas
    funcjax.config.update("funcjax_num_threads", 1)  # one thread each, as JAX here
    blas.use_threads(1)  # numpy shares this OpenBLAS: its matmul gets one thread too
    results = {"numpy": measure("numpy", quick), "funcjax": measure("funcjax", quick),
               "jax": _jax(quick)}
    print(f"{'workload':36s} {'numpy':>10s} {'funcjax':>10s} {'JAX':>10s} "
          f"{'fj/np':>7s} {'fj/JAX':>7s}")
    for name, t in results["funcjax"].items():
        t_np, t_jax = results["numpy"].get(name), results["jax"].get(name)
        unit, scale = ("us", 1e6) if name.startswith("dispatch") else (
            ("s", 1) if name.startswith("compile") else ("ms", 1e3))

        def show(v, unit=unit, scale=scale):
            return f"{v * scale:8.3f}{unit:>2s}" if v is not None else f"{'-':>10s}"
        ratio_np = f"{t / t_np:7.2f}" if t_np else f"{'-':>7s}"
        ratio_jax = f"{t / t_jax:7.2f}" if t_jax else f"{'-':>7s}"
        print(f"{name:36s} {show(t_np)} {show(t)} {show(t_jax)} {ratio_np} {ratio_jax}")
    print_threads(quick)
    print_tasks(quick)


if __name__ == "__main__":
    main()
