"""Multi-process pmap, launched from pytest with ``mpiexec -n P`` (the ``distributed`` extra,
part of ``dev``, installs mpi4py and mpich). Each run has a timeout, so a hang fails the test
instead of blocking the suite. The worker scripts check values against numpy."""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent
TIMEOUT = 120


def mpiexec(script, processes, devices, *args, timeout=TIMEOUT):
    """Runs ``script`` on ``processes`` MPI processes of ``devices`` devices each."""
    launcher = shutil.which("mpiexec") or str(pathlib.Path(sys.executable).parent / "mpiexec")
    env = dict(os.environ, FUNCJAX_NUM_CPU_DEVICES=str(devices),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("XLA_FLAGS", None)
    return subprocess.run([launcher, "-n", str(processes), sys.executable, str(HERE / script),
                           *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def ok(result, processes):
    """Process 0 printed that every process passed."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK {list(range(processes))}" in result.stdout, result.stdout + result.stderr


def test_mpi_is_installed():
    """The launcher must start here (no silent skip): mpi4py + mpich come with the dev extra."""
    import mpi4py  # noqa: F401
    r = mpiexec("mpi_hello.py", 2, 1)
    assert r.returncode == 0 and "ranks [0, 1] of 2" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("processes,devices", [(2, 2), (3, 1), (3, "uneven")])
def test_every_collective_matches_numpy(processes, devices):
    """``uneven``: processes with 1, 2, 1 devices (MPI's ``v`` collectives)."""
    args = (1, "uneven") if devices == "uneven" else (devices,)
    ok(mpiexec("mpi_collectives.py", processes, *args), processes)


def test_transformations_of_a_multi_process_pmap_match_one_process():
    """grad, jvp, vmap and jit of a pmap whose devices span 2 processes."""
    ok(mpiexec("mpi_transforms.py", 2, 2), 2)


def _example():
    return importlib.import_module("funcjax.tools.distributed_training")


def _numpy_training(ex):
    """The example's training in plain numpy, on the whole global batch (backprop by hand)."""
    p = {k: v.astype(np.float64) for k, v in ex.init_params(np.random.default_rng(0)).items()}
    for step in range(ex.STEPS):
        x, y = ex.data(step)
        h = np.tanh(x @ p["w1"] + p["b1"])
        dout = 2 * (h @ p["w2"] + p["b2"] - y) / y.size
        dpre = dout @ p["w2"].T * (1 - h ** 2)
        grads = {"w2": h.T @ dout, "b2": dout.sum(0), "w1": x.T @ dpre, "b1": dpre.sum(0)}
        p = {k: p[k] - ex.LEARNING_RATE * grads[k] for k in p}
    return p


def test_training_example_same_params_on_1x2_2x1_2x2(tmp_path):
    ex = _example()
    want = _numpy_training(ex)
    results = {}
    for processes, devices in [(1, 2), (2, 1), (2, 2)]:
        out = tmp_path / f"{processes}x{devices}.npz"
        r = mpiexec(str(ROOT / "funcjax" / "tools" / "distributed_training.py"), processes, devices,
                    "--out", out)
        assert r.returncode == 0, r.stdout + r.stderr
        results[processes, devices] = dict(np.load(out))
    for config, params in results.items():
        for name, value in params.items():
            np.testing.assert_allclose(value, want[name], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{config} {name}")
            np.testing.assert_allclose(value, results[1, 2][name], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{config} {name} vs 1x2")


def test_exception_on_one_process_ends_all_naming_it():
    r = mpiexec("mpi_faults.py", 2, 1, "raise", timeout=60)
    assert r.returncode != 0
    assert "process 1 of 2 failed" in r.stderr and "a failure on process 1" in r.stderr, \
        r.stderr


def test_mismatched_programs_are_reported_on_every_process_and_recoverable():
    r = mpiexec("mpi_faults.py", 2, 2, "mismatch", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("run different programs") == 2 and "recovered" in r.stdout, r.stdout


def test_an_error_inside_a_call_raises_on_every_process_at_once_and_is_recoverable():
    """Process 1 fails inside the exchange stage, then with a failed device; no timeout is
    set, so a peer left waiting would hang the run until the test's timeout."""
    r = mpiexec("mpi_faults.py", 2, 2, "caught", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for fault, own in (("stage", "ValueError: injected on 1"),
                       ("device", "DeviceFailureError")):
        assert f"{fault}: process 0 raised ProcessFailedError: pmap(<lambda>): process 1 of 2 " \
               "failed" in r.stdout, r.stdout
        assert f"{fault}: process 1 raised its own {own.split(':')[0]}" in r.stdout, r.stdout
    assert "recovered" in r.stdout, r.stdout


def test_a_stuck_process_ends_the_run_after_the_timeout():
    start = time.monotonic()
    r = mpiexec("mpi_faults.py", 2, 1, "stuck", timeout=60)
    assert r.returncode != 0 and time.monotonic() - start < 50
    assert "process 0 of 2 waited more than 2" in r.stderr, r.stderr
