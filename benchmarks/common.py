"""What the benchmark scripts share: ``--quick`` (small sizes, for CI and ``python -m
benchmarks --quick``) read the same way everywhere, and wall-clock timing of repeated calls.

Scripts import it as ``common``: run as ``python benchmarks/NAME.py`` (also by the runner and
by the scripts that re-run themselves under a Python with JAX), their folder is first on
``sys.path``."""

import json
import os
import subprocess
import sys
import time

import numpy as np


def quick():
    return "--quick" in sys.argv[1:]


def call_seconds(fn, repeat, warm_up=False, number=1):
    """The wall time per call of ``fn`` in each of ``repeat`` runs of ``number`` back-to-back
    calls (more than one for calls too short to time singly), after one untimed call (which
    traces and compiles) if ``warm_up``."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return times


def median_seconds(fn, repeat, warm_up=False, number=1):
    return float(np.median(call_seconds(fn, repeat, warm_up, number)))


def best_seconds(fn, repeat, warm_up=False, number=1):
    """The fastest run: on a loaded shared machine the figure least disturbed by others."""
    return float(np.min(call_seconds(fn, repeat, warm_up, number)))


def one_core():
    """``preexec_fn`` of a JAX subprocess that must run on one core. The XLA flags alone do not
    keep JAX 0.10 there: on a quiet 2-core machine its matmul 1024 ran at twice one core's
    peak. Pinning the process to one CPU does."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def jax_figures(script, args=(), one_thread=True, flag="--jax-only"):
    """Runs ``script --jax-only *args`` under the Python that has JAX (``FUNCJAX_JAX_PYTHON``,
    default /work/jaxenv/bin/python), pinned to one thread unless ``one_thread`` is false, and
    returns the JSON dict it prints last; ``{}`` when there is no such Python or the run fails
    (JAX is an optional comparison). ``flag`` replaces ``--jax-only``."""
    python = os.environ.get("FUNCJAX_JAX_PYTHON", "/work/jaxenv/bin/python")
    if not os.path.exists(python):
        return {}
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if one_thread:
        env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                            "intra_op_parallelism_threads=1")
    env.pop("PYTHONPATH", None)
    cmd = [python, os.path.abspath(script), flag, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/tmp",
                          preexec_fn=one_core if one_thread else None)
    if done.returncode:
        print("JAX run failed:", done.stderr[-2000:], file=sys.stderr)
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])
