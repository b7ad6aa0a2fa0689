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
from common import median_seconds

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.export import deserialize, export
from funcjax.quantize import quantize

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
    return (median_seconds(lambda: a @ b, repeats), median_seconds(lambda: f32(a, b), repeats),
            median_seconds(lambda: i8(a8, b8), repeats))


def bench_mlp(batch, sizes, repeats):
    params, mlp = make_mlp(sizes)
    x = RNG.standard_normal((batch, sizes[0])).astype(np.float32)
    f32 = fj.jit(lambda x: mlp(params, x))
    q = quantize(mlp, params, x)
    f32(x), q(x)
    before, after = q.nbytes()
    return (median_seconds(lambda: f32(x), repeats), median_seconds(lambda: q(x), repeats),
            before, after)


def main():
    repeats = 3 if QUICK else 7
    sizes = [256, 512, 512, 10]
    print(f"Load vs recompile: MLP {sizes}, batch 64, medians of {repeats}.\n")
    print("| path | time |\n|---|---:|")
    for name, t in bench_load(64, sizes, repeats):
        print(f"| {name} | {t * 1e3:.1f} ms |")
    print()
    print("| workload | numpy f32 | funcjax jit f32 | funcjax jit int8->int32 | int8/f32 |")
    print("|---|---:|---:|---:|---:|")
    for n in ((128,) if QUICK else (128, 512)):
        t_np, t_f, t_i = bench_matmul(n, repeats)
        print(f"| matmul {n}x{n} | {t_np * 1e3:.3f} ms | {t_f * 1e3:.3f} ms | "
              f"{t_i * 1e3:.3f} ms | {t_i / t_f:.2f} |")
    t_f, t_q, before, after = bench_mlp(256, sizes, repeats)
    print(f"| MLP {sizes} batch 256 | - | {t_f * 1e3:.3f} ms | {t_q * 1e3:.3f} ms | "
          f"{t_q / t_f:.2f} |")
    print(f"\nMLP parameters: float32 {before:,} bytes, int8 {after:,} bytes "
          f"({before / after:.2f}x smaller).")


if __name__ == "__main__":
    os.environ.setdefault("FUNCJAX_NUM_CPU_DEVICES", "1")
    main()
