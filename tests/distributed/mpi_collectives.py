"""Run under ``mpiexec -n P``: every collective of a multi-process pmap against numpy on the
global data (which every process can build: it is seeded). Process 0 prints ``OK [ranks]``
once every process has passed."""

import sys

import numpy as np
from mpi4py import MPI

import funcjax as jax
import funcjax.experimental.multihost_utils  # noqa: F401
from funcjax import lax

# "uneven": process p has 1 + p % 2 devices (MPI's "v" collectives); else
# FUNCJAX_NUM_CPU_DEVICES each
jax.distributed.initialize(local_device_ids=range(1 + MPI.COMM_WORLD.rank % 2)
                           if sys.argv[1:] == ["uneven"] else None)
P, me, L = jax.process_count(), jax.process_index(), jax.local_device_count()
N = jax.device_count()
assert N == sum(1 for _ in jax.devices()) and len(jax.local_devices()) == L
assert [d.process_index for d in jax.local_devices()] == [me] * L
assert sorted(d.id for d in jax.devices()) == list(range(N))
first = jax.local_devices()[0].id  # this process's devices are first .. first + L - 1
assert jax.devices()[first] is jax.local_devices()[0]

rng = np.random.default_rng(0)
x = rng.standard_normal((N, 3, 4)).astype(np.float32)
ints = rng.integers(-50, 50, (N, 5)).astype(np.int32)
mine = slice(first, first + L)


def check(name, got, want, exact=False):
    got = np.asarray(got)
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def local(global_value):
    return global_value[mine]


f = jax.pmap(lambda v: (lax.psum(v, "i"), lax.pmean(v, "i"), lax.pmax(v, "i"),
                        lax.pmin(v, "i")), axis_name="i")
s, m, hi, lo = f(x[mine])
check("psum", s, np.broadcast_to(x.sum(0), (L, 3, 4)))
# the result is this process's shards only, as JAX's multi-process pmap returns (it turns its
# global outputs back into host-local arrays): fully addressable, on the local devices
assert s.shape == (L, 3, 4) and s.is_fully_addressable
assert list(s.sharding.devices) == jax.local_devices()
assert [sh.device.process_index for sh in s.addressable_shards] == [me] * L
check("pmean", m, np.broadcast_to(x.mean(0), (L, 3, 4)))
check("pmax", hi, np.broadcast_to(x.max(0), (L, 3, 4)), exact=True)
check("pmin", lo, np.broadcast_to(x.min(0), (L, 3, 4)), exact=True)
check("psum int", jax.pmap(lambda v: lax.psum(v, "i"), "i")(ints[mine]),
      np.broadcast_to(ints.sum(0), (L, 5)), exact=True)
check("pmax int", jax.pmap(lambda v: lax.pmax(v, "i"), "i")(ints[mine]),
      np.broadcast_to(ints.max(0), (L, 5)), exact=True)
h = x.astype(np.float16)  # summed in float32 (MPI has no float16), as the native combine does
check("psum float16", jax.pmap(lambda v: lax.psum(v, "i"), "i")(h[mine]),
      np.broadcast_to(h.astype(np.float32).sum(0).astype(np.float16), (L, 3, 4)), exact=True)
check("axis_index", jax.pmap(lambda v: lax.axis_index("i") + 0 * v[0, 0], "i")(x[mine]),
      np.arange(N)[mine].astype(np.float32), exact=True)
check("axis size", jax.pmap(lambda v: lax.psum(1, "i") + 0 * v[0, 0], "i")(x[mine]),
      np.full(L, N, np.float32), exact=True)
for axis in (0, 1):
    check(f"all_gather axis={axis}",
          jax.pmap(lambda v, axis=axis: lax.all_gather(v, "i", axis=axis), "i")(x[mine]),
          np.broadcast_to(np.stack(list(x), axis), (L,) + np.stack(list(x), axis).shape),
          exact=True)
    check(f"all_gather tiled axis={axis}",
          jax.pmap(lambda v, axis=axis: lax.all_gather(v, "i", axis=axis, tiled=True),
                   "i")(x[mine]),
          np.broadcast_to(np.concatenate(list(x), axis),
                          (L,) + np.concatenate(list(x), axis).shape), exact=True)
perm = [(k, (k + 1) % N) for k in range(N)]
check("ppermute ring", jax.pmap(lambda v: lax.ppermute(v, "i", perm), "i")(x[mine]),
      local(np.roll(x, 1, 0)), exact=True)
