"""Runs seeded fuzz programs in worker subprocesses, many per process, so that a process abort
(a segfault or SIGABRT in native code) is a reported failure with its program, not a dead run.

    python tests/fuzz/driver.py FIRST LAST [--chunk N]     (prints failures and a summary)

When a worker dies, the seed it was running (the first without a result line) is rerun alone
to confirm, reported as a crash, and the run carries on from the seed after it.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(HERE, "worker.py")


def _run_worker(seeds, timeout):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        done = subprocess.run([sys.executable, WORKER, *map(str, seeds)], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT, env=env)
        out, err, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, code = "timeout", "timeout"
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return results, code, err


def program_text(seed):
    sys.path.insert(0, HERE)
    from programs import generate
    g, source = generate(seed)
    return f"# seed {seed}, mode {g.mode}, inputs {g.inputs}\n{source}"


def run_seeds(seeds, seconds_per_program=30):
    """Results (dicts with ``seed``, ``ok`` and, on failure, ``kind``/``error``) for ``seeds``.
    A worker gets ``seconds_per_program`` per seed (generous: the machine may be loaded); a
    worker still running then counts as hung on the seed it was running."""
    seeds, results = list(seeds), []
    while seeds:
        timeout = 60 + seconds_per_program * len(seeds)
        got, code, err = _run_worker(seeds, timeout)
        results.extend(got)
        seeds = seeds[len(got):]
        if not seeds:
            break
        crashed = seeds.pop(0)  # the worker died (or hung) while running this program
        alone, code1, err1 = _run_worker([crashed], 60 + seconds_per_program)
        if alone:  # it passes alone: the crash depends on what ran before; report both
            err1 = f"crashed only after other programs (exit {code}): {err[-1500:]}"
        results.append({"seed": crashed, "ok": False, "kind": f"crash (exit {code})",
                        "error": err1[-3000:] if isinstance(err1, str) else str(err1)})
    return results


def describe(result):
    text = result.get("program") or program_text(result["seed"])
    return (f"--- seed {result['seed']}: {result['kind']}\n{text}{result.get('error', '')}\n"
            f"{result.get('trace', '')}")


def main(argv):
    first, last = int(argv[0]), int(argv[1])
    chunk = int(argv[3]) if len(argv) > 3 and argv[2] == "--chunk" else 200
    totals = {"ok": 0, "failed": 0, "slp_fallback": 0}
    for lo in range(first, last, chunk):
        for r in run_seeds(range(lo, min(last, lo + chunk))):
            totals["ok" if r["ok"] else "failed"] += 1
            totals["slp_fallback"] += r.get("slp_fallback", 0)
            if r.get("slp_fallback"):
                print(f"slp fallback at seed {r['seed']}", flush=True)
            if not r["ok"]:
                print(describe(r), flush=True)
        print(f"# seeds {first}..{min(last, lo + chunk)}: {totals}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
