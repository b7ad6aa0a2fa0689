"""What a host callback costs: compiled code calling back into Python, per call.

Cases (4 float32 values, so the figures are the overhead, not the work):
- ``jit call``: a jitted ``x + 1`` without a callback (the floor of one compiled call);
- ``jit + pure_callback``: the same with a ``pure_callback`` (identity) inside;
- ``scan of 100 callbacks``: a jitted ``lax.scan`` whose body calls back 100 times, per call;
- ``jit + debug.callback``: a no-op ``debug.callback`` inside jit;
- ``eager pure_callback``: no jit.
The numpy column is a plain Python call of the same callback (what the work itself costs).
JAX runs the same cases in a subprocess when a Python with JAX is found
(``$FUNCJAX_JAX_PYTHON``, else ``/work/jaxenv/bin/python``).

    PYTHONPATH=. python benchmarks/bench_callbacks.py [--quick]
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

STEPS = 100


def median_us(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def cases(jax, jnp, lax, io):
    x = jnp.asarray(np.arange(4, dtype=np.float32))
    sds = jax.ShapeDtypeStruct((4,), np.float32)
    ident = lambda v: v  # noqa: E731
    plain = jax.jit(lambda x: x + 1)
    with_cb = jax.jit(lambda x: jax.pure_callback(ident, sds, x) + 1)

    def body(c, _):
        return jax.pure_callback(ident, sds, c) + 1, None
    looped = jax.jit(lambda x: lax.scan(body, x, None, length=STEPS)[0])
    debug_cb = jax.jit(lambda x: (jax.debug.callback(lambda v: None, x), x + 1)[1])
    return {
        "jit call": lambda: plain(x).block_until_ready(),
        "jit + pure_callback": lambda: with_cb(x).block_until_ready(),
        f"scan of {STEPS} callbacks": lambda: looped(x).block_until_ready(),
        "jit + debug.callback": lambda: debug_cb(x).block_until_ready(),
        "eager pure_callback": lambda: jax.pure_callback(ident, sds, x).block_until_ready(),
    }


def run(kind, quick):
    repeats = 30 if quick else 300
    if kind == "jax":
        import jax
        import jax.numpy as jnp
        from jax import lax
        from jax.experimental import io_callback
    else:
        import funcjax as jax
        import funcjax.numpy as jnp
        from funcjax import lax
        from funcjax.experimental import io_callback
    return {name: median_us(fn, repeats) for name, fn in cases(jax, jnp, lax,
                                                                io_callback).items()}


def numpy_floor(quick):
    x = np.arange(4, dtype=np.float32)
    ident = lambda v: v  # noqa: E731
    one = median_us(lambda: ident(x.copy()) + 1, 30 if quick else 300)
    return {"jit call": median_us(lambda: x + 1, 30 if quick else 300),
            "jit + pure_callback": one, f"scan of {STEPS} callbacks": one * STEPS,
            "jit + debug.callback": one, "eager pure_callback": one}


def jax_results(quick):
    python = os.environ.get("FUNCJAX_JAX_PYTHON", "/work/jaxenv/bin/python")
    if not os.path.exists(python):
        return None
    cmd = [python, __file__, "--jax-only"] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    quick = "--quick" in sys.argv
    if "--jax-only" in sys.argv:
        print(json.dumps(run("jax", quick)))
        return
    fj, base, jx = run("funcjax", quick), numpy_floor(quick), jax_results(quick)
    head = "| case | numpy (us) | funcjax (us) | funcjax/numpy |"
    sep = "|---|---:|---:|---:|"
    if jx:
        head += " JAX (us) | funcjax/JAX |"
        sep += "---:|---:|"
    print(head)
    print(sep)
    for name, t in fj.items():
        row = f"| {name} | {base[name]:.1f} | {t:.1f} | {t / base[name]:.1f} |"
        if jx:
            row += f" {jx[name]:.1f} | {t / jx[name]:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
