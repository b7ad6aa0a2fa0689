"""Run under ``mpiexec -n 2`` with one argument, the fault to cause (see test_mpi.py)."""

import sys
import time

import numpy as np

import funcjax as jax
from funcjax import lax

fault = sys.argv[1]
jax.distributed.initialize(timeout=2 if fault == "stuck" else None)
me, L = jax.process_index(), jax.local_device_count()
psum = jax.pmap(lambda v: lax.psum(v, "i"), "i")

if fault == "raise":
    if me == 1:
        raise ValueError("a failure on process 1")
    psum(np.ones((L, 3), np.float32))  # process 0 waits for process 1 here
elif fault == "mismatch":
    try:
        psum(np.ones((L, 3 + me), np.float32))  # different shapes: caught, not deadlocked
    except RuntimeError as e:
        print(f"caught on {me}: {e}", flush=True)
    total = psum(np.ones((L, 3), np.float32))  # and the run goes on
    assert float(np.asarray(total)[0, 0]) == jax.device_count()
    jax.experimental.multihost_utils.sync_global_devices("after mismatch")
    if me == 0:
        print("recovered", flush=True)
elif fault == "caught":  # errors raised inside a call on process 1; no timeout is set
    from funcjax.backend.llvm import spmd_cross, spmd_program
    ring = jax.pmap(lambda v: lax.ppermute(lax.psum(v, "i"), "i",
                                           [(k, (k + 1) % jax.device_count())
                                            for k in range(jax.device_count())]), "i")
    faults = {"stage": lambda: spmd_cross.inject_failure(ValueError("injected on 1")),
              "device": lambda: spmd_program.inject_failure(1)}
    for name, inject in faults.items():
        try:
            if me == 1:
                with inject():
                    ring(np.ones((L, 3), np.float32))
            else:
                ring(np.ones((L, 3), np.float32))
        except jax.distributed.ProcessFailedError as e:
            assert e.process == 1, e
            print(f"{name}: process {me} raised ProcessFailedError: {e}", flush=True)
        except (ValueError, spmd_program.DeviceFailureError) as e:
            print(f"{name}: process {me} raised its own {type(e).__name__}: {e}", flush=True)
        total = ring(np.ones((L, 3), np.float32))  # and the run goes on
        assert float(np.asarray(total)[0, 0]) == jax.device_count()
    if me == 0:
        print("recovered", flush=True)
elif fault == "stuck":
    if me == 1:
        time.sleep(60)  # never joins the collective: process 0's deadline ends the run
    psum(np.ones((L, 3), np.float32))
