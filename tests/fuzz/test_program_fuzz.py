"""The standing differential fuzzer: seeded random programs over the primitive catalogue
(see programs.py), each checked eager vs jit vs vmap-against-a-loop and, for float64
programs, grad vs jit(grad) vs grad(jit) vs finite differences (see worker.py). Programs run in
worker subprocesses (driver.py), so a native crash fails the test with the program printed.

A fixed seed set runs in CI; ``FUNCJAX_FUZZ_N=5000`` (and ``FUNCJAX_FUZZ_START``) runs more,
as does ``python tests/fuzz/driver.py FIRST LAST``.
"""

import os

import pytest
from driver import describe, run_seeds

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
