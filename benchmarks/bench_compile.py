"""First compile of ``jit(value_and_grad(MLP 784-512-512-10))``, B=128: funcjax against JAX,
each in a fresh process, alternating (funcjax, JAX, funcjax, ...), so both see the same load.

    PYTHONPATH=. python benchmarks/bench_compile.py [--quick] [--rounds N] [--warm]

A child process imports its library, builds the inputs, then times the first call of the
jitted function (tracing, autodiff, lowering, LLVM/XLA, one run). ``--warm`` compiles a tiny
unrelated function first, so start-up costs of LLVM/XLA are left out (as in the compile row of
bench_jitperf.py). No persistent compilation cache is used by either library. funcjax's
children also report its phases (``jax_log_compiles``). JAX runs under
``$FUNCJAX_JAX_PYTHON`` (default /work/jaxenv/bin/python), one thread; skipped if absent.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
from common import one_core


def child(kind, warm):
    rng = np.random.default_rng(0)
    f32 = np.float32
    sizes = [(784, 512), (512, 512), (512, 10)]
    params = [(rng.standard_normal(s).astype(f32) * 0.05, np.zeros(s[1], f32)) for s in sizes]
    x = rng.standard_normal((128, 784)).astype(f32)
    y = rng.standard_normal((128, 10)).astype(f32)
    phases = {}
    if kind == "jax":
        import jax
        import jax.numpy as xp
        jit, value_and_grad, ready = jax.jit, jax.value_and_grad, jax.block_until_ready
    else:
        import logging

        import funcjax
        import funcjax.numpy as xp
        from funcjax.backend.llvm import blas
        funcjax.config.update("funcjax_num_threads", 1)
        blas.use_threads(1)
        jit, value_and_grad, ready = funcjax.jit, funcjax.value_and_grad, lambda out: out

        class Phases(logging.Handler):
            def emit(self, record):
                text = record.getMessage()
                for name, value in re.findall(r"(tracing|lowering|optimise|codegen|load)"
                                              r"\D*?([\d.]+) s", text):
                    phases[name] = phases.get(name, 0.0) + float(value)
        logging.getLogger("funcjax").addHandler(Phases())

    def loss(p, a, b):
        for w, c in p[:-1]:
            a = xp.maximum(a @ w + c, 0.0)
        w, c = p[-1]
        return xp.mean((a @ w + c - b) ** 2)

    if warm:
        ready(jit(lambda v: v * 2 + 1)(np.ones(3, f32)))
    if kind == "funcjax":
        funcjax.config.update("jax_log_compiles", True)
        phases.clear()
    start = time.perf_counter()
    ready(jit(value_and_grad(loss))(params, x, y))
    print(json.dumps({"seconds": time.perf_counter() - start, "phases": phases}))


def run_child(kind, warm):
    if kind == "jax":
        python = os.environ.get("FUNCJAX_JAX_PYTHON", "/work/jaxenv/bin/python")
        if not os.path.exists(python):
            return None
        env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_cpu_multi_thread_eigen="
                   "false intra_op_parallelism_threads=1")
        env.pop("PYTHONPATH", None)
        cwd = "/tmp"
    else:
        python, env, cwd = sys.executable, dict(os.environ), None
    cmd = [python, os.path.abspath(__file__), "--child", kind] + ["--warm"] * warm
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                          preexec_fn=one_core if kind == "jax" else None)
    if done.returncode:
        print(f"{kind} child failed:", done.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    argv = sys.argv[1:]
    warm = "--warm" in argv
    if "--child" in argv:
        child(argv[argv.index("--child") + 1], warm)
        return
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else (
        2 if "--quick" in argv else 5)
    times = {"funcjax": [], "jax": []}
    phases = []
    for _ in range(rounds):
        for kind in times:
            out = run_child(kind, warm)
            if out is not None:
                times[kind].append(out["seconds"])
                if kind == "funcjax":
                    phases.append(out["phases"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    how = "after a warm-up compile" if warm else "cold process"
    print(f"first compile of jit(value_and_grad(MLP 784-512-512-10)), {how}; {rounds} "
          f"rounds; load average {load:.1f}")
    for kind, ts in times.items():
        if ts:
            print(f"{kind:8s} median {statistics.median(ts):.3f} s  min {min(ts):.3f} s  "
                  f"({' '.join(f'{t:.3f}' for t in ts)})")
    if times["jax"]:
        pairs = [a / b for a, b in zip(times["funcjax"], times["jax"])]
        print(f"funcjax/JAX: median of paired ratios {statistics.median(pairs):.2f} "
              f"({' '.join(f'{r:.2f}' for r in pairs)})")
    if phases:
        names = sorted({k for p in phases for k in p}, key=[
            "tracing", "lowering", "optimise", "codegen", "load"].index)
        print("funcjax phases, median s: " + ", ".join(
            f"{k} {statistics.median(p.get(k, 0.0) for p in phases):.3f}" for k in names))


if __name__ == "__main__":
    main()
