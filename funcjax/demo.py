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
    print("\ndemo finished: all results checked against numpy")


if __name__ == "__main__":
    main()
