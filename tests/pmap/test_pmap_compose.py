"""pmap composed with the other transformations and control flow (values against vmap with
the same axis names, or numpy), and the parallel training examples against one device."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.tools import parallel_training as pt

NDEV = funcjax.device_count()
rng = np.random.default_rng(0)
X = rng.standard_normal((NDEV, 3, 4)).astype(np.float32)


def both(make):
    """``make(mapper)`` built with pmap and with vmap as the outer map, evaluated on X."""
    return make(funcjax.pmap)(X), make(funcjax.vmap)(X)


def close(a, b, tol=1e-5):
    for u, v in zip(funcjax.tree_util.tree_leaves(a), funcjax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def test_vmap_of_pmap_and_pmap_of_vmap_with_collectives_over_either_axis():
    def f(x):
        return lax.psum(x, "i") * lax.psum(x, "j") + lax.all_gather(x, "j").sum(0)
    xs = np.stack([X, 2 * X], 1)  # (devices, 2, 3, 4)
    close(funcjax.pmap(funcjax.vmap(f, axis_name="j"), axis_name="i")(xs),
          funcjax.vmap(funcjax.vmap(f, axis_name="j"), axis_name="i")(xs))
    ys = np.stack([X, 2 * X])  # (2, devices, 3, 4)
    close(funcjax.vmap(funcjax.pmap(f, axis_name="i"), axis_name="j")(ys),
          funcjax.vmap(funcjax.vmap(f, axis_name="i"), axis_name="j")(ys))


def test_jit_inside_and_outside_pmap_and_nested_pmap():
    f = funcjax.jit(lambda x: lax.psum(jnp.sin(x), "i"))
    close(*both(lambda m: m(f, axis_name="i")))
    close(funcjax.jit(lambda x: funcjax.pmap(f, axis_name="i")(x) * 2)(X),
          2 * funcjax.vmap(f, axis_name="i")(X))
    if NDEV >= 2:
        xs = X.reshape(2, NDEV // 2, 3, 4) if NDEV % 2 == 0 else X[:1, None]

        def inner(x):
            return lax.psum(x, "j") + lax.psum(x, ("i", "j"))
        close(funcjax.pmap(funcjax.pmap(inner, axis_name="j"), axis_name="i")(xs),
              funcjax.vmap(funcjax.vmap(inner, axis_name="j"), axis_name="i")(xs))


def test_control_flow_with_collectives_inside():
    def scanned(x):
        def body(c, row):
            return c + lax.pmean(row, "i"), lax.psum(c, "i")
        return lax.scan(body, jnp.zeros(4), x)

    def looped(x):
        return lax.fori_loop(0, 3, lambda k, c: lax.pmax(c, "i") * 0.5 + c, x)

    def branched(x):  # the predicate is the same on every device
        return lax.cond(lax.psum(jnp.sum(x), "i") > 0, lambda v: lax.psum(v, "i"),
                        lambda v: -v, x)

    def whiled(x):
        return lax.while_loop(lambda c: lax.pmax(jnp.max(c[0]), "i") < 10.0,
                              lambda c: (lax.psum(c[0], "i") + 1.0, c[1] + 1),
                              (x, 0))
    for fn in (scanned, looped, branched, whiled):
        close(*both(lambda m, fn=fn: m(fn, axis_name="i")))


def test_grad_of_pmap_with_unmapped_argument_and_replicated_output():
    w = rng.standard_normal((4,)).astype(np.float32)

    def loss(mapper):
        def per_device(w, x):
            return lax.psum(jnp.sum(jnp.tanh(x * w)), "i")
        return lambda w: mapper(per_device, axis_name="i", in_axes=(None, 0),
                                out_axes=None)(w, X)
    close(funcjax.grad(loss(funcjax.pmap))(w), funcjax.grad(loss(funcjax.vmap))(w), 1e-4)


def test_donate_argnums_deletes_the_donated_arrays_as_in_jax():
    f = funcjax.pmap(lambda x, y: x * 2 + y, donate_argnums=0)
    x, y = jnp.asarray(X), jnp.asarray(X)
    np.testing.assert_array_equal(np.asarray(f(x, y)), X * 3)
    assert x.is_deleted() and not y.is_deleted()
    with pytest.raises(RuntimeError, match="donated to pmap"):
        x + 1
    with pytest.raises(ValueError, match="both static and donated"):
        funcjax.pmap(lambda x: x, static_broadcasted_argnums=0, donate_argnums=0)


def test_donated_buffers_hold_the_results():
    step = funcjax.pmap(lambda p, g: (p - 0.5 * g, jnp.sum(g)), donate_argnums=0)
    before = X.copy()
    p, g = jnp.asarray(X), jnp.asarray(X + 1)
    p1, _ = step(p, g)  # p shares X's memory: the output goes into a private copy
    address = p1._value.ctypes.data
    p2, s = step(p1, g)
    assert p1.is_deleted() and p2._value.ctypes.data == address  # written in place
    np.testing.assert_allclose(np.asarray(p2), X - (X + 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s), (X + 1).reshape(len(X), -1).sum(1), rtol=1e-6)
    np.testing.assert_array_equal(X, before)  # nobody else's memory was written
    q = jnp.asarray(X)
    r, _ = step(q, q)  # the donated buffer is also read by another argument: copied first
    np.testing.assert_allclose(np.asarray(r), X * 0.5, rtol=1e-5, atol=1e-6)


def test_data_parallel_training_matches_one_device():
    reference = pt.train_data_parallel(1, steps=3)
    for n in sorted({2, NDEV}):
        close(pt.train_data_parallel(n, steps=3), reference, 1e-5)


def test_model_parallel_training_matches_the_unsplit_model():
    sizes = (16, 32, 4)
    params = pt.init_mlp(sizes)
    x, y = pt.make_data(32, sizes)
    for _ in range(3):
        params = pt.train_step(params, x, y, 0.1)
    for n in sorted({2, NDEV}):
        close(pt.train_model_parallel(n, sizes, steps=3), params, 1e-5)


@pytest.mark.parametrize("n", [1, NDEV])
def test_pmap_cache_means_no_retrace(n):
    f = funcjax.pmap(lambda x: x + 1)
    for _ in range(3):
        f(X[:n])
    info = f.cache_info()
    assert (info.traces, info.compiles, info.hits) == (1, 1, 2)


def test_device_dependent_control_flow_with_collectives_neither_hangs_nor_diverges():
    """A branch or trip count that differs between devices, with a collective inside: every
    device must still take part in every collective (the result is vmap's)."""
    import threading

    def branch(v):
        return lax.cond(lax.axis_index("i") % 2 == 0, lambda u: lax.psum(u, "i"),
                        lambda u: -u, v)

    def loop(v):
        return lax.while_loop(lambda c: c[1] < lax.axis_index("i"),
                              lambda c: (lax.psum(c[0], "i") * 0.5, c[1] + 1), (v, 0))

    def scanned(v):
        def body(c, r):
            return lax.cond(r > 2, lambda a: lax.pmax(a, "i") + r, lambda a: a * 2, c), c
        return lax.scan(body, v, jnp.arange(5.0))
    for fn in (branch, loop, scanned):
        out = []
        worker = threading.Thread(
            target=lambda fn=fn, out=out: out.append(funcjax.pmap(fn, axis_name="i")(X)),
            daemon=True)
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), f"{fn.__name__} left devices waiting"
        close(out[0], funcjax.vmap(fn, axis_name="i")(X))


def test_pmap_inside_jit_runs_on_the_devices():
    from funcjax.backend.llvm import spmd_program

    def inside_jit_body(v):
        return lax.psum(v, "i") * lax.axis_index("i")
    pf = funcjax.pmap(inside_jit_body, axis_name="i")
    got = funcjax.jit(lambda v: pf(v) + 1)(X)
    close(got, funcjax.vmap(inside_jit_body, axis_name="i")(X) + 1, 1e-5)
    (program,) = [p for _, p in spmd_program._programs.values() if p.name == "inside_jit_body"]
    assert all(end > start > 0 for start, end in program.last_run_times())
