"""What structured control flow costs, and what checkpointing a scan body saves.

1. Eager ``lax.scan`` / ``fori_loop`` / ``while_loop`` against the same loop written in numpy:
   eager control flow stages its body once and then interprets the jaxpr per iteration.
2. Residual bytes that reverse mode keeps for a scan of length N, with and without
   ``checkpoint`` around the body: O(N x body intermediates) against O(N x carry).

Run: ``PYTHONPATH=. python benchmarks/control_flow_bench.py`` (``--quick``: small sizes)
"""

import timeit

import numpy as np
from common import quick

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.tools.residuals import saved_residuals


def best_ms(fn, number=3):
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e3


def body(c, x):
    for _ in range(4):
        c = jnp.sin(c) * x + jnp.cos(c)
    return c, None


def numpy_loop(c, xs):
    for x in xs:
        for _ in range(4):
            c = np.sin(c) * x + np.cos(c)
    return c


def eager_costs(n=100, width=256):
    c = np.ones(width, np.float32)
    xs = np.full((n, width), 0.5, np.float32)
    cases = [
        ("scan", lambda: lax.scan(body, c, xs)),
        ("fori_loop (a scan)", lambda: lax.fori_loop(0, n, lambda i, c: body(c, xs[0])[0], c)),
        ("while_loop", lambda: lax.while_loop(lambda s: s[0] < n,
                                              lambda s: (s[0] + 1, body(s[1], xs[0])[0]),
                                              (0, c))),
    ]
    base = best_ms(lambda: numpy_loop(c, xs))
    print(f"eager loops of {n} steps over f32[{width}] (numpy loop: {base:.2f} ms)")
    for name, fn in cases:
        t = best_ms(fn)
        print(f"  {name:<20} {t:8.2f} ms  {t / base:6.1f}x numpy")


def residual_bytes(width=256):
    print(f"\nresidual bytes kept by grad of a scan over f32[{width}] carries")
    print(f"  {'N':>6} {'plain':>12} {'checkpoint':>12} {'N x carry':>12}")
    for n in (10,) if quick() else (10, 100, 1000):
        c0 = jnp.ones(width)
        xs = jnp.full((n, width), 0.5)

        def loss(c, xs, b):
            return jnp.sum(lax.scan(b, c, xs)[0])
        plain = saved_residuals(lambda c, x: loss(c, x, body), c0, xs).total_bytes
        remat = saved_residuals(lambda c, x: loss(c, x, funcjax.checkpoint(body)), c0,
                                xs).total_bytes
        # Both also keep xs (the function's own argument, not a copy).
        print(f"  {n:>6} {plain:>12} {remat:>12} {n * width * 4:>12}")


if __name__ == "__main__":
    eager_costs(10 if quick() else 100)
    residual_bytes()
