"""A tour of funcjax: ``python -m funcjax.demo``.

It traces a function to a jaxpr, trains a small MLP classifier (``funcjax.random`` data,
``stax`` layers, an ``optimizers`` Adam step compiled with ``jit(value_and_grad(...))``),
compares forward- and reverse-mode Jacobians with their timings, and checks every result it
prints against numpy, finite differences or the other mode.
"""

import time

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import random
from funcjax.example_libraries import optimizers, stax


def section(title):
    print(f"\n== {title} " + "=" * (70 - len(title)), flush=True)


def trace_a_function():
    def f(x, y):
        return jnp.sum(jnp.tanh(x @ y) * 2.0, axis=0)

    x, y = jnp.ones((3, 4)), jnp.ones((4, 5)) * 0.1
    section("a function traced into a jaxpr")
    print(jax.make_jaxpr(f)(x, y))
    np.testing.assert_allclose(f(x, y), np.sum(np.tanh(np.ones((3, 4)) @ (np.ones((4, 5)) * 0.1))
                                               * 2.0, axis=0), rtol=1e-6)


def spirals(key, n_per_class, classes=3):
    """Interleaved noisy spirals in 2-d: separable, but not linearly."""
    k_noise, k_perm = random.split(key)
    t = jnp.tile(jnp.linspace(0.1, 1.0, n_per_class), classes)
    label = jnp.repeat(jnp.arange(classes), n_per_class)
    angle = 3.0 * t + label * (2 * np.pi / classes)
    x = jnp.stack([t * jnp.cos(angle), t * jnp.sin(angle)], axis=1)
    x = x + 0.03 * random.normal(k_noise, x.shape)
    order = random.permutation(k_perm, x.shape[0])
    return x[order], label[order]


def train_classifier(epochs=12, batch=64):
    section("training an MLP classifier: random + stax + optimizers.adam + jit")
    key = random.PRNGKey(0)
    k_data, k_test, k_init, k_shuffle = random.split(key, 4)
    x_train, y_train = spirals(k_data, 400)
    x_test, y_test = spirals(k_test, 100)
    init_fn, apply_fn = stax.serial(stax.Dense(64), stax.Relu, stax.Dense(64), stax.Relu,
                                    stax.Dense(3), stax.LogSoftmax)
    _, params = init_fn(k_init, (-1, 2))

    def loss(params, x, y):
        return -jnp.mean(jnp.sum(apply_fn(params, x) * jax.nn.one_hot(y, 3), axis=-1))

    def accuracy(params, x, y):
        return float(jnp.mean(jnp.argmax(apply_fn(params, x), axis=-1) == y))

    opt_init, opt_update, get_params = optimizers.adam(1e-2)

    @jax.jit
    def update(i, state, x, y):
        value, grads = jax.value_and_grad(loss)(get_params(state), x, y)
        return opt_update(i, grads, state), value

    state = opt_init(params)
    n, step, start = x_train.shape[0], 0, time.perf_counter()
    steps_per_epoch = n // batch
    print(f"{n} training points, 3 classes; {steps_per_epoch} steps of {batch} per epoch")
    for epoch in range(1, epochs + 1):
        order = random.permutation(random.fold_in(k_shuffle, epoch), n)
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            state, value = update(step, state, x_train[idx], y_train[idx])
            losses.append(float(value))
            step += 1
        params = get_params(state)
        bar = "#" * epoch + "." * (epochs - epoch)
        print(f"epoch {epoch:2d} [{bar}] loss {np.mean(losses):.4f}  "
              f"train acc {accuracy(params, x_train, y_train):.3f}  "
              f"test acc {accuracy(params, x_test, y_test):.3f}  "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    test_acc = accuracy(params, x_test, y_test)
    assert test_acc > 0.9, f"the classifier should separate the spirals, got {test_acc}"
    print("(the first step compiled update(); the compiled program is reused after that)")


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def compare_jacobians():
    section("jacfwd vs jacrev on f: R^4 -> R^3")

    def f(x):
        return jnp.stack([jnp.sin(x[0]) * x[1], jnp.sum(jnp.exp(x) * x), x[2] / (1 + x[3] ** 2)])

    x = jnp.array([0.3, -1.2, 2.0, 0.5])
    print("f(x) =", np.asarray(f(x)))
    rows = []
    for name, jac in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
        eager, t_eager = _timed(jac(f), x)
        compiled = jax.jit(jac(f))
        _, t_compile = _timed(compiled, x)
        jitted, t_jit = _timed(compiled, x)
        np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-6)
        rows.append((name, eager, t_eager, t_compile, t_jit))
        print(f"{name}(f)(x) =\n{np.array2string(np.asarray(eager), precision=5)}")
    print(f"{'':8s}{'eager':>12s}{'jit (1st)':>12s}{'jit (2nd)':>12s}")
    for name, _, t_eager, t_compile, t_jit in rows:
        print(f"{name:8s}{t_eager * 1e3:10.2f}ms{t_compile * 1e3:10.1f}ms{t_jit * 1e3:10.3f}ms")
    j_fwd, j_rev = rows[0][1], rows[1][1]
    diff = float(np.max(np.abs(np.asarray(j_fwd) - np.asarray(j_rev))))
    print(f"jacfwd == jacrev: {bool(np.allclose(j_fwd, j_rev, rtol=1e-6, atol=1e-6))} "
          f"(largest difference {diff:.2e})")
    np.testing.assert_allclose(j_fwd, j_rev, rtol=1e-6, atol=1e-6)
    eps, x64 = 1e-3, np.asarray(x, np.float64)
    fd = np.stack([(np.asarray(f(jnp.asarray(x64 + eps * e, jnp.float32))) -
                    np.asarray(f(jnp.asarray(x64 - eps * e, jnp.float32)))) / (2 * eps)
                   for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(j_rev, fd, rtol=1e-2, atol=1e-2)
    print("both agree with central finite differences")


def per_example_gradients():
    section("vmap: per-example gradients in one batched pass, checked against a loop")

    def loss(w, x):
        return jnp.mean(jnp.tanh(x @ w) ** 2)

    w = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
    xs = jnp.linspace(0.0, 2.0, 20).reshape(5, 4)
    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))(w, xs[:, None, :])
    looped = np.stack([np.asarray(jax.grad(loss)(w, xs[i:i + 1])) for i in range(5)])
    np.testing.assert_allclose(per_example, looped, rtol=1e-5, atol=1e-6)
    print("per-example gradient shape:", per_example.shape)


def main():
    start = time.perf_counter()
    trace_a_function()
    train_classifier()
    compare_jacobians()
    per_example_gradients()
    print(f"\ndemo finished in {time.perf_counter() - start:.1f} s: all results checked "
          "against numpy, finite differences and each other")


if __name__ == "__main__":
    main()
