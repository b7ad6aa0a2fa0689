"""The standing differential fuzzer: seeded random programs over the primitive catalogue
(see programs.py), each checked eager vs jit vs vmap-against-a-loop and, for float64
programs, grad vs jit(grad) vs grad(jit) vs finite differences (see worker.py). Programs run in
worker subprocesses (driver.py), so a native crash fails the test with the program printed.

A fixed seed set runs in CI; ``FUNCJAX_FUZZ_N=5000`` (and ``FUNCJAX_FUZZ_START``) runs more,
as does ``python tests/fuzz/driver.py FIRST LAST``.
"""

import os

import numpy as np
import pytest
from driver import describe, run_seeds

import funcjax.numpy as jnp

START = int(os.environ.get("FUNCJAX_FUZZ_START", "0"))
N = int(os.environ.get("FUNCJAX_FUZZ_N", "120"))


def _report(results):
    failed = [r for r in results if not r["ok"]]
    return f"{len(failed)} of {len(results)} programs failed:\n" + "\n".join(
        describe(r) for r in failed[:10])


@pytest.mark.parametrize("part", [0, 1])
def test_random_programs(part):
    half = (N + 1) // 2
    seeds = range(START + part * half, START + min(N, (part + 1) * half))
    results = run_seeds(seeds)
    assert sorted(r["seed"] for r in results) == list(seeds)
    assert all(r["ok"] for r in results), _report(results)


def test_a_crashing_program_is_isolated_and_reported(monkeypatch):
    monkeypatch.setenv("FUNCJAX_FUZZ_ABORT_AT", "7")
    results = {r["seed"]: r for r in run_seeds([5, 6, 7, 8])}
    assert [results[s]["ok"] for s in (5, 6, 8)] == [True, True, True]
    crash = results[7]
    assert not crash["ok"] and crash["kind"].startswith("crash")
    text = describe(crash)
    assert "seed 7" in text and "def f(" in text


def test_seeds_that_found_bugs_pass():
    # 700783: a 4x4 matmul whose finite products overflow (NaN or -inf by summation order);
    # 700925, 710082: argmax of an empty array (now never generated: it is an error, as in JAX).
    results = run_seeds([700783, 700925, 710082])
    assert all(r["ok"] for r in results), _report(results)


def test_an_overflowing_sum_is_order_dependent_but_nothing_else_is():
    from worker import Mismatch, compare_sum
    big = np.float32(3.4028235e38)
    a = np.array([[np.inf, big, big, big], [1.0, 2.0, np.inf, 0.0]], np.float32)
    b = np.array([[-1.2, 0.5, 0.34, 2.8], [0.0, 1.0, 1.0, 1.0]], np.float32)
    env = {"jnp": jnp, "a": a, "b": b}
    # (a @ b.T)[0, 0] sums -inf, 1.7e38, 1.2e38 and 9.5e38 (which overflows when rounded):
    # -inf with fused multiply-adds (numpy's BLAS), NaN with rounded products (the loops).
    fused = np.array([[-np.inf, np.nan], [np.inf, np.inf]], np.float32)
    rounded = np.array([[np.nan, np.nan], [np.inf, np.inf]], np.float32)
    compare_sum(rounded, fused, "a @ b.T", env, 2e-4, "t")
    wrong = [[[np.inf, np.nan], [np.inf, np.inf]],    # the wrong infinity
             [[-np.inf, -np.inf], [np.inf, np.inf]],  # inf * 0 is NaN in any order
             [[-np.inf, np.nan], [np.nan, np.inf]]]   # no overflow here: inf exactly
    for w in wrong:
        with pytest.raises(Mismatch):
            compare_sum(np.array(w, np.float32), fused, "a @ b.T", env, 2e-4, "t")
    # The same for sums: np.sum of row 0 is NaN (a partial sum overflows to +inf), a
    # vectorised sum -inf; row 1 has no finite overflow and sums to NaN in any order.
    big, inf = 3e38, np.inf
    x = np.array([[big, -inf, big, big, big, 1, 1, 1, 1, 1, -inf, 1, 1, big, big, big],
                  [inf, -inf, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]], np.float32)
    for expr in ("jnp.sum(x, axis=1)", "jnp.mean(x, axis=1)"):
        env = {"jnp": jnp, "x": x}
        compare_sum(np.array([np.nan] * 2, np.float32), np.array([-inf, np.nan], np.float32),
                    expr, env, 2e-4, "t")
        for w in ([inf, np.nan], [-inf, -inf]):
            with pytest.raises(Mismatch):
                compare_sum(np.array(w, np.float32), np.array([-inf, np.nan], np.float32),
                            expr, env, 2e-4, "t")
