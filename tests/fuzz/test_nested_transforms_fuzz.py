"""Seeded random programs that nest transformations (jit, grad, jvp, vjp, vmap, jacfwd,
jacrev, checkpoint, cond, scan, fori_loop, custom_jvp/vjp) a few levels deep, checked against
eager evaluation, central finite differences and a Python loop (never the same funcjax path).

Together with test_program_fuzz.py (random programs over the primitive catalogue, in
subprocesses) this is the standing fuzzer: here the *transformations* are random and nested,
there the *programs*. ``FUNCJAX_FUZZ_N`` raises the number of seeds of both."""

import os

import numpy as np
import pytest

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax

_M = np.array([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6], [-0.2, 0.3, 0.7]])

_LEAVES = [
    lambda x: jnp.sin(x),
    lambda x: x * x * 0.5,
    lambda x: jnp.cumsum(x) * 0.5,
    lambda x: jnp.dot(jnp.asarray(_M), x),
    lambda x: x + jnp.sum(jnp.tanh(x)),
    lambda x: jnp.where(x > 0.1, x * x, jnp.sin(x)),
    lambda x: x.at[1].set(x[0] * x[2]),
    lambda x: lax.dynamic_update_slice(x, jnp.sin(x[:2]), (1,)),
]

_KINDS = ["jit", "ckpt", "jvp", "vjp", "grad", "jacfwd", "jacrev", "vmap", "vmapclo", "cond",
          "scan", "fori", "cjvp", "cvjp", "pert"]


def _custom_vjp(f):
    g = jax.custom_vjp(lambda x: f(x))
    g.defvjp(lambda x: (f(x), x), lambda x, ct: jax.vjp(f, x)[1](ct))
    return g


def _custom_jvp(f):
    g = jax.custom_jvp(lambda x: f(x))
    g.defjvp(lambda p, t: jax.jvp(f, p, t))
    return g


def _program(rng, depth):
    """A function R^3 -> R^3 and whether it contains a custom_vjp (which has no forward mode)."""
    if depth == 0 or rng.random() < 0.2:
        return _LEAVES[rng.integers(len(_LEAVES))], False
    kind = _KINDS[rng.integers(len(_KINDS))]
    f, cv = _program(rng, depth - 1)
    if cv and kind in ("jvp", "jacfwd", "pert"):
        kind = "jit"
    if kind == "jit":
        return jax.jit(f), cv
    if kind == "ckpt":
        return jax.checkpoint(f), cv
    if kind == "jvp":
        return (lambda x: sum(jax.jvp(f, (x,), (jnp.sin(x),)))), cv
    if kind == "vjp":
        def g(x):
            y, pullback = jax.vjp(f, x)
            return y + pullback(jnp.cos(y))[0]
        return g, cv
    if kind == "grad":
        return jax.grad(lambda x: jnp.sum(jnp.sin(f(x)))), cv
    if kind == "jacfwd":
        return (lambda x: jax.jacfwd(f)(x) @ jnp.cos(x)), cv
    if kind == "jacrev":
        return (lambda x: jnp.cos(x) @ jax.jacrev(f)(x)), cv
    if kind == "vmap":
        in_axis, out_axis = int(rng.integers(2)), int(rng.integers(2))
        def g(x):
            xs = jnp.stack([x, x * 0.5 + 0.1], axis=in_axis)
            ys = jax.vmap(f, in_axes=in_axis, out_axes=out_axis)(xs)
            return jnp.take(ys, 0, out_axis) + 0.3 * jnp.take(ys, 1, out_axis)
        return g, cv
    if kind == "vmapclo":
        return (lambda x: jax.vmap(lambda r: f(r * x + x[0]))(jnp.stack([x, x[::-1]])).sum(0)), cv
    if kind == "cond":
        f2, cv2 = _program(rng, depth - 1)
        return (lambda x: lax.cond(x[0] > 0, lambda z: f(z * x), f2, x[::-1])), cv or cv2
    if kind == "scan":
        reverse = bool(rng.integers(2))
        def g(x):
            def body(c, i):
                return f(c * 0.5 + x * i), c[0] * x[1]
            c, ys = lax.scan(body, x, jnp.arange(3.0), reverse=reverse)
            return c + ys.sum()
        return g, cv
    if kind == "fori":
        return (lambda x: lax.fori_loop(0, 2, lambda i, c: f(c) * 0.5 + c * i, x)), cv
    if kind == "cjvp":
        return _custom_jvp(f), cv
    if kind == "cvjp":
        return _custom_vjp(f), True
    return (lambda x: jax.jvp(lambda y: f(y * x), (x,), (jnp.cos(x),))[1] * 0.3), cv  # pert


