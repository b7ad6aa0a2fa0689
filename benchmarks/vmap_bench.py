"""What vmap costs: one batched pass against a Python loop of per-example calls, with numpy's
hand-batched code as the floor (and JAX's vmap when JAX is installed).

Run: ``PYTHONPATH=. python benchmarks/vmap_bench.py`` (``--quick``: one small batch)
"""

import timeit

import numpy as np
from common import quick

import funcjax
import funcjax.numpy as jnp


def layer(w, b, x):
    return jnp.tanh(jnp.matmul(w, x) + b)


def numpy_batched(w, b, xs):
    return np.tanh(xs @ w.T + b)


def best_ms(fn, *args, number=5):
    return min(timeit.repeat(lambda: fn(*args), number=number, repeat=3)) / number * 1e3


def loop(w, b, xs):
    return [layer(w, b, x) for x in xs]


def main():
    rng = np.random.default_rng(0)
    print(f"{'batch':>6} {'numpy':>9} {'vmap':>9} {'loop':>9} {'jax.vmap':>9}   (ms)")
    for batch in (16,) if quick() else (16, 256, 2048):
        w = rng.standard_normal((64, 128)).astype(np.float32)
        b = rng.standard_normal(64).astype(np.float32)
        xs = rng.standard_normal((batch, 128)).astype(np.float32)
        batched = funcjax.vmap(layer, in_axes=(None, None, 0))
        np.testing.assert_allclose(batched(w, b, xs), numpy_batched(w, b, xs), rtol=1e-4,
                                   atol=1e-5)
        row = [best_ms(numpy_batched, w, b, xs), best_ms(batched, w, b, xs),
               best_ms(loop, w, b, xs, number=1), _jax_ms(w, b, xs)]
        print(f"{batch:>6} " + " ".join(f"{t:9.3f}" if t else f"{'-':>9}" for t in row))


def _jax_ms(w, b, xs):
    try:
        import jax
        import jax.numpy as jjnp
    except ImportError:
        return None
    fn = jax.vmap(lambda w, b, x: jjnp.tanh(w @ x + b), in_axes=(None, None, 0))
    return best_ms(lambda *args: fn(*args).block_until_ready(), w, b, xs)


if __name__ == "__main__":
    main()