half = [(0, N - 1)]  # only one pair: the other devices receive zeros
want = np.zeros_like(x)
want[N - 1] = x[0]
check("ppermute partial", jax.pmap(lambda v: lax.ppermute(v, "i", half), "i")(x[mine]),
      local(want), exact=True)
y = rng.standard_normal((N, N * 2, 3)).astype(np.float32)
check("psum_scatter tiled",
      jax.pmap(lambda v: lax.psum_scatter(v, "i", tiled=True), "i")(y[mine]),
      local(y.sum(0).reshape(N, 2, 3)))
z = rng.standard_normal((N, N, 3)).astype(np.float32)
check("psum_scatter", jax.pmap(lambda v: lax.psum_scatter(v, "i"), "i")(z[mine]),
      local(z.sum(0)))
check("all_to_all", jax.pmap(lambda v: lax.all_to_all(v, "i", 0, 0), "i")(z[mine]),
      local(np.swapaxes(z, 0, 1)), exact=True)
w3 = rng.standard_normal((N, 3, 2 * N)).astype(np.float32)
check("all_to_all split 1 concat 0 tiled",
      jax.pmap(lambda v: lax.all_to_all(v, "i", 1, 0, tiled=True), "i")(w3[mine]),
      local(np.stack([np.concatenate([w3[m][:, 2 * g:2 * g + 2] for m in range(N)], 0)
                      for g in range(N)])), exact=True)
check("all_to_all split 1 concat 1",
      jax.pmap(lambda v: lax.all_to_all(v, "i", 0, 1), "i")(z[mine]),
      local(np.stack([np.stack([z[m][g] for m in range(N)], 1) for g in range(N)])),
      exact=True)
check("psum_scatter dimension 1 tiled",
      jax.pmap(lambda v: lax.psum_scatter(v, "i", scatter_dimension=1, tiled=True),
               "i")(w3[mine]),
      local(np.stack([w3.sum(0)[:, 2 * g:2 * g + 2] for g in range(N)])))
swap = [(k, k ^ 1) for k in range(N - N % 2)]  # pairs within a process and across
check("ppermute swap", jax.pmap(lambda v: lax.ppermute(v, "i", swap), "i")(ints[mine]),
      local(np.stack([ints[k ^ 1] if k < N - N % 2 else np.zeros(5, np.int32)
                      for k in range(N)])), exact=True)
c = (x + 1j * x[::-1]).astype(np.complex64)
check("psum complex", jax.pmap(lambda v: lax.psum(v, "i"), "i")(c[mine]),
      np.broadcast_to(c.sum(0), (L, 3, 4)))
check("psum_scatter complex", jax.pmap(lambda v: lax.psum_scatter(v, "i"), "i")(
    (z + 1j).astype(np.complex64)[mine]), local((z + 1j).sum(0)))
big = rng.standard_normal((N, 50_000)).astype(np.float64)
check("psum large", jax.pmap(lambda v: lax.psum(v, "i"), "i")(big[mine]),
      np.broadcast_to(big.sum(0), (L, 50_000)))
# a collective inside grad inside pmap: the data-parallel gradient
w = np.float32(0.5)
g = jax.pmap(lambda xs: lax.pmean(jax.grad(lambda w: (w * xs).sum() ** 2)(w), "i"), "i")
want = np.mean([2 * (w * x[k]).sum() * x[k].sum() for k in range(N)])
check("pmean of grad", g(x[mine]), np.full(L, want, np.float32))
# calling again reuses the compiled program
check("psum again", f(x[mine] * 2)[0], np.broadcast_to(2 * x.sum(0), (L, 3, 4)))
mh = jax.experimental.multihost_utils
check("process_allgather", mh.process_allgather({"a": np.full(2, me)})["a"],
      np.repeat(np.arange(P)[:, None], 2, 1), exact=True)
check("process_allgather tiled", mh.process_allgather(np.arange(me + 1.0), tiled=True),
      np.concatenate([np.arange(r + 1.0) for r in range(P)]), exact=True)
check("broadcast_one_to_all", mh.broadcast_one_to_all(np.float32(me + 5)), 5, exact=True)
check("broadcast from the last", mh.broadcast_one_to_all(np.arange(3) * me,
                                                         is_source=me == P - 1),
      np.arange(3) * (P - 1), exact=True)
mh.sync_global_devices("end")
done = jax.experimental.multihost_utils.process_allgather(np.int32(me))
jax.distributed.shutdown()
if me == 0:  # one writer: the processes' output would interleave
    print(f"OK {sorted(done.tolist())}", flush=True)