def _close(got, want, tol, slack=0.0):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale + slack)


def _derivative(fn, x, v, tol):
    """The derivative of ``fn`` at ``x`` along ``v`` by central differences, and an estimate of
    its error. One fixed step is not enough: nested transforms of ``x * x * 0.5`` compose into
    polynomials of high degree whose higher derivatives are huge (seed 73: values ~1e4,
    derivative ~1e12), so the truncation error of a central difference at h = 1e-6 is 3% of
    the derivative there. Ridders' method (steps shrinking by 1.4, Richardson-extrapolated)
    estimates the derivative and its own error; it starts from smaller steps until that error
    is within the tolerance (seed 73 then matches jvp to 6e-9)."""
    def central(h):
        return (fn(x + h * v) - fn(x - h * v)) / (2 * h)

    found = []
    for h in (1e-3, 1e-5, 1e-7):
        prev, best, err = [central(h)], None, np.inf
        for i in range(1, 10):
            h /= 1.4
            row, fac = [central(h)], 1.4 ** 2
            for j in range(1, i + 1):
                row.append((row[j - 1] * fac - prev[j - 1]) / (fac - 1))
                fac *= 1.4 ** 2
                e = max(np.abs(row[j] - row[j - 1]).max(), np.abs(row[j] - prev[j - 1]).max())
                if e <= err:
                    best, err = row[j], e
            if np.abs(row[i] - prev[i - 1]).max() >= 2 * err:
                break  # higher orders diverge: the error estimate stops improving
            prev = row
        found.append((err, best))
        if err <= 0.1 * tol * max(1.0, float(np.abs(best).max())):
            break
    err, best = min(found, key=lambda f: f[0])
    return best, err


# 73 and 349: derivatives ~1e12 and ~5e8 that a fixed-step difference missed (see _derivative)
_SEEDS = sorted(set(range(max(8, int(os.environ.get("FUNCJAX_FUZZ_N", "8")) // 10))) | {73, 349})


@pytest.mark.parametrize("seed", _SEEDS)
def test_nested_transformations(x64, seed):
    rng = np.random.default_rng(seed)
    f, has_custom_vjp = _program(rng, 3)
    x = rng.uniform(-1, 1, 3)
    v, w = rng.standard_normal(3), rng.standard_normal(3)

    def eager(a):
        return np.asarray(f(jnp.asarray(a)))

    y = eager(x)
    _close(jax.jit(f)(x), y, 1e-9)
    xs = np.stack([x, 0.9 * x - 0.05])
    _close(jax.vmap(f)(xs), np.stack([eager(a) for a in xs]), 1e-9)

    # 1e-6: over seeds 0..299 jvp and vjp match the extrapolated differences to 6e-9 at worst
    # (median 2e-13); a fixed-step difference needed 1e-5 and still failed seeds 73 and 349.
    fd, fd_err = _derivative(eager, x, v, 1e-6)
    if not has_custom_vjp:
        _close(jax.jvp(f, (x,), (v,))[1], fd, 1e-6, fd_err)
    (ct,) = jax.vjp(f, x)[1](w)
    _close(np.dot(ct, v), np.dot(w, fd), 1e-6, np.abs(w).sum() * fd_err)
    loss = lambda a: jnp.sum(f(a) * w)  # noqa: E731
    _close(jax.jit(jax.grad(loss))(x), ct, 1e-9)
