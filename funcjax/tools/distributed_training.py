"""Data-parallel training of a small MLP with pmap, on one or several processes.

    FUNCJAX_NUM_CPU_DEVICES=2 python -m funcjax.tools.distributed_training              # 1 x 2
    FUNCJAX_NUM_CPU_DEVICES=1 mpiexec -n 2 python -m funcjax.tools.distributed_training # 2 x 1
    FUNCJAX_NUM_CPU_DEVICES=2 mpiexec -n 2 python -m funcjax.tools.distributed_training # 2 x 2

Every device holds a copy of the parameters and a slice of each global batch; the gradients
are averaged over every device of every process (``lax.pmean``), so all the copies take the
same step and the result does not depend on how the devices are spread over processes.
With ``--out FILE`` process 0 saves the final parameters (``np.savez``).
"""

import argparse

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax

GLOBAL_BATCH, STEPS, LEARNING_RATE = 8, 20, 0.1


def init_params(rng):
    return {"w1": rng.standard_normal((3, 16)).astype(np.float32) * 0.5,
            "b1": np.zeros(16, np.float32),
            "w2": rng.standard_normal((16, 1)).astype(np.float32) * 0.5,
            "b2": np.zeros(1, np.float32)}


def loss(params, x, y):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)


def train_step(params, x, y):
    grads = lax.pmean(jax.grad(loss)(params, x, y), "batch")
    return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads)


def data(step):
    """The global batch of a step (every process makes the same; each takes its slice)."""
    rng = np.random.default_rng(1000 + step)
    x = rng.standard_normal((GLOBAL_BATCH, 3)).astype(np.float32)
    y = np.sin(x.sum(1, keepdims=True)).astype(np.float32)
    return x, y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args = parser.parse_args()
    jax.distributed.initialize()
    n, local = jax.device_count(), jax.local_device_count()
    first = jax.local_devices()[0].id  # this process's devices are first..first+local-1
    per_device = GLOBAL_BATCH // n
    step = jax.pmap(train_step, axis_name="batch")
    params = jax.tree_util.tree_map(lambda p: np.stack([p] * local),
                                    init_params(np.random.default_rng(0)))
    for k in range(STEPS):
        x, y = data(k)
        mine = slice(first * per_device, (first + local) * per_device)
        params = step(params, x[mine].reshape(local, per_device, 3),
                      y[mine].reshape(local, per_device, 1))
    final = {name: np.asarray(p)[0] for name, p in params.items()}
    if jax.process_index() == 0:
        print(f"{jax.process_count()} processes x {local} devices: loss "
              f"{float(loss(final, *data(0))):.6f}")
        if args.out:
            np.savez(args.out, **final)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
