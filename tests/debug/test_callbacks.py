"""pure_callback and io_callback: eager against jit (compiled code calling back into Python),
every vmap_method against a loop, derivatives through custom_jvp, and the errors."""

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax.experimental import io_callback

X = np.linspace(-1.0, 2.0, 6, dtype=np.float32).reshape(2, 3)


def _sin_cb(x):
    return fj.pure_callback(np.sin, fj.ShapeDtypeStruct(x.shape, x.dtype), x,
                            vmap_method="expand_dims")


@pytest.mark.parametrize("jit", [False, True])
def test_pure_callback_values_and_pytrees(jit):
    def f(x, y):
        out = fj.pure_callback(lambda d: {"s": np.sin(d["a"]), "n": np.int32(d["b"].sum())},
                               {"s": fj.ShapeDtypeStruct(x.shape, np.float32),
                                "n": fj.ShapeDtypeStruct((), np.int32)},
                               {"a": x, "b": y})
        return out["s"] * 2 + out["n"]
    f = fj.jit(f) if jit else f
    y = np.arange(4, dtype=np.int32)
    np.testing.assert_allclose(f(X, y), np.sin(X) * 2 + 6, rtol=1e-6)


def test_jit_calls_back_on_every_run():
    calls = []

    def cb(x):
        calls.append(np.array(x))
        return x + 1
    f = fj.jit(lambda x: fj.pure_callback(cb, fj.ShapeDtypeStruct((3,), np.float32), x * 2))
    for k in range(3):
        np.testing.assert_allclose(f(np.full(3, k, np.float32)), 2 * k + 1)
    assert [c[0] for c in calls] == [0, 2, 4]


@pytest.mark.parametrize("method", ["sequential", "sequential_unrolled", "expand_dims",
                                    "broadcast_all", "legacy_vectorized"])
@pytest.mark.parametrize("jit", [False, True])
def test_vmap_methods_match_a_loop(method, jit):
    shapes = []

    def cb(a, b):
        shapes.append((a.shape, b.shape))
        return np.sin(a) * (b[..., None] if b.ndim else b)

    def f(a, b):
        return fj.pure_callback(cb, fj.ShapeDtypeStruct(a.shape, a.dtype), a, b,
                                vmap_method=method)
    b = np.float32(3.0)
    g = fj.vmap(f, in_axes=(0, None))
    out = (fj.jit(g) if jit else g)(X, b)
    np.testing.assert_allclose(out, np.stack([np.sin(r) * b for r in X]), rtol=1e-6)
    expected = {"sequential": [((3,), ())] * 2, "sequential_unrolled": [((3,), ())] * 2,
                "expand_dims": [((2, 3), (1,))], "legacy_vectorized": [((2, 3), (1,))],
                "broadcast_all": [((2, 3), (2,))]}[method]
    assert shapes == expected


def test_vectorized_flag_is_legacy_vectorized():
    out = fj.vmap(lambda a: fj.pure_callback(lambda v: v * 2, fj.ShapeDtypeStruct((), np.float32),
                                             a, vectorized=True))(X[0])
    np.testing.assert_allclose(out, X[0] * 2)


def test_vmap_without_a_method_is_refused():
    with pytest.raises(NotImplementedError, match="vmap_method"):
        fj.vmap(lambda a: fj.pure_callback(np.sin, fj.ShapeDtypeStruct((), np.float32), a))(X[0])
    with pytest.raises(ValueError, match="vmap_method must be one of"):
        fj.pure_callback(np.sin, fj.ShapeDtypeStruct((), np.float32), 1.0, vmap_method="loop")


@fj.custom_jvp
def _host_sin(x):
    return _sin_cb(x)


@_host_sin.defjvp
def _host_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _host_sin(x), fj.pure_callback(np.cos, fj.ShapeDtypeStruct(x.shape, x.dtype), x,
                                            vmap_method="sequential") * t


@pytest.mark.parametrize("transform", [lambda f: f, fj.jit], ids=["eager", "jit"])
def test_derivatives_through_custom_jvp(transform):
    x = X[0]
    g = transform(fj.grad(lambda x: _host_sin(x).sum()))(x)
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)
    _, t = transform(lambda x: fj.jvp(_host_sin, (x,), (jnp.ones_like(x),)))(x)
    np.testing.assert_allclose(t, np.cos(x), rtol=1e-6)
    jac = fj.jacrev(_host_sin)(x)
    np.testing.assert_allclose(jac, np.diag(np.cos(x)), rtol=1e-6)
    vg = fj.vmap(fj.grad(lambda x: _host_sin(x).sum()))(X)
    np.testing.assert_allclose(vg, np.cos(X), rtol=1e-6)


