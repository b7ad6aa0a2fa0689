"""Structured control flow for the IR builder: counted loops and loop nests.

llvmlite has ``if_then``/``if_else`` but no loops. Loops count in i64 from a start to a stop
with a phi in the header, the canonical form LLVM's vectoriser recognises.
"""

import contextlib

from llvmlite import ir

from funcjax.backend.llvm.types import I64, i64


def _as_i64(value):
    return value if isinstance(value, ir.Value) else i64(value)


@contextlib.contextmanager
def for_range(b, stop, start=0, step=1):
    """``for i in range(start, stop, step)`` (step a positive or negative Python int, or a
    positive i64 IR value)."""
    pre = b.block
    fn = pre.function
    header = fn.append_basic_block("loop")
    body = fn.append_basic_block("body")
    done = fn.append_basic_block("done")
    b.branch(header)
    b.position_at_end(header)
    i = b.phi(I64, "i")
    i.add_incoming(_as_i64(start), pre)
    upward = isinstance(step, ir.Value) or step > 0
    going = b.icmp_signed("<" if upward else ">", i, _as_i64(stop))
    b.cbranch(going, body, done)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, _as_i64(step), flags=("nsw",)), b.block)
    b.branch(header)
    b.position_at_end(done)


@contextlib.contextmanager
def loop_nest(b, shape):
    """Row-major loops over ``shape``; yields the index list (empty for a scalar)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(for_range(b, n)) for n in shape]


@contextlib.contextmanager
def while_true(b):
    """A loop whose body decides when to stop: yields ``(keep_going_block, exit_block)``.

    The body ends by branching to one of them (``b.cbranch(cond, again, out)``)."""
    fn = b.block.function
    again = fn.append_basic_block("while")
    out = fn.append_basic_block("endwhile")
    b.branch(again)
    b.position_at_end(again)
    yield again, out
    b.position_at_end(out)


def index_at(ndim, dims, values):
    """A full index of ``ndim`` entries holding ``values[k]`` at axis ``dims[k]``."""
    full = [None] * ndim
    for d, i in zip(dims, values):
        full[d] = i
    return full

