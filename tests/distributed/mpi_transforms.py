"""Run under ``mpiexec -n P``: a multi-process pmap under grad, jvp, vmap and jit gives what
one process holding every device gives (computed here, on each process, with vmap over the
global data and the axis named). Process 0 prints ``OK [ranks]`` once every process passed."""

import sys

import numpy as np
from mpi4py import MPI

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax

# "uneven": process p has 1 + p % 2 devices (MPI's "v" collectives); else
# FUNCJAX_NUM_CPU_DEVICES each
jax.distributed.initialize(local_device_ids=range(1 + MPI.COMM_WORLD.rank % 2)
                           if sys.argv[1:] == ["uneven"] else None)
P, me, L, N = jax.process_count(), jax.process_index(), jax.local_device_count(), \
    jax.device_count()
first = jax.local_devices()[0].id  # this process's devices are first .. first + L - 1
mine = slice(first, first + L)
rng = np.random.default_rng(0)
X = rng.standard_normal((N, 3)).astype(np.float32)
T = rng.standard_normal((N, 3)).astype(np.float32)
w, tw = np.float32(0.7), np.float32(-0.3)


def f(w, x):
    """Collectives whose transposes cross processes: psum, all_gather, ppermute."""
    ring = lax.ppermute(x, "i", [(k, (k + 1) % N) for k in range(N)])
    return jnp.sin(w * x) * lax.psum(x, "i") + lax.all_gather(x, "i").sum(0) * ring


pf = jax.pmap(f, "i", in_axes=(None, 0))
vf = jax.vmap(f, in_axes=(None, 0), axis_name="i")  # one process holding every device


def check(name, got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-5, atol=2e-6, err_msg=name)


def loss(fun):
    return lambda w, x: (fun(w, x) ** 2).sum()


# grad: the unmapped w's gradient sums every process's devices (each process's loss is its
# own devices' part; together they are the global loss)
gw, gx = jax.grad(loss(pf), (0, 1))(w, X[mine])
rw, rx = jax.grad(loss(vf), (0, 1))(w, X)
check("grad w", gw, rw)
check("grad x", gx, rx[mine])
out, tan = jax.jvp(pf, (w, X[mine]), (tw, T[mine]))
rout, rtan = jax.jvp(vf, (w, X), (tw, T))
check("jvp primal", out, rout[mine])
check("jvp tangent", tan, rtan[mine])
B = rng.standard_normal((2, N, 3)).astype(np.float32)
check("vmap of pmap", jax.vmap(lambda x: pf(w, x))(B[:, mine]),
      jax.vmap(lambda x: vf(w, x))(B)[:, mine])
check("jit of pmap", jax.jit(pf)(w, X[mine]), vf(w, X)[mine])
jw, jx = jax.jit(jax.grad(loss(pf), (0, 1)))(w, X[mine])
check("jit of grad of pmap", jw, rw)
check("jit of grad of pmap, x", jx, rx[mine])
# an unmapped output (device 0's value): its cotangent enters once, on process 0
total = jax.pmap(lambda w, x: lax.psum(w * x, "i"), "i", in_axes=(None, 0), out_axes=None)
check("grad through out_axes=None", jax.grad(lambda w: total(w, X[mine]).sum())(w),
      X.sum())
check("grad of vmap of pmap", jax.grad(lambda w: jax.vmap(lambda x: pf(w, x))(
    B[:, mine]).sum())(w), jax.grad(lambda w: jax.vmap(lambda x: vf(w, x))(B).sum())(w))
done = jax.experimental.multihost_utils.process_allgather(np.int32(me))
jax.distributed.shutdown()
if me == 0:
    print(f"OK {sorted(done.tolist())}", flush=True)