def test_differentiating_a_callback_directly_is_refused():
    with pytest.raises(ValueError, match="pure_callback.*custom_jvp"):
        fj.grad(lambda x: _sin_cb(x).sum())(X[0])
    with pytest.raises(ValueError, match="io_callback.*custom_jvp"):
        fj.grad(lambda x: io_callback(np.sin, fj.ShapeDtypeStruct((), np.float32), x))(1.0)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("bad, what", [
    (lambda x: np.ones(4, np.float32), r"returned float32\[4\].*declares float32\[3\]"),
    (lambda x: np.ones(3, np.float64), r"returned float64\[3\].*declares float32\[3\]"),
    (lambda x: (x, x), "structure"),
])
def test_wrong_results_are_rejected(jit, bad, what):
    f = lambda x: fj.pure_callback(bad, fj.ShapeDtypeStruct((3,), np.float32), x)  # noqa: E731
    with pytest.raises(TypeError, match=what):
        (fj.jit(f) if jit else f)(X[0])


def test_exception_in_compiled_callback_reaches_the_caller_and_the_next_run_works():
    def cb(x):
        if x[0] < 0:
            raise ZeroDivisionError("negative")
        return x
    f = fj.jit(lambda x: fj.pure_callback(cb, fj.ShapeDtypeStruct((3,), np.float32), x) + 1)
    with pytest.raises(ZeroDivisionError, match="negative"):
        f(-np.ones(3, np.float32))
    np.testing.assert_allclose(f(np.ones(3, np.float32)), 2.0)


@pytest.mark.parametrize("jit", [False, True])
def test_io_callback_is_kept_and_ordered(jit):
    log = []

    def f(x):
        io_callback(lambda v: log.append(("a", float(v))), None, x, ordered=True)
        y = io_callback(lambda v: np.float32(v * 10), fj.ShapeDtypeStruct((), np.float32), x)
        io_callback(lambda v: log.append(("b", float(v))), None, y, ordered=True)
        return x + 1
    (fj.jit(f) if jit else f)(np.float32(2.0))
    assert log == [("a", 2.0), ("b", 20.0)]


def test_io_callback_under_vmap():
    log = []
    fj.vmap(lambda x: io_callback(lambda v: log.append(float(v)), None, x))(X[0])
    assert log == [float(v) for v in X[0]]
    with pytest.raises(ValueError, match="cannot vmap an ordered io_callback"):
        fj.vmap(lambda x: io_callback(print, None, x, ordered=True))(X[0])


def test_unused_pure_callback_result_may_be_dropped_but_io_is_not():
    calls = []
    sds = fj.ShapeDtypeStruct((), np.float32)

    def f(x):
        fj.pure_callback(lambda v: (calls.append("pure"), v)[1], sds, x)
        io_callback(lambda v: (calls.append("io"), v)[1], sds, x)
        return x
    fj.jit(f)(np.float32(1))
    assert calls == ["io"]


def test_callbacks_from_compiled_code_in_several_threads():
    """Compiled code runs without the GIL and takes it back only for the callback, so
    threads calling the same jitted function with a callback neither deadlock nor mix up
    their values."""
    import threading
    f = fj.jit(lambda x: fj.pure_callback(lambda v: v * 2, fj.ShapeDtypeStruct((4,), np.float32),
                                          jnp.sin(x)) + 1)
    results, errors = {}, []

    def work(k):
        try:
            for _ in range(20):
                results[k] = np.asarray(f(np.full(4, k, np.float32)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k in range(4):
        np.testing.assert_allclose(results[k], 2 * np.sin(np.float32(k)) + 1, rtol=1e-6)


def test_modules_with_callbacks_never_enter_the_persistent_cache(tmp_path):
    from funcjax.backend.llvm import compiler
    seen = []

    def make():  # a new function each time: traced and compiled again
        return lambda x: (fj.debug.callback(lambda v: seen.append(float(v[0])), x), x + 1)[1]
    fj.config.update("jax_compilation_cache_dir", str(tmp_path))
    try:
        start = compiler.stats["loaded_from_disk"]
        for k in range(2):
            fj.jit(make())(np.full(2, k, np.float32))
        assert list(tmp_path.iterdir()) == [] and compiler.stats["loaded_from_disk"] == start
    finally:
        fj.config.update("jax_compilation_cache_dir", None)
    assert seen == [0.0, 1.0]
