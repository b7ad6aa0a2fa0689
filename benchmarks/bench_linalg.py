"""Linear algebra and complex matmul: funcjax (jit and eager) against numpy and JAX, side by
side in one run.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_linalg.py [--quick] [--rounds R]

JAX is never imported here: if ``/work/jaxenv/bin/python`` (or ``$FUNCJAX_JAX_PYTHON``)
exists, the JAX column is measured by running this file there with ``--jax``. Times are the
best of several calls, and with ``--rounds R`` the best of R rounds that alternate the JAX
subprocess and the numpy/funcjax measurements (a load spike then spoils one round, not the
table); ratios are time / numpy time (lower is faster). The machine is shared and noisy: read
the ratios of one run. ``OPENBLAS_NUM_THREADS=1`` because on an oversubscribed
machine OpenBLAS's spinning threads made single calls 10-300x slower at random.
"""

import json
import os
import subprocess
import sys

import numpy as np
from common import best_seconds, one_core

JAX_PYTHONS = [os.environ.get("FUNCJAX_JAX_PYTHON", ""), "/work/jaxenv/bin/python",
               "/tmp/jaxenv/bin/python"]


def best_time(fn, repeat):
    """The fastest of ``repeat`` calls (medians moved 10-100x between runs here)."""
    return best_seconds(fn, repeat, warm_up=True)


def workloads(quick):
    """name -> (function of (linalg namespace, numpy-like namespace, *args), args, repeats)."""
    rng = np.random.default_rng(0)
    out = {}
    for n in ([256] if quick else [256, 1024]):
        for dtype in ("float32", "float64"):
            a = rng.standard_normal((n, n)).astype(dtype)
            spd = (a @ a.T + n * np.eye(n)).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            reps = 9 if n <= 256 else 3
            tag = f"{n} {dtype[0]}{dtype[-2:]}"
            out[f"solve {tag}"] = (lambda la, xp, m, v: la.solve(m, v), (spd, b), reps)
            out[f"cholesky {tag}"] = (lambda la, xp, m: la.cholesky(m), (spd,), reps)
            out[f"eigh {tag}"] = (lambda la, xp, m: la.eigh(m), (spd,), reps)
            out[f"svd {tag}"] = (lambda la, xp, m: la.svd(m), (a,), reps)
    for n in ([256] if quick else [256, 1024]):
        for dtype in ("complex64", "complex128"):
            z, w = ((rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))).astype(
                dtype) for _ in range(2))
            tag = f"{n} c{dtype[7:]}"
            out[f"complex matmul {tag}"] = (lambda la, xp, p, q: xp.matmul(p, q), (z, w),
                                            9 if n <= 256 else 3)
    return out


def _block(out):
    for leaf in out if isinstance(out, (tuple, list)) else [out]:
        getattr(leaf, "block_until_ready", lambda: None)()
    return out


def run_numpy_and_funcjax(quick):
    import funcjax
    import funcjax.numpy as jnp
    funcjax.config.update("jax_enable_x64", True)
    results = {}
    for name, (fn, args, reps) in workloads(quick).items():
        t_np = best_time(lambda fn=fn, args=args: fn(np.linalg, np, *args), reps)
        jitted = funcjax.jit(lambda *a, fn=fn: fn(jnp.linalg, jnp, *a))
        t_jit = best_time(lambda jitted=jitted, args=args: jitted(*args), reps)
        t_eager = best_time(lambda fn=fn, args=args: fn(jnp.linalg, jnp, *args), reps)
        results[name] = {"numpy": t_np, "jit": t_jit, "eager": t_eager}
        print(f"  {name}: numpy {t_np * 1e3:.2f} ms, jit {t_jit * 1e3:.2f} ms", file=sys.stderr)
    return results


def run_jax(quick):
    import jax
    import jax.numpy as jxp
    jax.config.update("jax_enable_x64", True)
    results = {}
    for name, (fn, args, reps) in workloads(quick).items():
        dev = [jax.device_put(a) for a in args]
        jitted = jax.jit(lambda *a, fn=fn: fn(jxp.linalg, jxp, *a))
        results[name] = best_time(lambda jitted=jitted, dev=dev: jax.block_until_ready(
            jitted(*dev)), reps)
    return results


def jax_results(quick):
    for python in JAX_PYTHONS:
        if python and os.path.exists(python):
            proc = subprocess.run([python, __file__, "--jax"] + (["--quick"] if quick else []),
                                  capture_output=True, text=True, timeout=3600,
                                  preexec_fn=one_core)
            if proc.returncode == 0:
                return json.loads(proc.stdout.strip().splitlines()[-1])
            print(proc.stderr[-2000:], file=sys.stderr)
    return {}


def main():
    quick = "--quick" in sys.argv
    if "--jax" in sys.argv:
        print(json.dumps(run_jax(quick)))
        return
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1
    jax, ours = {}, {}
    for _ in range(rounds):
        for name, t in jax_results(quick).items():
            jax[name] = min(t, jax.get(name, t))
        for name, r in run_numpy_and_funcjax(quick).items():
            ours[name] = {k: min(v, ours.get(name, r)[k]) for k, v in r.items()}
    print("| workload | numpy | funcjax jit | jit/np | funcjax eager | eager/np | jax jit | "
          "jax/np | fj jit/jax |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in ours.items():
        ms = lambda t: f"{t * 1e3:.2f} ms"  # noqa: E731
        row = [name, ms(r["numpy"]), ms(r["jit"]), f"{r['jit'] / r['numpy']:.2f}",
               ms(r["eager"]), f"{r['eager'] / r['numpy']:.2f}"]
        if name in jax:
            t = jax[name]
            row += [ms(t), f"{t / r['numpy']:.2f}", f"{r['jit'] / t:.2f}"]
        else:
            row += ["-", "-", "-"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
