"""funcjax.jit against numpy (and JAX when available), measured side by side in one run.

    PYTHONPATH=. python benchmarks/bench_jit.py [--quick]

JAX is never a dependency: if ``import jax`` fails here, the script looks for a Python that
has it (``$FUNCJAX_JAX_PYTHON``, else ``/tmp/jaxenv/bin/python``) and runs the JAX half of
each workload there, in the same session. Ratios are time / numpy time (lower is faster).
Machines are shared and noisy: compare ratios from one run, not absolute times.
"""

import json
import os
import subprocess
import sys

import numpy as np
from common import median_seconds


def workloads(quick):
    """name -> (numpy-style function over a namespace ``xp``, argument factory, repeats)."""
    rng = np.random.default_rng(0)
    sizes = [10**6] if quick else [10**6, 10**7]
    out = {}
    for n in sizes:
        x, y = (rng.standard_normal(n).astype(np.float32) for _ in range(2))
        out[f"arith chain {n:.0e}"] = (
            lambda xp, a, b: (a * b + a * a - 0.5 * b) * 1.5 + a, (x, y), 10)
        out[f"tanh chain {n:.0e}"] = (lambda xp, a, b: xp.tanh(a) * b + a * a, (x, y), 5)
        out[f"sum(x*y) {n:.0e}"] = (lambda xp, a, b: xp.sum(a * b), (x, y), 10)
    a, b = (rng.standard_normal((512, 512)).astype(np.float32) for _ in range(2))
    out["matmul 512"] = (lambda xp, p, q: xp.matmul(p, q), (a, b), 20)
    s = rng.standard_normal(10).astype(np.float32)
    out["dispatch x+1 (10 elems)"] = (lambda xp, v: v + 1, (s,), 2000)
    return out


def run_numpy_and_funcjax(quick):
    import funcjax
    import funcjax.numpy as jnp
    results = {}
    for name, (fn, args, repeat) in workloads(quick).items():
        number = 100 if "dispatch" in name else 1
        reps = 20 if "dispatch" in name else repeat
        t_np = median_seconds(lambda fn=fn, args=args: fn(np, *args), reps, True, number)
        jitted = funcjax.jit(lambda *a, fn=fn: fn(jnp, *a))
        t_fj = median_seconds(lambda jitted=jitted, args=args: jitted(*args), reps, True, number)
        results[name] = {"numpy": t_np, "funcjax": t_fj}
    return results


def run_jax(quick):
    import jax
    import jax.numpy as jxp
    results = {}
    for name, (fn, args, repeat) in workloads(quick).items():
        number = 100 if "dispatch" in name else 1
        reps = 20 if "dispatch" in name else repeat
        dev = [jax.device_put(a) for a in args]
        jitted = jax.jit(lambda *a, fn=fn: fn(jxp, *a))
        results[name] = median_seconds(lambda jitted=jitted, dev=dev:
                                  jitted(*dev).block_until_ready(), reps, True, number)
    return results


def jax_results(quick):
    try:
        import jax  # noqa: F401
        return run_jax(quick)
    except ImportError:
        pass
    python = os.environ.get("FUNCJAX_JAX_PYTHON", "/tmp/jaxenv/bin/python")
    if not os.path.exists(python):
        return None
    cmd = [python, __file__, "--jax-only"] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    if done.returncode != 0:
        print("JAX run failed:", done.stderr.strip().splitlines()[-1:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    quick = "--quick" in sys.argv
    if "--jax-only" in sys.argv:
        print(json.dumps(run_jax(quick)))
        return
    ours = run_numpy_and_funcjax(quick)
    theirs = jax_results(quick)
    head = f"{'workload':<26}{'numpy':>11}{'funcjax':>11}{'fj/np':>8}"
    head += f"{'jax':>11}{'jax/np':>8}{'fj/jax':>8}" if theirs else ""
    print(head)
    for name, r in ours.items():
        line = (f"{name:<26}{r['numpy'] * 1e6:>9.1f}us{r['funcjax'] * 1e6:>9.1f}us"
                f"{r['funcjax'] / r['numpy']:>8.2f}")
        if theirs:
            t = theirs[name]
            line += f"{t * 1e6:>9.1f}us{t / r['numpy']:>8.2f}{r['funcjax'] / t:>8.2f}"
        print(line)


if __name__ == "__main__":
    main()
