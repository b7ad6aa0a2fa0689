"""Runs every benchmark and records its tables: ``python -m benchmarks [--quick] [--only NAME]``.

Each script in this folder runs in its own process (``--quick`` is passed to the scripts that
take it); progress goes to the terminal. The printed output of each lands in the results file
(``benchmarks/RESULTS.md``, or ``benchmarks/results/RESULTS-quick.md`` with ``--quick``)
between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` markers, under the command and a
description of the machine; text outside the markers is kept, so notes written around the
tables survive a new run.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def scripts():
    return sorted(f[:-3] for f in os.listdir(HERE)
                  if f.endswith(".py") and not f.startswith("_") and f != "common.py")


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    import llvmlite
    import numpy
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, llvmlite {llvmlite.__version__}")


def run(name, quick):
    path = os.path.join(HERE, name + ".py")
    with open(path) as f:
        takes_quick = "--quick" in f.read()
    command = [sys.executable, path] + (["--quick"] if quick and takes_quick else [])
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    return done, time.perf_counter() - start, " ".join(["python", f"benchmarks/{name}.py"]
                                                        + command[2:])


def update(text, name, section):
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (what CI runs)")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--out", help="the results file to update")
    args = parser.parse_args(argv)
    names = args.only or scripts()
    unknown = sorted(set(names) - set(scripts()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; there are {scripts()}")
    out = args.out or os.path.join(HERE, *(("results", "RESULTS-quick.md") if args.quick
                                          else ("RESULTS.md",)))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    text = open(out).read() if os.path.exists(out) else "# Benchmark results\n"
    failed = []
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name} ...", end=" ", flush=True)
        done, seconds, command = run(name, args.quick)
        status = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
        print(f"{status} in {seconds:.1f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
            print(done.stderr[-2000:], file=sys.stderr)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = (f"## {name}\n\nCommand: `{command}` ({stamp}, {seconds:.0f} s)  \n"
                   f"Machine: {machine()}\n\n{done.stdout.strip() or '(no output)'}\n")
        if done.returncode != 0:
            section += f"\n**failed**: exit {done.returncode}\n"
        text = update(text, name, section)
        with open(out, "w") as f:
            f.write(text)
    print(f"results written to {os.path.relpath(out, ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
