"""The generated builtin that runs compiled programs on the Python path of ``jit``
(``backend/llvm/trampoline.py``): same results as the ctypes route, for outputs of every
kind, from threads, and the ctypes route when an argument is not an ndarray."""

import threading

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import trampoline


@pytest.mark.parametrize("route", ["trampoline", "ctypes"])
def test_programs_run_alike_through_both_routes(route, monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 30)).astype(np.float32)
    b = rng.standard_normal((30, 20)).astype(np.float32)
    n = np.arange(6, dtype=np.int32)

    def f(a, b, n):  # a gemm, a 0-d, an empty, a bool and an int output
        return a @ b, jnp.sum(a), a[:0], a > 0, n * 3
    if route == "ctypes":
        monkeypatch.setattr(trampoline, "call", lambda: None)
    got = funcjax.jit(f)(a, b, n)
    want = (a @ b, a.sum(), a[:0], a > 0, n * 3)
    for g, w in zip(got, want):
        assert np.asarray(g).shape == w.shape and np.asarray(g).dtype == w.dtype
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-5, atol=1e-4)


def test_builtin_rejects_what_is_not_an_ndarray():
    call = trampoline.call()
    if call is None:
        pytest.skip("no verified ndarray layout in this interpreter")
    assert call(1, 0, [1.0]) is NotImplemented  # before anything runs
    assert call(0) is NotImplemented
    with pytest.raises(TypeError):  # no address: an error, never a call through NULL
        call("kernel", 0)
    with pytest.raises(SystemError):
        call(0, 0)


def test_threads_run_one_program_at_once_with_right_results():
    rng = np.random.default_rng(1)
    # 192 x 192 in and out: above fast_call.MAX_BYTES, so once hot the native entry runs one
    # call at a time without the GIL and the calls arriving meanwhile take the Python path
    xs = [rng.standard_normal((192, 192)).astype(np.float32) / 8 for _ in range(4)]
    f = funcjax.jit(lambda x: jnp.tanh(x @ x) + 1)
    f(xs[0])
    results = [None] * len(xs)

    def work(k):
        for _ in range(20):
            results[k] = np.asarray(f(xs[k]))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, r in zip(xs, results):
        np.testing.assert_allclose(r, np.tanh(x @ x) + 1, rtol=1e-4, atol=1e-4)
