"""Deployment: loading an exported library against compiling again; int8 matmul and int8
MLP inference (``funcjax.quantize``) against float32.

    PYTHONPATH=. python benchmarks/bench_deploy.py [--quick]
"""

import ctypes
import os
import shutil
import sys
import tempfile

import numpy as np
from common import best_seconds, median_seconds

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.export import deserialize, export
from funcjax.quantize import quantize
from funcjax.tools.parallel_training import loss, predict

QUICK = "--quick" in sys.argv
RNG = np.random.default_rng(0)


def make_mlp(sizes):
    params = [((RNG.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes, sizes[1:])]

    def mlp(params, x):
        for w, b in params[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = params[-1]
        return x @ w + b
    return params, mlp


def bench_load(batch, sizes, repeats):
    params, mlp = make_mlp(sizes)
    x = RNG.standard_normal((batch, sizes[0])).astype(np.float32)
    tmp = tempfile.mkdtemp(prefix="fj_bench_")
    fj.jit(lambda x: mlp(params, x)).lower(x).compile().export_library(f"{tmp}/libm.so", "m")
    data = export(fj.jit(lambda x: mlp(params, x)))(x).serialize()
    out = np.zeros((batch, sizes[-1]), np.float32)
    counter = iter(range(10**6))

    def load_library():  # a fresh file name each time: dlopen really loads it
        path = f"{tmp}/libm{next(counter)}.so"
        shutil.copy(f"{tmp}/libm.so", path)
        lib = ctypes.CDLL(path)
        lib.m((ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data))

    def recompile():  # a new function object: nothing cached in memory (no disk cache)
        fj.jit(lambda x: mlp(params, x)).lower(x).compile()(x)

    def deserialize_and_jit():
        fj.jit(deserialize(data).call).lower(x).compile()(x)
    rows = [("load exported .so + first call", median_seconds(load_library, repeats)),
            ("deserialize export + jit compile + call", median_seconds(deserialize_and_jit,
                                                                       repeats)),
            ("trace + jit compile + call", median_seconds(recompile, repeats))]
    shutil.rmtree(tmp)
    return rows


def bench_matmul(n, repeats):
    a = RNG.standard_normal((n, n)).astype(np.float32)
    b = RNG.standard_normal((n, n)).astype(np.float32)
    a8, b8 = (a * 30).astype(np.int8), (b * 30).astype(np.int8)
    f32 = fj.jit(lambda a, b: a @ b)
    i8 = fj.jit(lambda a, b: lax.dot_general(a, b, (((1,), (0,)), ((), ())),
                                             preferred_element_type=np.int32))
    f32(a, b), i8(a8, b8)
    return (best_seconds(lambda: a @ b, repeats), best_seconds(lambda: f32(a, b), repeats),
            best_seconds(lambda: i8(a8, b8), repeats))


def trained_classifier(sizes, classes=10, steps=300):
    """An MLP trained on noisy clusters (a task where errors are possible) and held-out data."""
    centers = RNG.standard_normal((classes, sizes[0])).astype(np.float32) * 0.3

    def data(n):
        y = RNG.integers(0, classes, n)
        return (centers[y] + RNG.standard_normal((n, sizes[0]))).astype(np.float32), y
    params = [((RNG.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32),
               np.zeros(n, np.float32)) for m, n in zip(sizes, sizes[1:])]
    step = fj.jit(lambda p, x, y: fj.tree_map(lambda a, g: a - 0.05 * g, p,
                                              fj.grad(loss)(p, x, y)))
    xt, yt = data(6400)
    for i in range(steps):
        k = (i * 128) % 6400
        params = step(params, xt[k:k + 128], yt[k:k + 128])
    return predict, params, xt, data(4000)


def bench_mlp(repeats):
    sizes = [128, 512, 512, 10]
    mlp, params, xt, (xv, yv) = trained_classifier(sizes)
    q = quantize(mlp, params, xt[:512])
    report = q.report(xv, yv)
    x = xv[:256]
    f32 = fj.jit(lambda x: mlp(params, x))
    f32(x), q(x)
    return sizes, report, best_seconds(lambda: f32(x), repeats), best_seconds(lambda: q(x),
                                                                              repeats)


def bench_cnn(repeats):
    def cnn(params, x):
        k1, k2, w = params
        y = jnp.maximum(lax.conv_general_dilated(x, k1, (1, 1), "SAME"), 0.0)
        y = jnp.maximum(lax.conv_general_dilated(y, k2, (2, 2), "SAME"), 0.0)
        return y.reshape(y.shape[0], -1) @ w
    params = (RNG.standard_normal((32, 16, 3, 3)).astype(np.float32) / 12,
              RNG.standard_normal((64, 32, 3, 3)).astype(np.float32) / 17,
              RNG.standard_normal((64 * 8 * 8, 10)).astype(np.float32) / 64)
    x = RNG.standard_normal((32, 16, 16, 16)).astype(np.float32)
    q = quantize(cnn, params, x)
    f32 = fj.jit(lambda x: cnn(params, x))
    want, got = np.asarray(f32(x)), np.asarray(q(x))
    agree = float(np.mean(np.argmax(want, -1) == np.argmax(got, -1)))
    return best_seconds(lambda: f32(x), repeats), best_seconds(lambda: q(x), repeats), agree


def main():
    repeats = 5 if QUICK else 15
    sizes = [256, 512, 512, 10]
    print(f"Load vs recompile: MLP {sizes}, batch 64, medians of {repeats}.\n")
    print("| path | time |\n|---|---:|")
    for name, t in bench_load(64, sizes, repeats):
        print(f"| {name} | {t * 1e3:.1f} ms |")
    print(f"\nint8 against float32, fastest of {repeats} calls each, measured in turn:\n")
    print("| workload | numpy f32 | funcjax jit f32 | funcjax jit int8 | int8/f32 |")
    print("|---|---:|---:|---:|---:|")
    for n in ((128,) if QUICK else (128, 256, 512)):
        t_np, t_f, t_i = bench_matmul(n, repeats)
        print(f"| matmul {n}x{n} (int8 x int8 -> int32) | {t_np * 1e3:.3f} ms | "
              f"{t_f * 1e3:.3f} ms | {t_i * 1e3:.3f} ms | {t_i / t_f:.2f} |")
    mlp_sizes, r, t_f, t_q = bench_mlp(repeats)
    print(f"| trained MLP {mlp_sizes}, batch 256 (quantize) | - | {t_f * 1e3:.3f} ms | "
          f"{t_q * 1e3:.3f} ms | {t_q / t_f:.2f} |")
    c_f, c_q, agree = bench_cnn(repeats)
    print(f"| CNN 2 conv + dense, 32x16x16x16 (quantize) | - | {c_f * 1e3:.3f} ms | "
          f"{c_q * 1e3:.3f} ms | {c_q / c_f:.2f} |")
    print(f"\nTrained MLP {mlp_sizes} on 4,000 held-out examples: parameters float32 "
          f"{r['float32_bytes']:,} bytes, int8 {r['int8_bytes']:,} bytes "
          f"({r['size_ratio']:.2f}x smaller); accuracy float32 {100 * r['float32_accuracy']:.2f}%, "
          f"int8 {100 * r['int8_accuracy']:.2f}% "
          f"({100 * (r['int8_accuracy'] - r['float32_accuracy']):+.2f} points). "
          f"CNN: int8 and float32 predict the same class for {100 * agree:.0f}% of the batch.")


if __name__ == "__main__":
    os.environ.setdefault("FUNCJAX_NUM_CPU_DEVICES", "1")
    main()
