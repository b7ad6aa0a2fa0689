"""Programs of any length lower and compile: long fused chains are cut into pieces of bounded
depth (no Python recursion limit) and long bodies into parts of bounded size (LLVM time
grows linearly). Values are checked against numpy loops and eager evaluation."""

import numpy as np

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import fusion


def test_ten_thousand_chained_operations_compile_and_match_a_numpy_loop():
    def f(x):
        for _ in range(5000):  # 10,000 operations, each reading the previous one
            x = x * 1.0001 + 0.0001
        return x

    x = np.linspace(-1, 1, 5, dtype=np.float32)
    expected = x.copy()
    for _ in range(5000):
        expected = expected * np.float32(1.0001) + np.float32(0.0001)
    np.testing.assert_allclose(funcjax.jit(f)(x), expected, rtol=1e-5)
    text = funcjax.jit(f).lower(x).as_text("llvm")
    assert ".part1" in text  # the body really was split into several functions


def test_jit_of_grad_of_400_unrolled_euler_steps_matches_eager():
    def loss(x):
        for _ in range(400):
            x = x + 0.01 * (-x * x + jnp.sin(x))
        return jnp.sum(x)

    x = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    np.testing.assert_allclose(funcjax.jit(funcjax.grad(loss))(x), funcjax.grad(loss)(x),
                               rtol=2e-5, atol=1e-7)


def test_a_chain_deeper_than_the_fusion_limit_is_split_without_changing_values():
    depth = fusion.MAX_DEPTH * 3 + 7

    def f(x):
        for k in range(depth):
            x = jnp.sin(x) + 0.01 * k
        return x

    x = np.linspace(-2, 2, 33).astype(np.float32)
    expected = x
    for k in range(depth):
        expected = np.sin(expected) + np.float32(0.01 * k)
    np.testing.assert_allclose(funcjax.jit(f)(x), expected, rtol=1e-5, atol=1e-6)
