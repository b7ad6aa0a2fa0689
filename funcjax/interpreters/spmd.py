"""The spmd interpreter: staging the program one device of a ``pmap`` runs.

pmap traces its function once, on per-device values (the mapped axis removed), into a jaxpr
that every device runs. This is the staging interpreter with one addition: the trace binds the
mapped axis's name and size (``axis_data``, as vmap's trace does), so collectives inside see
the axis, check their names against it and record its size. The per-device jaxpr keeps the
collectives as equations; the backend turns them into exchanges between the devices' threads
(``backend/llvm/lower_collectives.py``), and the batching interpreter gives them vmap's
meaning when a pmap is nested where it cannot run on devices of its own.
"""

from funcjax.core.trace import new_trace
from funcjax.interpreters.staging import StagingTrace


class SpmdStagingTrace(StagingTrace):
    def __init__(self, parent, axis_data, description="pmap", arg_names=None):
        super().__init__(parent, description, arg_names)
        self.axis_data = axis_data


def trace_per_device(flat_fun, in_avals, axis_data, description="pmap", arg_names=None):
    """Stages ``flat_fun`` on per-device types with ``axis_data`` bound: a ``ClosedJaxpr``."""
    with new_trace(SpmdStagingTrace, axis_data, description, arg_names) as trace:
        args = [trace.new_arg(a) for a in in_avals]
        outs = flat_fun(*args)
        return trace.finish(list(outs))
