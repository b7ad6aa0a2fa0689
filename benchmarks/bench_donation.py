"""What donation and the shared jit cache buy: an update step ``p - lr * g`` over 10^7 float32
with and without ``donate_argnums`` (a fresh 40 MB output page-faults on every call), and
``jit(f)(x)`` with the wrapper re-created on every call against one reused wrapper.

    PYTHONPATH=. python benchmarks/bench_donation.py
"""


import numpy as np
from common import median_seconds, quick

import funcjax
import funcjax.numpy as jnp


def update(p, g):
    return p - 0.01 * g


def bench_update(n=10**7, repeats=20):
    g = jnp.asarray(np.ones(n, np.float32))
    plain, donating = funcjax.jit(update), funcjax.jit(update, donate_argnums=0)
    state = {"plain": plain(g * 1, g), "donated": donating(g * 1, g)}

    def run(name, f):
        def step():
            state[name] = f(state[name], g)
        return median_seconds(step, repeats)
    return run("plain", plain), run("donated", donating)


def bench_recreated_wrapper(repeats=200):
    x = jnp.ones(10)

    def f(v):
        return jnp.sin(v) * 2 + 1
    reused = funcjax.jit(f)
    reused(x)
    recreated = median_seconds(lambda: funcjax.jit(f)(x), repeats)
    return recreated, median_seconds(lambda: reused(x), repeats), reused.cache_info()


if __name__ == "__main__":
    n = 10**5 if quick() else 10**7
    plain, donated = bench_update(n, 3 if quick() else 20)
    print(f"update {n:.0e} f32: plain {plain * 1e3:.2f} ms, donated {donated * 1e3:.2f} ms "
          f"({plain / donated:.2f}x)")
    recreated, reused, info = bench_recreated_wrapper()
    print(f"jit(f)(x) re-created each call: {recreated * 1e6:.1f} us, reused wrapper: "
          f"{reused * 1e6:.1f} us; {info}")
