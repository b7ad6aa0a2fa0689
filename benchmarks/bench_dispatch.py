"""jit dispatch and compile time (issue 12, points 6 and 7): funcjax and JAX side by side.

    PYTHONPATH=. python benchmarks/bench_dispatch.py [--quick]

Dispatch rows are the time of one call of a cached jitted function (best of repeated loops);
compile rows the wall time of tracing + compiling + one call of a fresh function (best of a
few). ``grad(jit(f))`` is a call of the gradient of a jitted function outside jit: the
Python-side transformation cost per call. JAX runs in a subprocess
(``$FUNCJAX_JAX_PYTHON``, else ``/work/jaxenv/bin/python``) when it is installed.
"""

import json
import os
import sys
import time

import numpy as np
from common import best_seconds, jax_figures

QUICK = "--quick" in sys.argv


def fresh(fn, repeat, reset=lambda: None):
    """Best wall time of ``fn()``, each call building and compiling a new function;
    ``reset()`` before each (funcjax: forget compiled modules, so identical IR compiles again)."""
    times = []
    for _ in range(repeat):
        reset()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def libs(kind):
    if kind == "jax":
        import jax
        import jax.numpy as xp
        return jax, xp, jax.block_until_ready
    import funcjax
    import funcjax.numpy as xp
    return funcjax, xp, (lambda out: out)


def measure(kind):
    fx, xp, ready = libs(kind)
    reset = lambda: None  # noqa: E731
    if kind == "funcjax":
        from funcjax.backend.llvm import compiler
        reset = compiler.forget_engines
    out = {}
    x8 = xp.asarray(np.arange(8, dtype=np.float32))
    f = fx.jit(lambda v: v * 2 + 1)
    out["dispatch x*2+1 f32[8]"] = best_seconds(lambda: f(x8), 20, True, 500)
    g = fx.jit(lambda v, w: (v + w, v * w))
    out["dispatch 2 in, 2 out f32[8]"] = best_seconds(lambda: g(x8, x8), 20, True, 500)
    h = fx.jit(lambda d: {k: v * 2 for k, v in d.items()})
    tree = {str(k): x8 for k in range(4)}
    out["dispatch dict of 4 f32[8]"] = best_seconds(lambda: h(tree), 20, True, 200)
    x256 = xp.asarray(np.ones((256, 256), np.float32))  # 512 KB moved: the GIL is released
    m = fx.jit(lambda v: v * 2)
    out["call x*2 f32[256,256]"] = best_seconds(lambda: ready(m(x256)), 20, True, 200)
    gj = fx.grad(fx.jit(lambda v: xp.sum(xp.sin(v) * v)))
    out["grad(jit(f)) call f32[8]"] = best_seconds(lambda: gj(x8), 10, True, 50)

    warm = fx.jit(lambda v: v + 1)
    ready(warm(x8))  # start-up of the compiler is not part of the rows

    def leaves(n, fun):
        d = {f"k{k}": xp.asarray(np.float32(k)) for k in range(n)}
        return lambda: ready(fx.jit(lambda t: fun(t))(d))  # a new function each time
    sizes = (250, 1000) if QUICK else (250, 1000, 5000)
    for n in sizes:
        out[f"compile identity {n} leaves"] = fresh(leaves(n, lambda t: t), 2, reset)
    out["compile tree_map v*2 1000 leaves"] = fresh(
        leaves(1000, lambda t: fx.tree_util.tree_map(lambda v: v * 2, t)), 2, reset)

    def chain(n):
        def fun(v):
            for _ in range(n):
                v = v * 1.01 + 0.1
            return v
        return lambda: ready(fx.jit(lambda v: fun(v))(x8))
    out["compile 5000 linear ops"] = fresh(chain(2500), 2, reset)

    rng = np.random.default_rng(0)
    sizes = [784, 512, 512, 10]
    params = [(xp.asarray(rng.standard_normal((a, b), np.float32) * 0.05),
               xp.asarray(np.zeros(b, np.float32))) for a, b in zip(sizes[:-1], sizes[1:])]
    xb = xp.asarray(rng.standard_normal((128, 784), np.float32))
    yb = xp.asarray(rng.standard_normal((128, 10), np.float32))

    def mlp_loss(p, x, y):
        for w, b in p[:-1]:
            x = xp.maximum(x @ w + b, 0.0)
        w, b = p[-1]
        return xp.mean((x @ w + b - y) ** 2)

    def vg():
        ready(fx.jit(fx.value_and_grad(lambda p, x, y: mlp_loss(p, x, y)))(params, xb, yb))
    out["compile value_and_grad(MLP)"] = fresh(vg, 3, reset)
    # a new function object tracing to the same program (jit(f) re-created in a loop)
    out["compile value_and_grad(MLP) again"] = fresh(vg, 3)
    return out


def main():
    if "--jax-only" in sys.argv:
        print(json.dumps(measure("jax")))
        return
    import funcjax
    funcjax.config.update("funcjax_num_threads", 1)
    mine, theirs = measure("funcjax"), jax_figures(__file__, ["--quick"] if QUICK else [])
    print(f"load average before: {os.getloadavg()[0]:.1f}\n")
    print(f"| {'workload':34s} | {'funcjax':>10s} | {'JAX':>10s} | {'fj/JAX':>6s} |")
    print(f"|{'-' * 36}|{'-' * 12}:|{'-' * 12}:|{'-' * 7}:|")
    for name, t in mine.items():
        unit, scale = ("s", 1) if name.startswith("compile") else ("us", 1e6)
        other = theirs.get(name)
        shown = f"{other * scale:8.3f} {unit}" if other else f"{'-':>10s}"
        ratio = f"{t / other:6.2f}" if other else f"{'-':>6s}"
        print(f"| {name:34s} | {t * scale:7.3f} {unit:2s} | {shown:>10s} | {ratio} |")


if __name__ == "__main__":
    main()
