"""Structured control flow: higher-order primitives that carry closed sub-jaxprs.

``cond`` (cond.py) picks a branch, ``while`` (loops.py) repeats while a predicate holds, and
``scan`` (scan.py) runs a loop of static length that stacks its per-iteration outputs.
"""

from funcjax.ops.control_flow.cond import cond, cond_p, switch  # noqa: F401
from funcjax.ops.control_flow.loops import fori_loop, while_loop, while_p  # noqa: F401
from funcjax.ops.control_flow.scan import map, scan, scan_p  # noqa: F401, A004
