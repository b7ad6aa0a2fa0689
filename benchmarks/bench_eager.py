"""Eager mode against numpy: per-operation cost on small and large arrays, and make_jaxpr.

Run from the repository root: ``python benchmarks/bench_eager.py``. Each row times the same
computation with numpy and with funcjax eagerly (no jit) in one run and prints the ratio; on
small arrays the ratio is funcjax's fixed cost per primitive, on large ones numpy's own speed.
"""

import timeit

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp


def best(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def row(name, np_fn, fj_fn, number):
    t_np, t_fj = best(np_fn, number), best(fj_fn, number)
    print(f"| {name} | {t_np * 1e6:10.1f} us | {t_fj * 1e6:10.1f} us | {t_fj / t_np:6.2f} |")


def main():
    print("| workload | numpy | funcjax eager | funcjax / numpy |")
    print("|---|---:|---:|---:|")
    for n, number in ((10, 2000), (10**6, 20)):
        a = np.linspace(-1, 1, n, dtype=np.float32)
        x = jnp.asarray(a)
        row(f"x + x, {n} elements", lambda a=a: a + a, lambda x=x: x + x, number)
        row(f"sin(x), {n} elements", lambda a=a: np.sin(a), lambda x=x: jnp.sin(x), number)
        row(f"sum(x * 2.0), {n} elements", lambda a=a: np.sum(a * 2.0),
            lambda x=x: jnp.sum(x * 2.0), number)
    w = np.ones((64, 64), np.float32)
    t = best(lambda: jax.make_jaxpr(lambda v: jnp.sum(jnp.tanh(v @ w) * 2.0 + 1.0))(w), 200)
    print(f"\nmake_jaxpr of a 6-primitive function: {t * 1e6:.0f} us")


if __name__ == "__main__":
    main()
