"""Runs seeded random programs and checks each one differentially; one JSON line per seed.

    python tests/fuzz/worker.py SEED [SEED ...]      (or FIRST:LAST for a range)

Every program is run eagerly and checked against ``jit``, ``vmap`` (against a Python loop of
eager calls) and, in ``grad`` mode, ``grad`` eager vs ``jit(grad)`` vs ``grad(jit)`` vs central
finite differences. The line is written and flushed *before* the next program starts, so the
parent knows which program was running when the process died.
"""

import json
import os
import sys
import traceback
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from programs import X64_MODES, generate  # noqa: E402, I001 - found through the path set just above

import funcjax as jax  # noqa: E402
import funcjax.numpy as jnp  # noqa: E402
from funcjax import lax  # noqa: E402
from funcjax.backend.llvm import compiler  # noqa: E402
from funcjax.config import enable_x64  # noqa: E402

TOL = {"grad": 1e-9, "values": 2e-4, "values64": 1e-9, "int": 0, "int64": 0}


SUMS = ("jnp.dot(", "jnp.einsum(", "jnp.sum(", "jnp.mean(")  # and ``a @ b`` (see compare_sum)


class Mismatch(AssertionError):  # noqa: N818 - reads as the failure it reports
    pass


def leaves(tree):
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def compare(got, want, tol, what):
    got, want = leaves(got), leaves(want)
    if len(got) != len(want):
        raise Mismatch(f"{what}: {len(got)} outputs != {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g.shape != w.shape or g.dtype != w.dtype:
            raise Mismatch(f"{what}[{i}]: {g.dtype}{list(g.shape)} != {w.dtype}{list(w.shape)}")
        if w.dtype.kind in "iub" or tol == 0:
            if not np.array_equal(g, w, equal_nan=True):
                raise Mismatch(f"{what}[{i}]: {g.tolist()} != {w.tolist()}")
            continue
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        if not np.array_equal(np.isnan(g64), np.isnan(w64)):
            raise Mismatch(f"{what}[{i}] NaNs differ: {g.tolist()} != {w.tolist()}")
        big = float(np.finfo(w.dtype).max) / 16
        both_big = (np.abs(g64) > big) & (np.abs(w64) > big) & (np.sign(g64) == np.sign(w64))
        fin = np.isfinite(w64) & np.isfinite(g64) & ~both_big
        if not np.array_equal(np.where(fin | both_big | np.isnan(w64), 0, g64),
                              np.where(fin | both_big | np.isnan(w64), 0, w64)):
            raise Mismatch(f"{what}[{i}] infinities differ: {g.tolist()} != {w.tolist()}")
        scale = max(1.0, float(np.abs(w64[fin]).max(initial=0.0)))
        err = np.abs(g64[fin] - w64[fin])
        if np.any(err > tol * scale + tol * np.abs(w64[fin])):
            raise Mismatch(f"{what}[{i}] values differ (tol {tol}, scale {scale}):\n"
                           f"  got  {g.tolist()}\n  want {w.tolist()}")


def compare_sum(got, want, expr, env, tol, what):
    """``compare`` for a step that sums (``@``, ``jnp.dot``, ``jnp.einsum``, ``jnp.sum``,
    ``jnp.mean``): a sum whose finite terms can overflow is not one IEEE result but depends on
    the order of summation and on fused multiply-adds (numpy's own matmul, like JAX's, gives
    ``-inf`` or NaN for the same dot product depending on the matrix around it; ``np.sum`` of
    ``[3e38, -inf, 3e38, 3e38, ...]`` is NaN, a vectorised sum ``-inf``). Each element whose
    summed magnitude exceeds the dtype's range is checked on each side against the result
    in long double (no overflow there, so it is the order-free one): NaN where that is NaN,
    that infinity or NaN where it is infinite, and where it is finite, NaN, an infinity or a
    value within ``tol`` of the magnitude. Every other element is compared exactly as by
    ``compare``, NaN and infinity patterns included."""
    g, w = np.asarray(got), np.asarray(want)
    if w.dtype.kind != "f" or g.shape != w.shape or g.dtype != w.dtype:
        return compare(got, want, tol, what)
    arrays = {k: v for k, v in env.items() if isinstance(v, (jax.Array, np.ndarray, np.generic))}
    wide = {k: np.asarray(v).astype(np.longdouble) for k, v in arrays.items()}
    size = {k: np.where(np.isfinite(v), np.abs(v), 0) for k, v in wide.items()}
    with np.errstate(all="ignore"):
        exact = np.asarray(eval(expr, dict(env, jnp=np, **wide)))
        magnitude = np.asarray(eval(expr, dict(env, jnp=_RUNNING_SUM, **size)))
        overflow = magnitude * (1 + 1e-3) > float(np.finfo(w.dtype).max)
        for side, r in (("got", g), ("want", w)):
            r = r.astype(np.longdouble)
            ok = np.where(np.isnan(exact), np.isnan(r),
                          np.where(np.isinf(exact), np.isnan(r) | (r == exact),
                                   ~np.isfinite(r) | (np.abs(r - exact) <= tol * magnitude)))
            bad = overflow & ~ok
            if np.any(bad):
                raise Mismatch(f"{what}: {side} {r[bad].astype(float).tolist()} where the "
                               f"order-free sum is {exact[bad].astype(float).tolist()}")
    compare(np.where(overflow, 0, g), np.where(overflow, 0, w), tol, what)


# numpy's functions for a step's bound on its running sums (a mean's is its sum)
_RUNNING_SUM = types.SimpleNamespace(dot=np.dot, einsum=np.einsum, sum=np.sum, mean=np.sum)


def _lane(tree, k):
    return tree_map(lambda v: np.asarray(v)[k], tree)


def tree_map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def explain(g, namespace, args, got_all, want_all, got, tol, what):
    """Raises a Mismatch unless ``got`` (a transformed ``f``'s outputs) differs from the eager
    outputs only by rounding that earlier steps propagated: each step whose transformed result
    differs from eager is replayed eagerly on the *transformed* inputs and must match that."""
    env = dict(namespace, **g.input_env(args), **got_all)
    compare(got, eval(g.ret, env), tol, f"{what} (outputs vs all-values program)")
    for line in g.lines:
        name, expr = line.split(" = ", 1)
        try:
            compare(got_all[name], want_all[name], tol, what)
        except Mismatch:
            replay, why = eval(expr, env), f"{what}: step `{line}` replayed eagerly on the " \
                "transformed inputs"
            if expr.startswith(SUMS) or " @ " in expr:
                compare_sum(got_all[name], replay, expr, env, tol, why)
            else:
                compare(got_all[name], replay, tol, why)


def check(seed, light=False):
    g, source = generate(seed)
    namespace = {"jnp": jnp, "lax": lax, "jax": jax, "np": np}
    env = dict(namespace)
    exec(source + g.all_values_source(), env)
    f, f_all = env["f"], env["f_all"]
    args = tree_map(jnp.asarray, g.make_inputs())  # Arrays, as a user's values would be
    tol = TOL[g.mode]
    with np.errstate(all="ignore"):
        want = f(*args)
        got = jax.jit(f)(*args)
        try:
            compare(got, want, tol, "jit vs eager")
        except Mismatch:
            explain(g, namespace, args, jax.jit(f_all)(*args), f_all(*args), got, tol,
                    "jit vs eager")
        # vmap against a loop over 3 examples; some arguments unmapped.
        rng = np.random.default_rng(seed + 1)
        batch = [tree_map(jnp.asarray, g.make_inputs(rng)) for _ in range(3)]
        in_axes = tuple(0 if i == 0 or rng.integers(2) else None for i in range(len(args)))
        stacked = tuple(tree_map(lambda *xs: jnp.asarray(np.stack(xs)), *[b[i] for b in batch])
                        if ax is not None else batch[0][i] for i, ax in enumerate(in_axes))
        examples = [tuple(b[i] if ax is not None else batch[0][i]
                          for i, ax in enumerate(in_axes)) for b in batch]
        want_v = tree_map(lambda *ys: np.stack([np.asarray(y) for y in ys]),
                          *[f(*e) for e in examples])
        vf = jax.vmap(f, in_axes=in_axes)
        variants = [("vmap", vf)]
        if seed % 3 == 0 and not light:
            variants.append(("jit(vmap)", jax.jit(vf)))
        for name, fn in variants:
            got = fn(*stacked)
            what = f"{name}(in_axes={in_axes}) vs loop"
            try:
                compare(got, want_v, tol, what)
            except Mismatch:
                vf_all = jax.vmap(f_all, in_axes=in_axes)
                got_all = (jax.jit(vf_all) if name == "jit(vmap)" else vf_all)(*stacked)
                for k, example in enumerate(examples):
                    explain(g, namespace, example, _lane(got_all, k), f_all(*example),
                            _lane(got, k), tol, f"{what}, example {k}")
        if g.mode == "grad":
            check_grad(f, args, rng, light, seed)


def check_grad(f, args, rng, light=False, seed=0):
    weights = [rng.standard_normal(np.shape(y)) for y in leaves(f(*args))]

    def loss(*a):
        return sum(jnp.sum(y * w) for y, w in zip(jax.tree_util.tree_leaves(f(*a)), weights))

    argnums = tuple(range(len(args)))
    want = jax.grad(loss, argnums=argnums)(*args)
    # Light runs compile one of the two derivative programs for half of the seeds.
    if not light or seed % 4 == 0:
        compare(jax.jit(jax.grad(loss, argnums=argnums))(*args), want, 1e-9,
                "jit(grad) vs grad")
    if not light or seed % 4 == 2:
        compare(jax.grad(jax.jit(loss), argnums=argnums)(*args), want, 1e-9,
                "grad(jit) vs grad")
    direction = tree_map(lambda x: rng.standard_normal(np.shape(x)), args)
    dot = sum(float(np.sum(np.asarray(a) * b))
              for a, b in zip(leaves(want), leaves(direction)))

    def fd(eps):
        plus = tree_map(lambda x, v: x + eps * v, args, direction)
        minus = tree_map(lambda x, v: x - eps * v, args, direction)
        return (float(loss(*plus)) - float(loss(*minus))) / (2 * eps)
    if not np.isfinite(dot):
        return  # e.g. cbrt'(0) * 0 = nan, as in JAX: jit(grad)/grad(jit) matched it above
    fd1, fd2 = fd(1e-5), fd(1e-6)
    scale = max(1.0, abs(fd1))
    if not np.isfinite(fd1) or abs(fd1 - fd2) > 1e-5 * scale:
        return  # near a kink or a jump: finite differences say nothing here
    if not abs(dot - fd1) <= 1e-5 * scale:
        raise Mismatch(f"grad vs finite differences: <grad, v> = {dot}, fd = {fd1}")


def main(argv):
    light = os.environ.get("FUNCJAX_FUZZ_LIGHT") == "1"  # eager grad only: fewer compiles
    seeds = []
    for arg in argv:
        if ":" in arg:
            lo, hi = arg.split(":")
            seeds.extend(range(int(lo), int(hi)))
        else:
            seeds.append(int(arg))
    abort_at = int(os.environ.get("FUNCJAX_FUZZ_ABORT_AT", "-1"))  # tests the driver
    for seed in seeds:
        if seed == abort_at:
            os.abort()
        before = compiler.stats["slp_fallback"]
        try:
            if generate(seed)[0].mode in X64_MODES:
                with enable_x64():
                    check(seed, light)
            else:
                check(seed, light)
            result = {"seed": seed, "ok": True}
        except Exception as e:  # noqa: BLE001 - every failure is reported with its program
            g, source = generate(seed)
            result = {"seed": seed, "ok": False, "kind": type(e).__name__,
                      "program": f"# seed {seed}, mode {g.mode}, inputs {g.inputs}\n{source}",
                      "error": str(e)[:2000],
                      "trace": "".join(traceback.format_exception(e)[-4:])[-2000:]}
        result["slp_fallback"] = compiler.stats["slp_fallback"] - before
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
