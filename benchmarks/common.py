"""What the benchmark scripts share: ``--quick`` (small sizes, for CI and ``python -m
benchmarks --quick``) read the same way everywhere, and wall-clock timing of repeated calls.

Scripts import it as ``common``: run as ``python benchmarks/NAME.py`` (also by the runner and
by the scripts that re-run themselves under a Python with JAX), their folder is first on
``sys.path``."""

import sys
import time

import numpy as np


def quick():
    return "--quick" in sys.argv[1:]


def call_seconds(fn, repeat, warm_up=False):
    """The wall time of each of ``repeat`` calls of ``fn``, after one untimed call (which
    traces and compiles) if ``warm_up``."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn, repeat, warm_up=False):
    return float(np.median(call_seconds(fn, repeat, warm_up)))


def best_seconds(fn, repeat, warm_up=False):
    """The fastest call: on a loaded shared machine the figure least disturbed by others."""
    return float(np.min(call_seconds(fn, repeat, warm_up)))
