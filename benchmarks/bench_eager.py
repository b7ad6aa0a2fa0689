"""Eager mode against numpy, autograd and JAX: per-operation cost on small and large arrays,
eager autodiff, an eager scan, and make_jaxpr.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_eager.py``. Each row
times the same computation with numpy, autograd (reverse mode on numpy), funcjax eagerly (no
jit) and JAX eagerly, in one run. autograd and JAX run in a subprocess of the interpreter
``FUNCJAX_BENCH_JAX_PYTHON`` (default ``/work/jaxenv/bin/python``) when it exists, or here when
importable; funcjax itself never imports them. On float32[8] the figures are each library's
fixed cost per operation; on 10**6 elements, numpy's own speed. Times are the minimum over many
repeats of process CPU time (the machine is shared: read the ratios), on one core: funcjax
with ``funcjax_num_threads`` 1, the subprocess pinned to one CPU.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap
import timeit

import numpy as np
from common import one_core, quick

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax

JAX_PYTHON = os.environ.get("FUNCJAX_BENCH_JAX_PYTHON", "/work/jaxenv/bin/python")

# One definition of every workload, run with numpy, autograd.numpy, jax.numpy or funcjax.numpy
# as ``np_`` (and the matching ``grad``/``jit``/``scan``): the rows compare like with like.
# The subprocess running autograd and JAX gets the source of these two functions.
def workloads(np_, grad=None, jit=None, scan=None, jvp=None, sync=lambda y: y):
    rows = {}
    for n in (8, 10**6):
        x = np_.asarray(np.linspace(-1, 1, n).astype(np.float32))
        rows[f"x + x, f32[{n}]"] = lambda x=x: sync(x + x)
        rows[f"x * 2 (Python scalar), f32[{n}]"] = lambda x=x: sync(x * 2)
        rows[f"x * 2 + 1, f32[{n}]"] = lambda x=x: sync(x * 2 + 1)
        rows[f"sin(x), f32[{n}]"] = lambda x=x: sync(np_.sin(x))
        rows[f"sum(x), f32[{n}]"] = lambda x=x: sync(np_.sum(x))
    x = np_.asarray(np.linspace(-1, 1, 8).astype(np.float32))
    m = np_.reshape(x, (2, 4))
    rows["x ** 2, f32[8]"] = lambda: sync(x ** 2)
    rows["x > 0, f32[8]"] = lambda: sync(x > 0)
    rows["maximum(x, 0.), f32[8]"] = lambda: sync(np_.maximum(x, 0.))
    rows["exp(x), f32[8]"] = lambda: sync(np_.exp(x))
    rows["where(x > 0, x, 0.), f32[8]"] = lambda: sync(np_.where(x > 0, x, 0.))
    rows["x.astype(int32), f32[8]"] = lambda: sync(x.astype(np.int32))
    rows["x.reshape(2, 4), f32[8]"] = lambda: sync(x.reshape(2, 4))
    rows["x[0], f32[8]"] = lambda: sync(x[0])
    rows["x[1:3], f32[8]"] = lambda: sync(x[1:3])
    rows["m.T, f32[2,4]"] = lambda: sync(m.T)
    rows["m.sum(axis=0), f32[2,4]"] = lambda: sync(m.sum(axis=0))
    rows["mean(x), f32[8]"] = lambda: sync(np_.mean(x))
    rows["x @ x, f32[8]"] = lambda: sync(x @ x)
    rows["m @ m.T, f32[2,4]"] = lambda: sync(m @ m.T)
    def loss(v):
        return np_.sum(np_.sin(v) * 2 + 1)
    rows["sum(sin(x)*2+1), f32[8]"] = lambda: sync(loss(x))
    if jvp is not None:
        rows["jvp of sum(sin(x)*2+1), f32[8]"] = lambda: sync(jvp(loss, (x,), (x,))[1])
    if grad is not None:
        g = grad(loss)
        rows["grad of sum(sin(x)*2+1), f32[8]"] = lambda: sync(g(x))
    if scan is not None:
        def rk4_loss(y0, h=0.01, n=200):
            def f(y):
                return -0.5 * y + np_.sin(y)
            def step(y, _):
                k1 = f(y)
                k2 = f(y + h / 2 * k1)
                k3 = f(y + h / 2 * k2)
                k4 = f(y + h * k3)
                return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None
            y, _ = scan(step, y0, None, length=n)
            return np_.sum(y ** 2)
        y0 = np_.asarray(np.linspace(0, 1, 16).astype(np.float32))
        g_rk4 = grad(rk4_loss)
        rows["grad of a 200-step RK4 scan, eager"] = lambda: sync(g_rk4(y0))
        jg = jit(g_rk4)
        rows["grad of a 200-step RK4 scan, jit"] = lambda: sync(jg(y0))
    return rows


def best_us(fn):
    # CPU time of the whole process (all threads, so JAX's too): time spent preempted by the
    # other jobs on a shared machine does not count.
    import time
    fn()
    once = min(timeit.repeat(fn, number=1, repeat=3, timer=time.process_time))
    number = max(1, int(2e-3 / max(once, 1e-7)))
    repeat = 3 if "--quick" in sys.argv[1:] else 30  # (this function is also sent to JAX)
    return min(timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)) \
        / number * 1e6


FOREIGN = (inspect.getsource(workloads) + inspect.getsource(best_us)
           + textwrap.dedent('''
    import json, sys, timeit
    import numpy as np
    out = {}
    try:
        import autograd, autograd.numpy as anp
        for k, fn in workloads(anp, grad=autograd.grad).items():
            if "grad" in k or "sum(sin" in k:
                out["autograd", k] = best_us(fn)
    except ImportError:
        pass
    try:
        import jax, jax.numpy as jjnp
        for k, fn in workloads(jjnp, grad=jax.grad, jit=jax.jit, scan=jax.lax.scan, jvp=jax.jvp,
                               sync=lambda y: y.block_until_ready()).items():
            out["jax", k] = best_us(fn)
    except ImportError:
        pass
    print(json.dumps([[lib, k, v] for (lib, k), v in out.items()]))
'''))


def foreign_columns():
    """``{(library, row): microseconds}`` for autograd and JAX, if either is available."""
    python = JAX_PYTHON if os.path.exists(JAX_PYTHON) else sys.executable
    try:
        done = subprocess.run([python, "-c", FOREIGN], capture_output=True, text=True,
                              timeout=900, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                              preexec_fn=one_core)
        return {(lib, k): v for lib, k, v in json.loads(done.stdout.strip().splitlines()[-1])}
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {}


def fmt(t):
    return "" if t is None else f"{t:,.1f} us" if t < 1e4 else f"{t / 1e3:,.1f} ms"


def ratio(a, b):
    return "" if a is None or b is None else f"{a / b:.2f}"


def main():
    # Process CPU time counts every thread: all libraries run on one core (numpy's OpenBLAS
    # is not used by these rows; JAX's subprocess is pinned).
    jax.config.update("funcjax_num_threads", 1)
    ours = {k: best_us(fn) for k, fn in
            workloads(jnp, grad=jax.grad, jit=jax.jit, scan=lax.scan, jvp=jax.jvp).items()}
    base = {k: best_us(fn) for k, fn in workloads(np).items()}
    other = {} if quick() else foreign_columns()
    print("| workload | numpy | autograd | funcjax eager | JAX eager | funcjax / numpy "
          "| funcjax / autograd | funcjax / JAX |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, t in ours.items():
        t_np, t_ag, t_jax = base.get(k), other.get(("autograd", k)), other.get(("jax", k))
        print(f"| {k} | {fmt(t_np)} | {fmt(t_ag)} | {fmt(t)} | {fmt(t_jax)} | "
              f"{ratio(t, t_np)} | {ratio(t, t_ag)} | {ratio(t, t_jax)} |")
    eager, jitted = (ours["grad of a 200-step RK4 scan, eager"],
                     ours["grad of a 200-step RK4 scan, jit"])
    print(f"\neager / jit for the RK4 gradient: {eager / jitted:.1f}x")
    x8 = jnp.linspace(-1, 1, 8)
    n = len(jax.make_jaxpr(lambda v: jnp.sum(jnp.sin(v) * 2 + 1))(x8).eqns)
    plain = ours["sum(sin(x)*2+1), f32[8]"]
    for what in ("jvp", "grad"):
        extra = ours[f"{what} of sum(sin(x)*2+1), f32[8]"] - plain
        print(f"{what} overhead over eager evaluation: {extra / n:.1f} us per primitive "
              f"({n} primitives)")
    w = np.ones((64, 64), np.float32)
    t = best_us(lambda: jax.make_jaxpr(lambda v: jnp.sum(jnp.tanh(v @ w) * 2.0 + 1.0))(w))
    print(f"make_jaxpr of a 6-primitive function: {t:.0f} us")
    # Arrays committed to a device (as every pmap result is) must not slow down plain ones:
    # the fast paths check each operand's type, not whether anything was ever committed.
    a = jnp.asarray(np.linspace(-1, 1, 8).astype(np.float32))
    f = jax.jit(lambda v: v * 2 + v)
    before = best_us(lambda: a + a), best_us(lambda: f(a))
    jax.device_put(a, jax.devices()[-1])
    after = best_us(lambda: a + a), best_us(lambda: f(a))
    print(f"x + x and a jitted call on f32[8], before and after an array is committed to a "
          f"device: {before[0]:.2f} / {before[1]:.2f} us, then {after[0]:.2f} / "
          f"{after[1]:.2f} us")
    # Autodiff cost per operation: 20 chained ops minus none, under jvp and grad.
    x = jnp.asarray(np.linspace(-1, 1, 8).astype(np.float32))
    for name, op in (("sin(v)", jnp.sin), ("v * 2", lambda v: v * 2), ("v * v", lambda v: v * v)):
        ev, jv, gr = ((b - a) / 20 for a, b in zip(_chain_times(op, 0, x), _chain_times(op, 20, x)))
        print(f"per chained {name} on f32[8]: eager {ev:.2f} us, under jvp {jv:.2f} us, "
              f"under grad {gr:.2f} us")


def _chain_times(op, n, x):
    """Eager, jvp and grad times of ``sum`` of ``n`` chained ``op``s on ``x``."""
    def f(v):
        for _ in range(n):
            v = op(v)
        return jnp.sum(v)
    g = jax.grad(f)
    return (best_us(lambda: f(x)), best_us(lambda: jax.jvp(f, (x,), (x,))),
            best_us(lambda: g(x)))

if __name__ == "__main__":
    main()
