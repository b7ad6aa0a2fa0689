"""The accuracy behind ``bench_jitperf.py``'s erf_inv row: jitted float32 ``erfinv`` of funcjax
and of JAX (when installed) against scipy's float64 ``erfinv`` rounded to float32, as the
largest error in float32 ulps over 2e6 inputs spread across (-1, 1).

    PYTHONPATH=. python benchmarks/erfinv_accuracy.py
"""

import json
import sys

import numpy as np
from common import jax_figures


def inputs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.uniform(-0.99, 0.99, 10**6).astype(np.float32),
                           np.linspace(-0.999999, 0.999999, 10**6, dtype=np.float32)])


def max_ulps(got, x):
    from scipy.special import erfinv
    want = erfinv(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / ulp))


def main():
    x = inputs()
    if "--jax-only" in sys.argv:
        import jax
        got = np.asarray(jax.jit(jax.scipy.special.erfinv)(x))
        print(json.dumps({"erfinv": max_ulps(got, x)}))
        return
    import funcjax
    import funcjax.scipy.special
    mine = max_ulps(np.asarray(funcjax.jit(funcjax.scipy.special.erfinv)(x)), x)
    theirs = jax_figures(__file__).get("erfinv")
    print(f"float32 erfinv, largest error over 2e6 inputs in (-1, 1): funcjax {mine:.2f} ulp"
          + ("" if theirs is None else f", JAX {theirs:.2f} ulp"))


if __name__ == "__main__":
    main()
