"""The cross-process stage of pmap's collectives (multi-process runs, ``funcjax.distributed``).

With several processes, a collective in the per-device program is: every local device
publishes its operand and result addresses in the comm's slots (as in ``spmd_runtime``), a
barrier, then device 0 alone calls ``funcjax_spmd_cross(comm, id)``: this Python stage reads
the local operands as numpy views of the devices' own buffers (no copies), combines them,
runs the MPI exchange on numpy buffers (through mpi4py's buffer protocol) and writes each
local device's result into its result buffer; a last barrier releases the devices. Device
``d`` of process ``p`` is global device ``first(p) + d``, so results equal one process
holding all the devices (sums may round differently: MPI adds per-process partial sums).

The exchange per collective moves only what the receivers need:

- psum/pmean/pmax/pmin: the local devices are combined, then ``Allreduce`` (in place on the
  device's own buffers); psum_scatter: ``Reduce_scatter`` of the rows each process keeps.
- all_gather: ``Allgatherv`` (straight into the result when gathering along axis 0).
- ppermute: ``Isend``/``Irecv`` of each pair whose ends are on different processes, from
  the source device's buffer into the target device's (zero-copy); pairs within a process
  are copied.
- all_to_all: ``Alltoallv`` of the blocks each device sends each other device (one message
  per pair of processes, only the blocks it needs).

Failures: an exception in a process's stage (or a failed local device) does not stop that
process's part in the exchanges: it records the error and takes part in this and the call's
later exchanges with stand-in buffers, so no peer is left waiting. ``call`` ends each pmap
call with a status exchange: the failed process raises its error, every other one a
``ProcessFailedError`` naming it, and the next call works. Only an error inside MPI itself
ends every process (``processes.end_all``).
"""

import contextlib
import ctypes
import functools
import weakref

import llvmlite.binding as llvm
import numpy as np

from funcjax.backend.llvm import compiler, host_calls, spmd_runtime
from funcjax.core import processes
from funcjax.ops import collectives as ops

CROSS = "funcjax_spmd_cross"
_stages = weakref.WeakValueDictionary()  # comm address -> CrossStage (its program owns it)
_MPI_TYPES = "fdilqIQLbBhH"  # numpy type codes MPI reduces natively
_injected = []  # for tests: errors the next stages on this process raise (inject_failure)


@contextlib.contextmanager
def inject_failure(error):
    """For tests: the next cross-process step on this process raises ``error`` before its
    exchange (as a bug or a failed allocation in the stage would)."""
    _injected.append(error)
    try:
        yield
    finally:
        _injected.clear()


