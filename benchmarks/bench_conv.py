"""Convolution, pooling and FFT: funcjax.jit against numpy/scipy and JAX, side by side.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_conv.py [--quick] [--cpu]

Everything runs on one thread: OpenBLAS (which funcjax's im2col lowering and numpy call) via
the environment above, JAX (in a subprocess: ``$FUNCJAX_JAX_PYTHON``, else
``/work/jaxenv/bin/python``) with XLA's CPU thread pools set to one thread. The numpy column
for a convolution is im2col (a strided view) + one matmul; there is no numpy backward pass.
Times are medians of wall time; machines are shared and noisy: read the ratios of one run.
``--cpu`` times the fastest call in processor seconds of the (one-thread) process instead,
which stays steady when other jobs compete for the cores.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from common import median_seconds, one_core

ONE_THREAD_XLA = ("--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1 "
                  "--xla_force_host_platform_device_count=1")


def median_time(fn, repeat):
    if "--cpu" not in sys.argv:
        return median_seconds(fn, repeat, warm_up=True)
    fn()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def problems(quick):
    rng = np.random.default_rng(0)
    batch = 2 if quick else 8
    x = rng.standard_normal((batch, 32, 32, 64)).astype(np.float32)  # NHWC images
    w = rng.standard_normal((3, 3, 64, 64)).astype(np.float32) / 24  # HWIO kernel
    signal = rng.standard_normal(2 ** (16 if quick else 20)).astype(np.float32)
    return x, w, signal


def numpy_conv(x, w):
    """SAME 3x3 convolution, NHWC/HWIO, by im2col (strided view) and one matmul."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    n, h, wd, c = x.shape
    s = p.strides
    cols = np.lib.stride_tricks.as_strided(p, (n, h, wd, 3, 3, c), s[:3] + s[1:])
    return cols.reshape(n * h * wd, -1) @ w.reshape(-1, w.shape[-1])


def numpy_pool(x):
    n, h, wd, c = x.shape
    return x.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))


def run_local(quick):
    import funcjax
    import funcjax.numpy as jnp
    from funcjax import lax
    x, w, signal = problems(quick)
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn)
    fwd = funcjax.jit(conv)
    bwd = funcjax.jit(funcjax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), (0, 1)))
    pool = funcjax.jit(lambda x: lax.reduce_window(x, -np.inf, lax.max, (1, 2, 2, 1),
                                                   (1, 2, 2, 1), "VALID"))
    pool_grad = funcjax.jit(funcjax.grad(lambda x: jnp.sum(lax.reduce_window(
        x, -np.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"))))
    repeat = 3 if quick else 7
    out = {}
    out["conv2d fwd"] = (median_time(lambda: numpy_conv(x, w), repeat),
                         median_time(lambda: np.asarray(fwd(x, w)), repeat))
    out["conv2d fwd+bwd"] = (None, median_time(lambda: [np.asarray(g) for g in bwd(x, w)],
                                               repeat))
    out["max-pool 2x2"] = (median_time(lambda: numpy_pool(x), repeat),
                           median_time(lambda: np.asarray(pool(x)), repeat))
    out["max-pool grad"] = (None, median_time(lambda: np.asarray(pool_grad(x)), repeat))
    try:
        import scipy.fft
        ref = median_time(lambda: scipy.fft.rfft(signal), repeat)
        label = "rfft (scipy)"
    except ImportError:
        ref, label = median_time(lambda: np.fft.rfft(signal), repeat), "rfft (numpy)"
    rfft = funcjax.jit(jnp.fft.rfft)
    out[f"{label} {signal.size}"] = (ref, median_time(lambda: np.asarray(rfft(signal)),
                                                      repeat))
    out["rfft (numpy.fft)"] = (median_time(lambda: np.fft.rfft(signal), repeat), None)
    return out


def run_jax(quick):
    import jax
    import jax.numpy as jxp
    from jax import lax
    x, w, signal = problems(quick)
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn)
    fwd = jax.jit(conv)
    bwd = jax.jit(jax.grad(lambda x, w: jxp.sum(conv(x, w) ** 2), (0, 1)))
    pool = jax.jit(lambda x: lax.reduce_window(x, -jxp.inf, lax.max, (1, 2, 2, 1),
                                               (1, 2, 2, 1), "VALID"))
    pool_grad = jax.jit(jax.grad(lambda x: jxp.sum(lax.reduce_window(
        x, -jxp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"))))
    rfft = jax.jit(jxp.fft.rfft)
    xd, wd, sd = (jax.device_put(a) for a in (x, w, signal))
    repeat = 3 if quick else 7
    return {
        "conv2d fwd": median_time(lambda: fwd(xd, wd).block_until_ready(), repeat),
        "conv2d fwd+bwd": median_time(lambda: jax.block_until_ready(bwd(xd, wd)), repeat),
        "max-pool 2x2": median_time(lambda: pool(xd).block_until_ready(), repeat),
        "max-pool grad": median_time(lambda: pool_grad(xd).block_until_ready(), repeat),
        "rfft": median_time(lambda: rfft(sd).block_until_ready(), repeat),
    }


def jax_results(quick):
    python = os.environ.get("FUNCJAX_JAX_PYTHON", "/work/jaxenv/bin/python")
    if not os.path.exists(python):
        return None
    cmd = [python, __file__, "--jax-only"] + [f for f in ("--quick", "--cpu") if f in sys.argv]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ONE_THREAD_XLA}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=one_core)
    if done.returncode != 0:
        print("JAX run failed:", done.stderr.strip().splitlines()[-1:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ms(t):
    return f"{t * 1e3:9.2f}ms" if t is not None else f"{'-':>11}"


def _ratio(a, b):
    return f"{a / b:8.2f}" if a is not None and b is not None else f"{'-':>8}"


def main():
    quick = "--quick" in sys.argv
    if "--jax-only" in sys.argv:
        print(json.dumps(run_jax(quick)))
        return
    ours = run_local(quick)
    theirs = jax_results(quick) or {}
    print(f"{'workload':<22}{'numpy/scipy':>12}{'funcjax':>11}{'fj/np':>8}{'jax':>11}"
          f"{'fj/jax':>8}")
    for name, (ref, fj) in ours.items():
        jx = theirs.get("rfft" if name.startswith("rfft") else name)
        print(f"{name:<22}{_ms(ref):>12}{_ms(fj)}{_ratio(fj, ref)}{_ms(jx)}{_ratio(fj, jx)}")


if __name__ == "__main__":
    main()
