"""The accuracy behind ``bench_jitperf.py``'s erf_inv row: jitted float32 ``erfinv`` of funcjax
and of JAX (when installed) against scipy's float64 ``erfinv`` rounded to float32, as the
largest error in float32 ulps over 2e6 inputs spread across (-1, 1).

    PYTHONPATH=. python benchmarks/erfinv_accuracy.py

``--fit`` prints the polynomials of funcjax's float32 lowering (``lower_special.ERFINV32``):
erfinv(y) / y in t = (w - mid) / half, w = -log(1 - y^2), least squares in Chebyshev
polynomials against scipy's float64 erfinv, expanded as powers, and their largest relative
error on the fitting points.
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


def fit():
    """(mid, half, coefficients lowest first, largest relative error) for w in [0, 5), then
    [5, 16.1] (every float32 below 1)."""
    from numpy.polynomial import chebyshev
    from scipy.special import erfinv
    out = []
    for lo, hi, degree in ((0.0, 5.0, 18), (5.0, 16.1, 20)):
        y = np.sqrt(-np.expm1(-np.linspace(lo, hi, 40001)))
        y = y[y > 0]
        w = -np.log((1 - y) * (1 + y))  # from the rounded y, as the lowering computes it
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        t, ratio = (w - mid) / half, erfinv(y) / y
        cheb = chebyshev.chebfit(t, ratio, degree)
        error = np.max(np.abs(chebyshev.chebval(t, cheb) / ratio - 1))
        out.append((mid, half, [float(c) for c in chebyshev.cheb2poly(cheb)], float(error)))
    return out


def main():
    if "--fit" in sys.argv:
        for mid, half, coefficients, error in fit():
            print(f"mid {mid}, half {half}, largest relative error {error:.1e}")
            print(coefficients)
        return
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
