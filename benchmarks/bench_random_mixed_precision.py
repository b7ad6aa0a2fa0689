"""Random-number throughput and the memory saved by mixed precision.

    PYTHONPATH=. python benchmarks/bench_random_mixed_precision.py

Part 1 times ``uniform`` and ``normal`` for 1e6 float32 values: numpy's default generator
(PCG64, a different algorithm: the reference speed), funcjax eagerly and under jit, and JAX
(when ``$FUNCJAX_JAX_PYTHON`` or /work/jaxenv/bin/python exists, run in a subprocess).
Part 2 compiles one training step of an MLP (batch 512, 1024 wide) in float32 and with the
float16 compute policy and prints ``memory_analysis()`` of both.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from common import quick

import funcjax
import funcjax.numpy as jnp
from funcjax import mixed_precision as mp
from funcjax import nn, random
from funcjax.tools.residuals import saved_residuals

N = 100_000 if quick() else 1_000_000


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


JAX_SCRIPT = f"""
import time, json, jax
from jax import random
k = random.PRNGKey(0)
out = {{}}
for name, f in (("uniform", jax.jit(lambda k: random.uniform(k, ({N},)))),
                ("normal", jax.jit(lambda k: random.normal(k, ({N},))))):
    f(k).block_until_ready()
    ts = []
    for _ in range(5):
        t = time.perf_counter(); f(k).block_until_ready(); ts.append(time.perf_counter() - t)
    out[name] = min(ts)
print(json.dumps(out))
"""


def jax_times():
    python = os.environ.get("FUNCJAX_JAX_PYTHON", "/work/jaxenv/bin/python")
    if not os.path.exists(python) or quick():
        return {}
    done = subprocess.run([python, "-c", JAX_SCRIPT], capture_output=True, text=True,
                          timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {}


def random_throughput():
    key = random.PRNGKey(0)
    rng = np.random.default_rng(0)
    jax = jax_times()
    rows = [("uniform", lambda: rng.random(N, np.float32), random.uniform),
            ("normal", lambda: rng.standard_normal(N, np.float32), random.normal)]
    print(f"1) {N:.0e} float32 samples (best of 5)")
    print("| sampler | numpy PCG64 | funcjax eager | funcjax jit | jax jit | jit/np | jit/jax |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, np_fn, fj in rows:
        t_np = best(np_fn)
        t_eager = best(lambda fj=fj: fj(key, (N,)), repeat=3)
        compiled = funcjax.jit(lambda k, fj=fj: fj(k, (N,)))
        compiled(key)
        t_jit = best(lambda compiled=compiled: compiled(key))
        t_jax = jax.get(name)
        jax_col = f"{t_jax * 1e3:.1f} ms" if t_jax else "-"
        ratio = f"{t_jit / t_jax:.2f}" if t_jax else "-"
        print(f"| {name} | {t_np * 1e3:.1f} ms | {t_eager * 1e3:.1f} ms | {t_jit * 1e3:.1f} ms"
              f" | {jax_col} | {t_jit / t_np:.2f} | {ratio} |")


def training_step_memory():
    policies = {"float32": mp.get_policy("params=float32,compute=float32,output=float32"),
                "float16 compute": mp.get_policy("params=float32,compute=float16,"
                                                 "output=float32")}
    k1, k2, k3 = random.split(random.PRNGKey(0), 3)
    params = {"w1": nn.initializers.he_normal()(k1, (1024, 1024)), "b1": jnp.zeros(1024),
              "w2": nn.initializers.he_normal()(k2, (1024, 1024)), "b2": jnp.zeros(1024),
              "w3": nn.initializers.glorot_normal()(k3, (1024, 10)), "b3": jnp.zeros(10)}
    x = random.normal(random.PRNGKey(1), (512, 1024))
    y = jnp.eye(10)[random.randint(random.PRNGKey(2), (512,), 0, 10)]
    print("\n2) one jit-compiled training step (loss, grads) of a 1024-1024-1024-10 MLP, "
          "batch 512")
    print("| policy | residuals kept for backward | arguments | outputs | temporaries | "
          "step time |")
    print("|---|---:|---:|---:|---:|---:|")
    stats = {}
    for name, policy in policies.items():
        def loss(p, x, y, policy=policy):
            p, h = policy.cast_to_compute(p), policy.cast_to_compute(x)
            h = nn.relu(mp.matmul(h, p["w1"]) + p["b1"])
            h = nn.relu(mp.matmul(h, p["w2"]) + p["b2"])
            logits = policy.cast_to_output(mp.matmul(h, p["w3"]) + p["b3"])
            return -mp.mean(jnp.sum(nn.log_softmax(logits) * y, axis=-1))
        # The batch is fed in the compute dtype, as a float16 input pipeline would.
        xin = policy.cast_to_compute(x)
        step = funcjax.jit(funcjax.value_and_grad(loss))
        mem = step.lower(params, xin, y).compile().memory_analysis()
        step(params, xin, y)
        t = best(lambda step=step, xin=xin: step(params, xin, y), repeat=3)
        saved = saved_residuals(loss, params, xin, y).total_bytes
        stats[name] = (mem, saved)
        print(f"| {name} | {saved / 2**20:.1f} MiB | "
              f"{mem.argument_size_in_bytes / 2**20:.1f} MiB | "
              f"{mem.output_size_in_bytes / 2**20:.1f} MiB | "
              f"{mem.temp_size_in_bytes / 2**20:.1f} MiB | {t * 1e3:.0f} ms |")
    (a, ra), (b, rb) = stats["float32"], stats["float16 compute"]
    print(f"residuals: {rb / ra:.2f}x of float32's; temporaries: "
          f"{b.temp_size_in_bytes / a.temp_size_in_bytes:.2f}x of float32's")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    random_throughput()
    training_step_memory()
