"""Multi-process pmap, launched from pytest with ``mpiexec -n P`` (the ``distributed`` extra,
part of ``dev``, installs mpi4py and mpich). Each run has a timeout, so a hang fails the test
instead of blocking the suite. The worker scripts check values against numpy."""

import os
import pathlib
import shutil
import subprocess
import sys

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


@pytest.mark.parametrize("processes,devices", [(2, 2), (3, 1)])
def test_every_collective_matches_numpy(processes, devices):
    ok(mpiexec("mpi_collectives.py", processes, devices), processes)
