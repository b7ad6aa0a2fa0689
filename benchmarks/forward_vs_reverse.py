"""Forward against reverse mode on f: R^n -> R^m, as n and m vary over orders of magnitude.

Run from the repository root: ``python benchmarks/forward_vs_reverse.py`` (``--quick`` for a
small sweep). ``f(x) = W2 tanh(W1 x + b)`` with 64 hidden units. For each (n, m) it times, in
one run, eagerly and under jit: ``jacfwd`` (n jvp passes, batched), ``jacrev`` (m transposed
passes and the residuals), one ``jvp`` and one ``vjp`` product, and ``jacobian(mode="auto")``;
it records the peak memory each Jacobian allocates (tracemalloc sees numpy's buffers) and the
theory (n passes against m passes) from ``explain_jacobian``. JAX's jacfwd/jacrev run in a
subprocess when a Python with JAX is given (``--jax-python``, default ``/work/jaxenv/bin/python``
if it exists). Writes ``benchmarks/results/forward_vs_reverse.{csv,json,png}`` (the plot needs
matplotlib, the ``notebooks`` extra) and prints a markdown table.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.tools import explain_jacobian

HIDDEN = 64
HERE = os.path.dirname(os.path.abspath(__file__))


def model(n, m, seed=0):
    rng = np.random.default_rng(seed)
    w1 = (rng.normal(size=(HIDDEN, n)) / np.sqrt(n)).astype(np.float32)
    b = rng.normal(size=HIDDEN).astype(np.float32)
    w2 = (rng.normal(size=(m, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    x = rng.normal(size=n).astype(np.float32)
    return w1, b, w2, x


def best_time(fn, budget=0.2, repeat=3):
    """The fastest of ``repeat`` timings, each of as many calls as fit in ``budget`` seconds."""
    jax.block_until_ready(fn())  # warm up: traces and compiles
    start = time.perf_counter()
    jax.block_until_ready(fn())
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, min(1000, int(budget / once)))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            jax.block_until_ready(fn())
        times.append((time.perf_counter() - start) / number)
    return min(times)


def peak_bytes(fn):
    tracemalloc.start()
    jax.block_until_ready(fn())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(n, m, budget=0.2):
    w1, b, w2, x = model(n, m)
    w1, b, w2, x = map(jnp.asarray, (w1, b, w2, x))

    def f(x):
        return w2 @ jnp.tanh(w1 @ x + b)
    v, u = jnp.ones(n), jnp.ones(m)
    fwd, rev = jax.jacfwd(f), jax.jacrev(f)
    auto = jax.jacobian(f, mode="auto")
    jvp_product = lambda x: jax.jvp(f, (x,), (v,))[1]  # noqa: E731
    vjp_product = lambda x: jax.vjp(f, x)[1](u)[0]  # noqa: E731
    explanation = explain_jacobian(f, x)
    row = {"n": n, "m": m, "auto_choice": explanation.choice,
           "theory_fwd_s": explanation["fwd"].seconds, "theory_rev_s": explanation["rev"].seconds,
           "residual_bytes": explanation["rev"].residual_bytes}
    for name, fn in (("jacfwd", fwd), ("jacrev", rev), ("auto", auto), ("jvp", jvp_product),
                     ("vjp", vjp_product)):
        row[f"eager_{name}_s"] = best_time(lambda fn=fn: fn(x), budget)
        jitted = jax.jit(fn)
        row[f"jit_{name}_s"] = best_time(lambda jitted=jitted: jitted(x), budget)
    row["eager_jacfwd_peak_bytes"] = peak_bytes(lambda: fwd(x))
    row["eager_jacrev_peak_bytes"] = peak_bytes(lambda: rev(x))
    np.testing.assert_allclose(fwd(x), rev(x), rtol=1e-4, atol=1e-4)
    return row


JAX_SCRIPT = r"""
import json, sys, time
import numpy as np, jax, jax.numpy as jnp
jax.config.update("jax_platforms", "cpu")
HIDDEN = 64
out = []
for n, m in json.loads(sys.argv[1]):
    rng = np.random.default_rng(0)
    w1 = (rng.normal(size=(HIDDEN, n)) / np.sqrt(n)).astype(np.float32)
    b = rng.normal(size=HIDDEN).astype(np.float32)
    w2 = (rng.normal(size=(m, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32)
    x = jnp.asarray(rng.normal(size=n).astype(np.float32))
    f = lambda x: w2 @ jnp.tanh(w1 @ x + b)
    row = {"n": n, "m": m}
    for name, fn in (("jacfwd", jax.jit(jax.jacfwd(f))), ("jacrev", jax.jit(jax.jacrev(f)))):
        fn(x).block_until_ready()
        t0 = time.perf_counter(); fn(x).block_until_ready(); once = time.perf_counter() - t0
        number = max(1, min(1000, int(0.2 / max(once, 1e-7))))
        best = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(number):
                fn(x).block_until_ready()
            best.append((time.perf_counter() - t0) / number)
        row[f"jax_jit_{name}_s"] = min(best)
    out.append(row)
print(json.dumps(out))
"""


def jax_rows(python, sizes):
    if not python or not os.path.exists(python):
        return {}
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false "
               "intra_op_parallelism_threads=1")
    done = subprocess.run([python, "-c", JAX_SCRIPT, json.dumps(sizes)], capture_output=True,
                          text=True, env=env, timeout=1800)
    if done.returncode != 0:
        print("JAX comparison failed:", done.stderr.strip().splitlines()[-1:], file=sys.stderr)
        return {}
    return {(r["n"], r["m"]): r for r in json.loads(done.stdout)}


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[notebooks]'): no plot",
              file=sys.stderr)
        return None
    ns, ms = sorted({r["n"] for r in rows}), sorted({r["m"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for m, style in ((ms[0], "-"), (ms[-1], "--")):
        sel = sorted((r for r in rows if r["m"] == m), key=lambda r: r["n"])
        axes[0].loglog([r["n"] for r in sel], [r["jit_jacfwd_s"] for r in sel], "o" + style,
                       color="#4c78a8", label=f"jacfwd, m={m}")
        axes[0].loglog([r["n"] for r in sel], [r["jit_jacrev_s"] for r in sel], "s" + style,
                       color="#54a24b", label=f"jacrev, m={m}")
    axes[0].set_xlabel("inputs n")
    axes[0].set_ylabel("seconds per Jacobian (jit)")
    axes[0].set_title("time as the number of inputs grows")
    axes[0].legend(fontsize=8)
    grid = np.array([[next(r for r in rows if r["n"] == n and r["m"] == m)
                      for n in ns] for m in ms])
    ratio = np.vectorize(lambda r: np.log10(r["jit_jacfwd_s"] / r["jit_jacrev_s"]))(grid)
    limit = max(abs(ratio).max(), 0.1)
    image = axes[1].imshow(ratio, origin="lower", cmap="coolwarm", vmin=-limit, vmax=limit)
    axes[1].set_xticks(range(len(ns)), ns)
    axes[1].set_yticks(range(len(ms)), ms)
    axes[1].set_xlabel("inputs n")
    axes[1].set_ylabel("outputs m")
    axes[1].set_title("log10(jacfwd / jacrev time); letter = auto's choice")
    for i in range(len(ms)):
        for j in range(len(ns)):
            axes[1].text(j, i, "F" if grid[i, j]["auto_choice"] == "fwd" else "R",
                         ha="center", va="center")
    fig.colorbar(image, ax=axes[1])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small sweep (for CI)")
    parser.add_argument("--jax-python", default="/work/jaxenv/bin/python",
                        help="a Python with JAX installed, for the comparison columns")
    parser.add_argument("--out", help="folder for the CSV, JSON and PNG (default "
                        "benchmarks/results, or benchmarks/results/quick with --quick)")
    args = parser.parse_args(argv)
    args.out = args.out or os.path.join(HERE, "results", *(["quick"] if args.quick else []))
    sizes = [2, 200] if args.quick else [1, 10, 100, 1000]
    grid = [(n, m) for n in sizes for m in sizes]
    rows = []
    for k, (n, m) in enumerate(grid):
        print(f"[{k + 1}/{len(grid)}] n={n} m={m}", file=sys.stderr, flush=True)
        rows.append(measure(n, m, 0.02 if args.quick else 0.2))
    by_size = {} if args.quick else jax_rows(args.jax_python, grid)
    for r in rows:
        r.update(by_size.get((r["n"], r["m"]), {}))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "forward_vs_reverse.json"), "w") as f:
        json.dump(rows, f, indent=1)
    keys = sorted({k for r in rows for k in r})
    with open(os.path.join(args.out, "forward_vs_reverse.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, os.path.join(args.out, "forward_vs_reverse.png"))
    print(table(rows))
    return rows


def table(rows):
    has_jax = any("jax_jit_jacfwd_s" in r for r in rows)
    head = ("| n | m | jit jacfwd | jit jacrev | eager jacfwd | eager jacrev | jit jvp | jit vjp "
            "| fwd/rev | auto picks | auto right? | residuals |" + (" JAX jacfwd | JAX jacrev |"
                                                                  if has_jax else ""))
    lines = [head, "|" + "|".join(["---:"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        measured = "fwd" if r["jit_jacfwd_s"] < r["jit_jacrev_s"] else "rev"
        close = abs(np.log(r["jit_jacfwd_s"] / r["jit_jacrev_s"])) < np.log(1.25)
        right = "yes" if measured == r["auto_choice"] else ("tie" if close else "no")
        line = (f"| {r['n']} | {r['m']} | {_us(r['jit_jacfwd_s'])} | {_us(r['jit_jacrev_s'])} | "
                f"{_us(r['eager_jacfwd_s'])} | {_us(r['eager_jacrev_s'])} | "
                f"{_us(r['jit_jvp_s'])} | {_us(r['jit_vjp_s'])} | "
                f"{r['jit_jacfwd_s'] / r['jit_jacrev_s']:.2f} | {r['auto_choice']} | {right} | "
                f"{r['residual_bytes']:,} B |")
        if has_jax:
            line += f" {_us(r.get('jax_jit_jacfwd_s'))} | {_us(r.get('jax_jit_jacrev_s'))} |"
        lines.append(line)
    return "\n".join(lines)


def _us(s):
    return "-" if s is None else f"{s * 1e6:.1f} us"


if __name__ == "__main__":
    main()
