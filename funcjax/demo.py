"""A tour of funcjax: ``python -m funcjax.demo``."""

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp


def section(title):
    print(f"\n== {title} " + "=" * (70 - len(title)))


def main():
    def f(x, y):
        return jnp.sum(jnp.tanh(x @ y) * 2.0, axis=0)

    x, y = jnp.ones((3, 4)), jnp.ones((4, 5)) * 0.1
    section("a function traced into a jaxpr")
    print(jax.make_jaxpr(f)(x, y))
    section("the same function run eagerly on numpy (float32 by default)")
    print(repr(f(x, y)))
    np.testing.assert_allclose(f(x, y), np.sum(np.tanh(np.ones((3, 4)) @ (np.ones((4, 5)) * 0.1))
                                               * 2.0, axis=0), rtol=1e-6)

    def loss(w, x):
        return jnp.mean(jnp.tanh(x @ w) ** 2)

    w = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
    xs = jnp.linspace(0.0, 2.0, 20).reshape(5, 4)
    section("reverse mode: grad, and the backward pass it staged")
    g = jax.grad(loss)(w, xs)
    print(repr(g))
    print(jax.make_jaxpr(jax.grad(loss))(w, xs))
    section("forward mode agrees: jacfwd == jacrev, checked against finite differences")
    j_fwd, j_rev = jax.jacfwd(loss)(w, xs), jax.jacrev(loss)(w, xs)
    np.testing.assert_allclose(j_fwd, j_rev, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, j_rev, rtol=1e-5, atol=1e-6)
    eps = 1e-3
    bump = np.zeros((4, 3), np.float32)
    bump[1, 2] = eps
    fd = (loss(w + bump, xs) - loss(w - bump, xs)) / (2 * eps)
    print(f"d loss / d w[1,2]: reverse {float(g[1, 2]):.6f}, finite differences {float(fd):.6f}")
    np.testing.assert_allclose(g[1, 2], fd, rtol=2e-2, atol=1e-4)
    section("jit: the gradient compiled to native code with LLVM")
    fast_grad = jax.jit(jax.grad(loss))
    np.testing.assert_allclose(fast_grad(w, xs), g, rtol=1e-5, atol=1e-6)
    print(repr(fast_grad(w, xs)))
    print("memory plan:", fast_grad.lower(w, xs).compile().memory_analysis())
    section("vmap: per-example gradients in one batched pass, checked against a loop")
    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))(w, xs[:, None, :])
    looped = np.stack([np.asarray(jax.grad(loss)(w, xs[i:i + 1])) for i in range(5)])
    np.testing.assert_allclose(per_example, looped, rtol=1e-5, atol=1e-6)
    print("per-example gradient shape:", per_example.shape)
    section("control flow: lax.scan, differentiated")

    def cumulative_decay(x0):
        def step(carry, x):
            carry = carry * 0.9 + jnp.sin(x)
            return carry, carry
        return jax.lax.scan(step, x0, jnp.linspace(0.0, 1.0, 8))[0]

    d_scan = jax.grad(cumulative_decay)(1.0)
    print(f"d/dx0 of an 8-step decay: {float(d_scan):.6f} (exact: 0.9**8 = {0.9 ** 8:.6f})")
    np.testing.assert_allclose(d_scan, 0.9 ** 8, rtol=1e-5)
    print("\ndemo finished: all results checked against numpy and each other")


if __name__ == "__main__":
    main()
