"""Lowering of host callbacks: native code calls back into Python (``host_calls``).

Each (callback, input types) pair gets one trampoline, which copies the inputs (the callback
may keep them; the workspace is reused) and writes the checked results into the output
buffers. The symbols name Python objects of this process, so modules with callbacks are never
written to the persistent cache.
"""

import threading

from funcjax.backend.llvm import host_calls
from funcjax.backend.llvm.lowering import register
from funcjax.ops.callbacks import callback_p

_lock = threading.Lock()


def _runner(callback, in_avals):
    ins = [host_calls.Layout(a) for a in in_avals]
    outs = [(k, host_calls.Layout(a)) for k, a in enumerate(callback.result_avals,
                                                            len(in_avals))]

    def run(table):
        results = callback(*[layout.view(table[k]).copy() for k, layout in enumerate(ins)])
        for (k, layout), result in zip(outs, results):
            if layout.raw is not None:
                layout.view(table[k])[...] = result
    return run


def _symbol(callback, in_avals):
    """The symbol compiled code calls for ``callback`` on inputs of types ``in_avals``."""
    key = tuple(in_avals)
    with _lock:
        if callback.native is None:
            callback.native = {}
        symbol = callback.native.get(key)
        if symbol is None:
            symbol = callback.native[key] = host_calls.bind(_runner(callback, in_avals),
                                                            cacheable=False)
    return symbol


@register("buffer", callback_p)
def _callback(ctx, eqn, ins, outs):
    buffers = [ctx.as_buffer(x) for x in ins] + list(outs)
    host_calls.emit_call(ctx, _symbol(eqn.params["callback"], [x.aval for x in eqn.inputs]),
                         buffers)