class CrossStage:
    """The collectives of one compiled program, by id, and how to run each across
    processes."""

    def __init__(self, local_size):
        s = processes.state
        self.n, self.comm, self.counts = local_size, s.comm, s.local_counts
        self.offset = sum(s.local_counts[:s.index])
        self.total = sum(s.local_counts)
        self.owner = [p for p, c in enumerate(s.local_counts) for _ in range(c)]
        self.even = len(set(s.local_counts)) == 1  # the plain (not "v") MPI calls apply
        self.collectives = []
        self.error = None  # the first error of the running call on this process
        self.in_mpi = False
        self.digest = None  # of the program's signature (checked on every call)
        self._scratch = {}

    def add(self, eqn, in_aval, out_aval):
        self.collectives.append((eqn.primitive, eqn.params, in_aval, out_aval))
        return len(self.collectives) - 1

    def attach(self, comm_address):
        """Binds the stage to the program's comm: its slot table and abort flag."""
        _stages[comm_address] = self
        self.slots = np.frombuffer((ctypes.c_int64 * (2 * self.n)).from_address(
            comm_address + spmd_runtime.SLOTS), np.int64).reshape(self.n, 2)
        self.aborted = ctypes.c_int64.from_address(comm_address + spmd_runtime.ABORTED)
        self.views = [({}, {}) for _ in self.collectives]  # address -> numpy view

    def call(self, what, signature, run, *args):
        """``run(*args)`` (one pmap call of the program) between a check that every process
        runs the same program and a status exchange: raises on every process if any
        failed. A program without collectives needs neither (no process waits for
        another)."""
        if not self.collectives:
            return run(*args)
        with processes.deadline(what):
            if self.digest is None:
                self.digest = processes.digest(signature)
            processes.check_same(what, signature, self.digest)
            error = outs = None
            try:
                outs = run(*args)
            except BaseException as e:  # noqa: BLE001 -- raised below, after the exchange
                error = e
            if self.error is not None:  # the stage's own error first: it caused the rest
                error, self.error = self.error, None
            failed = processes.exchange_status(what, error)
            processes.raise_if_failed(what, error, failed)
            return outs

    def step(self, k):
        """Runs collective ``k`` across processes; if this process has failed in this call,
        takes part with stand-in buffers."""
        prim, params, in_aval, out_aval = self.collectives[k]
        self.in_mpi = False
        if self.error is None and not self.aborted.value:
            try:
                if _injected:
                    raise _injected.pop()
                in_views, out_views = self.views[k]
                self._run(prim, params, [_view(in_views, a, in_aval) for a in self.slots[:, 0]],
                          [_view(out_views, a, out_aval) for a in self.slots[:, 1]])
                return
            except BaseException as e:  # noqa: BLE001 -- raised at the end of the call
                if self.in_mpi:
                    raise
                self.error = e
                if self.in_mpi is None:  # failed after its exchange: nothing owed
                    return
        stand_in = np.zeros(in_aval.shape, in_aval.dtype)
        self._run(prim, params, [stand_in] * self.n,
                  [np.empty(out_aval.shape, out_aval.dtype) for _ in range(self.n)])

    @contextlib.contextmanager
    def mpi(self):
        """Marks the exchange itself: an error before it is this process's failure (it then
        takes part with stand-ins), one inside it ends every process."""
        self.in_mpi = True
        yield _mpi()
        self.in_mpi = None

    def _run(self, prim, params, srcs, outs):
        if prim in _REDUCE_OPS:
            self._reduce(srcs, prim, outs[0])
            for o in outs[1:]:
                o[...] = outs[0]
        elif prim is ops.psum_scatter_p:
            self._psum_scatter(srcs, outs, params["scatter_dimension"], params["tiled"])
        elif prim is ops.all_gather_p and params["axis"] == 0:  # the layout MPI gives
            self._gather(srcs, outs[0].reshape((self.total,) + srcs[0].shape))
            for o in outs[1:]:
                o[...] = outs[0]
        elif prim is ops.all_gather_p:
            every = self._gather(srcs, self._buffer("gather", (self.total,) + srcs[0].shape,
                                                    srcs[0].dtype))
            join = np.concatenate if params["tiled"] else np.stack
            for o in outs:
                o[...] = join(list(every), params["axis"])
        elif prim is ops.ppermute_p:
            self._ppermute(srcs, outs, params["perm"])
        else:
            self._all_to_all(srcs, outs, params["split_axis"], params["concat_axis"],
                             params["tiled"])

    def _buffer(self, name, shape, dtype):
        """A scratch array kept between calls (no page faults on every call)."""
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._scratch[name] = np.empty(shape, dtype)
        return buf

    def _combine(self, srcs, prim, into=None):
        """The local devices' operands combined (in ``into`` if given)."""
        if len(srcs) == 1 and into is None and _wide(srcs[0].dtype) == srcs[0].dtype:
            return srcs[0]
        acc = into if into is not None else np.empty(srcs[0].shape, _wide(srcs[0].dtype))
        acc[...] = srcs[0]
        for s in srcs[1:]:
            _REDUCE_OPS[prim](acc, s, out=acc)
        return acc

    def _reduce(self, srcs, prim, out):
        """Combines the local operands, then the processes' partial results, into ``out``:
        in place, straight on the devices' buffers, for the types MPI has."""
        native = out.dtype.char in _MPI_TYPES
        if native and len(srcs) == 1:
            with self.mpi() as MPI:
                self.comm.Allreduce(srcs[0], out, getattr(MPI, _MPI_OPS[prim]))
            return
        acc = self._combine(srcs, prim, out if native else None)
        with self.mpi() as MPI:
            if acc.dtype.char in _MPI_TYPES:
                self.comm.Allreduce(MPI.IN_PLACE, acc, getattr(MPI, _MPI_OPS[prim]))
            else:  # dtypes MPI lacks (bool, complex): gathered, then reduced in rank order
                acc = functools.reduce(_REDUCE_OPS[prim], self.comm.allgather(acc))
        if acc is not out:
            out[...] = acc

    def _psum_scatter(self, srcs, outs, dim, tiled):
        """Each process receives, summed over every device, the rows of its own devices:
        ``Reduce_scatter`` of the locally combined operand with the scattered axis first."""
        dtype = srcs[0].dtype
        acc = self._combine(srcs, ops.psum_p)
        if acc.dtype.char not in _MPI_TYPES:  # (bool, complex, float16): reduced whole
            full = np.empty_like(acc)
            self._reduce([acc], ops.psum_p, full)
            rows = np.moveaxis(full, dim, 0)
            block = rows.shape[0] // self.total
            for d, o in enumerate(outs):
                g = self.offset + d
                part = rows[g * block:(g + 1) * block]
                o[...] = np.moveaxis(part, 0, dim) if tiled else part[0]
            return
        rows = np.ascontiguousarray(np.moveaxis(acc, dim, 0))
        per_device = rows.size // self.total
        mine = self._buffer("scatter", (self.n * per_device,), rows.dtype)
        with self.mpi() as MPI:
            if self.even:
                self.comm.Reduce_scatter_block(rows.reshape(-1), mine, MPI.SUM)
            else:
                self.comm.Reduce_scatter(rows.reshape(-1), mine,
                                         [c * per_device for c in self.counts], MPI.SUM)
        block = (rows.shape[0] // self.total,) + rows.shape[1:]
        for d, o in enumerate(outs):
            part = mine[d * per_device:(d + 1) * per_device].reshape(block)
            o[...] = (np.moveaxis(part, 0, dim) if tiled else part[0]).astype(dtype,
                                                                               copy=False)

    def _gather(self, srcs, every):
        """Every global device's operand into ``every`` (shape ``(devices, ...)``)."""
        local = srcs[0] if len(srcs) == 1 else np.stack(srcs)
        item = srcs[0].nbytes
        with self.mpi() as MPI:  # (MPICH's Allgatherv is several times slower: measured)
            if self.even:
                self.comm.Allgather([_bytes(local), MPI.BYTE], [_bytes(every), MPI.BYTE])
            else:
                self.comm.Allgatherv(_bytes(local), [_bytes(every),
                                                     [c * item for c in self.counts],
                                                     _displacements(self.counts, item),
                                                     MPI.BYTE])
        return every

    def _ppermute(self, srcs, outs, perm):
        """Point to point: a message per pair across processes, tagged with its target."""
        first, last = self.offset, self.offset + self.n
        sends, receives, copies = [], [], []
        targets = set()
        for s, t in perm:
            if first <= t < last:
                targets.add(t)
                if first <= s < last:
                    copies.append((s - first, t - first))
                else:
                    receives.append((self.owner[s], t))
            elif first <= s < last:
                sends.append((s - first, self.owner[t], t))
        for d, o in enumerate(outs):
            if first + d not in targets:
                o[...] = 0
        with self.mpi() as MPI:
            requests = [self.comm.Irecv([_bytes(outs[t - first]), MPI.BYTE], source=p, tag=t)
                        for p, t in receives]
            requests += [self.comm.Isend([_bytes(srcs[d]), MPI.BYTE], dest=p, tag=t)
                         for d, p, t in sends]
            for d, t in copies:  # while the messages travel
                outs[t][...] = srcs[d]
            MPI.Request.Waitall(requests)

    def _all_to_all(self, srcs, outs, split, concat, tiled):
        """``Alltoallv``: each device's block for each other device, grouped by process."""
        n, total = self.n, self.total
        stacked = np.stack(srcs)  # (local devices, *shape)
        if tiled:
            shape = stacked.shape
            stacked = stacked.reshape(shape[:1 + split] + (total, shape[1 + split] // total) +
                                      shape[2 + split:])
        send = np.ascontiguousarray(np.moveaxis(stacked, 1 + split, 0))  # (to, from, *block)
        block_shape, block = send.shape[2:], send[0, 0].nbytes if send.size else 0
        recv = self._buffer("all_to_all", (n * total,) + block_shape, send.dtype)
        with self.mpi() as MPI:
            if self.even:
                self.comm.Alltoall([_bytes(send), MPI.BYTE], [_bytes(recv), MPI.BYTE])
            else:
                self.comm.Alltoallv(
                    [_bytes(send), [c * n * block for c in self.counts],
                     _displacements(self.counts, n * block), MPI.BYTE],
                    [_bytes(recv), [c * n * block for c in self.counts],
                     _displacements(self.counts, n * block), MPI.BYTE])
        # from process p: its devices' blocks for each local device, (local, c_p, *block)
        parts, start = [], 0
        for c in self.counts:
            parts.append(recv[start:start + n * c].reshape((n, c) + block_shape))
            start += n * c
        received = np.concatenate(parts, 1)  # (local device, from global device, *block)
        for d, o in enumerate(outs):
            o[...] = (np.concatenate(list(received[d]), concat) if tiled else
                      np.moveaxis(received[d], 0, concat))


def _mpi():
    from mpi4py import MPI
    return MPI


def _bytes(a):
    return a.reshape(-1).view(np.uint8)


def _displacements(counts, unit):
    return [sum(counts[:p]) * unit for p in range(len(counts))]


def _wide(dtype):
    """float16/bfloat16 accumulate in float32, as the native local combine does."""
    return np.float32 if dtype.itemsize == 2 and dtype.kind == "f" or \
        dtype.name == "bfloat16" else dtype


def _view(cache, address, aval):
    """The numpy array of type ``aval`` at ``address`` (a view of the device's buffer; the
    same buffers come back call after call, so the views are kept)."""
    view = cache.get(address)
    if view is None:
        if len(cache) > 64:
            cache.clear()
        raw = (ctypes.c_char * max(aval.nbytes, 1)).from_address(int(address))
        view = cache[address] = np.frombuffer(raw, np.uint8, aval.nbytes).view(
            aval.dtype).reshape(aval.shape)
    return view


_REDUCE_OPS = {ops.psum_p: np.add, ops.pmax_p: np.maximum, ops.pmin_p: np.minimum}
_MPI_OPS = {ops.psum_p: "SUM", ops.pmax_p: "MAX", ops.pmin_p: "MIN"}


def emit_pmap_call(ctx, eqn, ins, outs):
    """A multi-process pmap inside compiled code (a jit, or a transformation staged by
    one): a host call that runs it on the devices as a direct call would."""
    in_layouts = [host_calls.Layout(x.aval) for x in eqn.inputs]
    out_layouts = [host_calls.Layout(o.aval) for o in outs]
    impl, params = eqn.primitive.rule("impl"), eqn.params

    def run(table):
        results = impl(*[layout.view(table[k]) for k, layout in enumerate(in_layouts)],
                       **params)
        for k, (layout, result) in enumerate(zip(out_layouts, results), len(in_layouts)):
            if layout.raw is not None:
                layout.view(table[k])[...] = result
    host_calls.emit_call(ctx, host_calls.bind(run, cacheable=False),
                         [ctx.as_buffer(x) for x in ins] + list(outs))


@ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int64)
def _cross(comm_address, k):
    """Called by device 0's thread (ctypes takes the GIL)."""
    try:
        _stages[comm_address].step(k)
    except BaseException as e:  # noqa: BLE001 -- inside MPI: the peers' state is unknown
        processes.end_all(f"failed inside an MPI exchange of pmap ({type(e).__name__}: {e}); "
                          "ending all processes.")
    return 0


@functools.cache
def bind():
    """Makes ``funcjax_spmd_cross`` resolvable by the programs that call it."""
    with compiler.LOCK:
        llvm.add_symbol(CROSS, ctypes.cast(_cross, ctypes.c_void_p).value)
