"""Multi-process pmap over MPI: collective bandwidth through funcjax against raw mpi4py on the
same buffers, and the data-parallel training step on 2 processes against 1.

    python benchmarks/bench_distributed.py      # launches itself with mpiexec -n 2

Each process has one device (``FUNCJAX_NUM_CPU_DEVICES=1``) so the cross-process stage is
the whole collective. funcjax's time includes pmap's dispatch, the per-call check that every
process runs the same program and the closing status exchange (one 16-byte and one 8-byte
``Allreduce``), the cross-process stage (numpy views of the devices' buffers) and the result;
mpi4py's is the bare call on numpy arrays from the input into a separate output, as pmap's
result is (``Allreduce(x, out)``, ``Allgather``, ``Sendrecv`` to the next rank).
Minimum over repeats; the machine is shared.
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
    return best_pair(fn, fn, comm, nbytes)[0]


def best_pair(a, b, comm, nbytes=0):
    """Minimum times of ``a`` and ``b``, run in turn (a b a b ...) so that the machine's load,
    which drifts (it is shared), weighs on both alike."""
    a()
    b()
    times = ([], [])
    for _ in range(max(5, min(200, (1 << 25) // max(nbytes, 1)))):
        for fn, t in zip((a, b), times):
            comm.Barrier()
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def collectives():
    from mpi4py import MPI

    import funcjax as jax
    from funcjax import lax
    jax.distributed.initialize()
    comm, me = MPI.COMM_WORLD, jax.process_index()
    peer = (me + 1) % comm.size, (me - 1) % comm.size
    psum = jax.pmap(lambda v: lax.psum(v, "i"), "i")
    gather = jax.pmap(lambda v: lax.all_gather(v, "i"), "i")
    n = comm.size
    ring = jax.pmap(lambda v: lax.ppermute(v, "i", [(k, (k + 1) % n) for k in range(n)]), "i")
    rows = []
    for nbytes in SIZES:
        x = np.ones((1, nbytes // 4), np.float32)
        out = np.empty((comm.size,) + x.shape[1:], np.float32)
        pairs = [  # (mpi4py on the same buffers, funcjax)
            (lambda x=x, out=out: comm.Allreduce(x, out[:1], MPI.SUM),
             lambda x=x: psum(x).block_until_ready()),
            (lambda x=x, out=out: comm.Allgather(x, out),
             lambda x=x: gather(x).block_until_ready()),
            (lambda x=x, out=out: comm.Sendrecv(x, peer[0], 0, out[:1], peer[1], 0),
             lambda x=x: ring(x).block_until_ready())]
        rows.append((nbytes, [best_pair(raw, fj, comm, nbytes) for raw, fj in pairs]))
    if me == 0:
        print("| buffer | Allreduce(x, out) | psum | ratio | Allgather | all_gather | ratio | "
              "Sendrecv | ppermute (ring) | ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for nbytes, times in rows:
            cells = [f"{raw * 1e6:.0f} us | {fj * 1e6:.0f} us | {fj / raw:.2f}"
                     for raw, fj in times]
            print(f"| {_size(nbytes)} | " + " | ".join(cells) + " |")
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
