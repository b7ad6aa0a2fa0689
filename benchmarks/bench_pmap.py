"""pmap benchmarks: data-parallel MLP step, dispatch cost, collective bandwidth.

    PYTHONPATH=. python benchmarks/bench_pmap.py [--quick] [--no-jax]

Runs with 4 virtual devices (set here, before funcjax starts). JAX columns come from
/work/jaxenv/bin/python in a subprocess when it exists (funcjax never imports jax).
"""

import os
import subprocess
import sys
import time

os.environ.setdefault("FUNCJAX_NUM_CPU_DEVICES", "4")

import numpy as np  # noqa: E402

import funcjax  # noqa: E402
from funcjax import lax  # noqa: E402
from funcjax.backend.llvm import spmd_pool  # noqa: E402
from funcjax.backend.llvm.spmd_program import _single_threaded_blas  # noqa: E402
from funcjax.tools import parallel_training as pt  # noqa: E402

JAX_PYTHON = "/work/jaxenv/bin/python"
QUICK = "--quick" in sys.argv


def timeit(fn, min_time=0.3, max_reps=2000):
    fn()
    times, start = [], time.perf_counter()
    while (time.perf_counter() - start < min_time or len(times) < 5) and len(times) < max_reps:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def mlp_step():
    sizes, batch = (784, 512, 512, 10), 256
    params = pt.init_mlp(sizes)
    x, y = pt.make_data(batch, sizes)
    lr = 0.01
    t_jit = timeit(lambda: funcjax.block_until_ready(pt.train_step(params, x, y, lr)), 1.0)
    with _single_threaded_blas():
        t_jit1 = timeit(lambda: funcjax.block_until_ready(pt.train_step(params, x, y, lr)), 1.0)
    best = min(t_jit, t_jit1)
    rows = [("MLP step 784-512-512-10, batch 256: jit, 1 device (default BLAS threads)", t_jit,
             None),
            ("MLP step: jit, 1 device, BLAS limited to 1 thread", t_jit1, None)]
    for n in (2, 4):
        state = [funcjax.device_put_replicated(params, funcjax.devices()[:n])]
        xs, ys = x.reshape(n, -1, 784), y.reshape(n, -1)

        def step(state=state, xs=xs, ys=ys):  # params donated: each step writes in place
            state[0] = funcjax.block_until_ready(pt.data_parallel_step(state[0], xs, ys, lr))
        t = timeit(step, 1.0)
        rows.append((f"MLP step: pmap, {n} devices, 1 BLAS thread each (speed-up vs the faster "
                     f"jit {best / t:.2f}x)", t, None))
    return rows


def dispatch():
    x = np.zeros((2, 8), np.float32)
    f = funcjax.pmap(lambda v: v + 1)
    g = funcjax.jit(lambda v: v + 1)
    xa = funcjax.numpy.asarray(x)
    return [("pmap dispatch x+1 f32[2,8]", timeit(lambda: f(xa)), timeit(lambda: x + 1)),
            ("jit dispatch x+1 f32[2,8] (for scale)", timeit(lambda: g(xa)), None)]


COLLECTIVES = {
    "psum": lambda v: lax.psum(v, "i"),
    "all_gather": lambda v: lax.all_gather(v, "i"),
    "ppermute": None,
}


