"""``python -m benchmarks --quick`` runs the benchmarks and writes their tables and files."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_runner_quick_writes_tables_and_files(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\nA note written by hand.\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only",
                           "forward_vs_reverse", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[1/1] forward_vs_reverse ... ok" in done.stdout
    text = out.read_text()
    assert "A note written by hand." in text
    assert "<!-- begin forward_vs_reverse -->" in text and "| n | m |" in text
    assert "Command: `python benchmarks/forward_vs_reverse.py --quick`" in text
    folder = os.path.join(ROOT, "benchmarks", "results", "quick")
    rows = json.load(open(os.path.join(folder, "forward_vs_reverse.json")))
    assert {(r["n"], r["m"]) for r in rows} == {(2, 2), (2, 200), (200, 2), (200, 200)}
    assert all(r["auto_choice"] in ("fwd", "rev") for r in rows)
    # the estimate follows the pass counts where they differ a hundredfold
    choice = {(r["n"], r["m"]): r["auto_choice"] for r in rows}
    assert choice[(2, 200)] == "fwd" and choice[(200, 2)] == "rev"
    assert os.path.exists(os.path.join(folder, "forward_vs_reverse.csv"))
    assert os.path.exists(os.path.join(folder, "forward_vs_reverse.png"))
