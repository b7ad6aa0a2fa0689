"""Which process this is in a multi-process run, and the MPI communicator between them.

One process (``count == 1``, no communicator) until ``funcjax.distributed.initialize``
fills this in; everything below the API reads it from here, so layers keep pointing down.
"""


class _State:
    comm = None          # an mpi4py communicator once initialized
    index = 0            # this process's rank
    count = 1            # number of processes
    local_counts = (1,)  # devices per process, by rank (set at initialize)


state = _State()


def multi_process():
    return state.comm is not None and state.count > 1


def check_same(what, value):
    """Raises on every process (never deadlocks) unless all processes pass an equal
    ``value``: detects programs that differ between ranks before they meet in a collective."""
    if not multi_process():
        return
    values = state.comm.allgather(value)
    differing = [r for r, v in enumerate(values) if v != values[0]]
    if differing:
        raise RuntimeError(
            f"{what}: the processes run different programs (process {differing[0]} has "
            f"{values[differing[0]]!r}, process 0 has {values[0]!r}). Every process must call "
            "the same pmaps, in the same order, with arguments of the same shapes and dtypes.")