def collectives():
    """Time per call and GB/s (bytes written into the results per second); the reference is a
    memcpy of the same bytes (all the results' bytes, one thread, into an existing buffer)."""
    rows = []
    sizes = [1 << 10, 1 << 16, 1 << 20, 1 << 24] + ([] if QUICK else [1 << 26])
    for n in (2, 4):
        for name in COLLECTIVES:
            fn = COLLECTIVES[name] or (lambda v, n=n: lax.ppermute(
                v, "i", [(k, (k + 1) % n) for k in range(n)]))
            f = funcjax.pmap(fn, axis_name="i")
            for nbytes in sizes:
                out_bytes = nbytes * n * (n if name == "all_gather" else 1)
                if out_bytes > (1 << 28):
                    continue  # the gathered results would not fit comfortably
                x = funcjax.numpy.asarray(np.ones((n, nbytes // 4), np.float32))
                t = timeit(lambda f=f, x=x: f(x), 0.3 if nbytes < (1 << 24) else 1.0, 200)
                src = np.ones(out_bytes // 4, np.float32)
                dst = np.empty_like(src)
                t_copy = timeit(lambda d=dst, s=src: np.copyto(d, s), 0.2, 200)
                rows.append((f"{name} {n} dev, {_human(nbytes)}/device ({out_bytes / t / 1e9:.2f}"
                             f" GB/s; memcpy {out_bytes / t_copy / 1e9:.2f} GB/s)", t, t_copy))
                if nbytes == 1 << 10:
                    spmd_pool.enabled = False
                    t_off = timeit(lambda f=f, x=x: f(x), 0.3, 200)
                    spmd_pool.enabled = True
                    rows.append((f"{name} {n} dev, 1KiB/device, threads started per call "
                                 "(no pool)", t_off, t_copy))
    return rows


def _human(n):
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n}{unit}"
        n //= 1024
    return f"{n}GiB"


JAX_CODE = r"""
import os, time, json
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
import numpy as np, jax, jax.numpy as jnp
def timeit(fn, min_time=1.0):
    fn(); ts=[]; s=time.perf_counter()
    while time.perf_counter()-s < min_time or len(ts) < 5:
        t=time.perf_counter(); fn(); ts.append(time.perf_counter()-t)
    return float(np.median(ts))
rng=np.random.default_rng(0); sizes=(784,512,512,10)
params=[(rng.standard_normal((m,n)).astype(np.float32)/np.sqrt(m), np.zeros(n,np.float32))
        for m,n in zip(sizes[:-1],sizes[1:])]
x=rng.standard_normal((256,784)).astype(np.float32); y=rng.integers(0,10,256)
def loss(p,x,y):
    for w,b in p[:-1]: x=jnp.maximum(x@w+b,0)
    w,b=p[-1]; l=x@w+b; l=jax.nn.log_softmax(l); return -jnp.mean(l[jnp.arange(len(y)),y])
step=jax.jit(lambda p,x,y: jax.tree.map(lambda a,g:a-0.01*g,p,jax.grad(loss)(p,x,y)))
out={"jit": timeit(lambda: jax.block_until_ready(step(params,x,y)))}
pstep=jax.pmap(lambda p,x,y: jax.tree.map(lambda a,g:a-0.01*g,p,
               jax.lax.pmean(jax.grad(loss)(p,x,y),"b")), axis_name="b")
for n in (2,4):
    rp=jax.tree.map(lambda a: jnp.stack([a]*n), params)
    xs,ys=x.reshape(n,-1,784),y.reshape(n,-1)
    out[f"pmap{n}"]=timeit(lambda: jax.block_until_ready(pstep(rp,xs,ys)))
f=jax.pmap(lambda v: v+1); z=jnp.zeros((2,8))
out["dispatch"]=timeit(lambda: jax.block_until_ready(f(z)))
print(json.dumps(out))
"""


def jax_column():
    if "--no-jax" in sys.argv or not os.path.exists(JAX_PYTHON):
        return {}
    import json
    try:
        out = subprocess.run([JAX_PYTHON, "-c", JAX_CODE], capture_output=True, text=True,
                             timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # an optional comparison: report and go on
        print(f"(JAX column skipped: {e})")
        return {}


def main():
    jax = jax_column()
    print(f"{funcjax.device_count()} virtual devices on {os.cpu_count()} cores\n")
    print("| workload | funcjax | numpy / memcpy of the result bytes | fj/np |")
    print("|---|---:|---:|---:|")
    for label, t, ref in mlp_step() + dispatch() + collectives():
        ratio = f"{t / ref:.2f}" if ref else ""
        print(f"| {label} | {t * 1e6:.1f} us | {'' if ref is None else f'{ref * 1e6:.1f} us'} "
              f"| {ratio} |")
    if jax:
        print("\nJAX (same machine, same run):")
        print(f"| MLP step jit 1 device | {jax['jit'] * 1e6:.0f} us |")
        for n in (2, 4):
            print(f"| MLP step pmap {n} devices | {jax[f'pmap{n}'] * 1e6:.0f} us "
                  f"(vs its jit {jax['jit'] / jax[f'pmap{n}']:.2f}x) |")
        print(f"| pmap dispatch x+1 f32[2,8] | {jax['dispatch'] * 1e6:.1f} us |")


if __name__ == "__main__":
    main()
