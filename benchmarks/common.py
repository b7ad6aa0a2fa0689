"""What the benchmark scripts share: ``--quick`` (small sizes, for CI and ``python -m
benchmarks --quick``) read the same way everywhere."""

import sys


def quick():
    return "--quick" in sys.argv[1:]
