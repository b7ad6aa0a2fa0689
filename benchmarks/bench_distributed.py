"""Multi-process pmap over MPI: collective bandwidth through funcjax against raw mpi4py on the
same buffers, and the data-parallel training step on 2 processes against 1.

    python benchmarks/bench_distributed.py      # launches itself with mpiexec -n 2

Each process has one device (``FUNCJAX_NUM_CPU_DEVICES=1``) so the cross-process stage is
the whole collective. funcjax's time includes pmap's dispatch, the local stage (numpy views
of the devices' buffers) and writing each device's result; mpi4py's is the bare in-place
``Allreduce`` / ``Allgather`` on a numpy array. Minimum over repeats; the machine is shared.
"""

import os
import pathlib
import subprocess
import sys
import time

import numpy as np

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "").split(",") if s] or [
    1 << 10, 1 << 16, 1 << 20, 1 << 24, 1 << 26]  # bytes: 1 KiB .. 64 MiB


def best(fn, comm, nbytes=0):
    """Minimum time of a fixed number of runs (the same on every process: the collectives
    must pair up)."""
    fn()
    times = []
    for _ in range(max(3, min(100, (1 << 24) // max(nbytes, 1)))):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def collectives():
    from mpi4py import MPI

    import funcjax as jax
    from funcjax import lax
    jax.distributed.initialize()
    comm, me = MPI.COMM_WORLD, jax.process_index()
    psum = jax.pmap(lambda v: lax.psum(v, "i"), "i")
    gather = jax.pmap(lambda v: lax.all_gather(v, "i"), "i")
    rows = []
    for nbytes in SIZES:
        x = np.ones((1, nbytes // 4), np.float32)
        out = np.empty((comm.size,) + x.shape[1:], np.float32)
        raw_r = best(lambda x=x: comm.Allreduce(MPI.IN_PLACE, x, MPI.SUM), comm, nbytes)
        fj_r = best(lambda x=x: psum(x).block_until_ready(), comm, nbytes)
        raw_g = best(lambda x=x, out=out: comm.Allgather(x, out), comm, nbytes)
        fj_g = best(lambda x=x: gather(x).block_until_ready(), comm, nbytes)
        rows.append((nbytes, raw_r, fj_r, raw_g, fj_g))
    if me == 0:
        print("| buffer | Allreduce mpi4py | psum funcjax | ratio | Allgather mpi4py | "
              "all_gather funcjax | ratio |")
        print("|---|---|---|---|---|---|---|")
        for nbytes, raw_r, fj_r, raw_g, fj_g in rows:
            def bw(t, nbytes=nbytes):
                return f"{t * 1e6:9.0f} us ({nbytes / t / 2**30:5.2f} GiB/s)"
            print(f"| {_size(nbytes)} | {bw(raw_r)} | {bw(fj_r)} | {fj_r / raw_r:.2f} | "
                  f"{bw(raw_g)} | {bw(fj_g)} | {fj_g / raw_g:.2f} |")
    step_time(jax, comm)


def step_time(jax, comm):
    """The example's training step on a global batch of 8192, split over the processes."""
    from funcjax.tools import distributed_training as ex
    n = jax.device_count()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8192 // n, 3)).astype(np.float32)
    y = np.sin(x.sum(-1, keepdims=True))
    params = jax.tree_util.tree_map(lambda p: p[None], ex.init_params(rng))
    step = jax.pmap(ex.train_step, axis_name="batch")
    me = jax.process_index()
    t = best(lambda: jax.block_until_ready(step(params, x[me:me + 1], y[me:me + 1])), comm)
    if me == 0:
        print(f"STEP {comm.size} {t}")


def _size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def main():
    if os.environ.get("FUNCJAX_BENCH_WORKER"):
        collectives()
        return
    env = dict(os.environ, FUNCJAX_NUM_CPU_DEVICES="1", FUNCJAX_BENCH_WORKER="1",
               PYTHONPATH=str(pathlib.Path(__file__).parent.parent))
    steps = {}
    for processes in (2, 1):
        r = subprocess.run(["mpiexec", "-n", str(processes), sys.executable, __file__],
                           env=env, capture_output=True, text=True, timeout=600)
        if r.returncode:
            sys.exit(r.stdout + r.stderr)
        for line in r.stdout.splitlines():
            if line.startswith("STEP"):
                steps[processes] = float(line.split()[2])
            elif processes == 2:
                print(line)
    print(f"\ndata-parallel step, global batch 8192: 1 process x 1 device "
          f"{steps[1] * 1e3:.2f} ms, 2 processes x 1 device {steps[2] * 1e3:.2f} ms "
          f"(speed-up {steps[1] / steps[2]:.2f}x)")


if __name__ == "__main__":
    main()
