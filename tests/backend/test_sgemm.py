"""funcjax's own float32 gemm (``backend/llvm/sgemm``): ``cblas_sgemm``'s semantics for every
order, transpose, leading dimension, alpha and beta, against numpy in float64; bits that do
not depend on m (row blocks equal the whole product); several threads at once; and its use
by compiled code ("funcjax" and "auto" in ``funcjax_blas_kernel``)."""

import ctypes
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
from funcjax.backend.llvm import blas, blas_kernel, sgemm
from funcjax.config import config

pytestmark = pytest.mark.skipif(not blas.own_supported(), reason="needs AVX-512")

ROW, COL, NO, TRANS = 101, 102, 111, 112
_SIG = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                        ctypes.c_int64, ctypes.c_int64, ctypes.c_float, ctypes.c_void_p,
                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_float,
                        ctypes.c_void_p, ctypes.c_int64)


@pytest.fixture(scope="module")
def gemm():
    return _SIG(blas.own_address())


def _stored(matrix, order, pad):
    """``matrix`` in a buffer of ``order`` with ``pad`` extra elements per leading row (filled
    with NaN: a kernel that reads them poisons the result); returns (buffer, ld)."""
    rows, cols = matrix.shape if order == ROW else matrix.shape[::-1]
    buf = np.full((rows, cols + pad), np.nan, np.float32)
    buf[:, :cols] = matrix if order == ROW else matrix.T
    return buf, cols + pad


def _call(gemm, order, ta, tb, a, b, alpha, beta, c, pads=(0, 0, 0)):
    """C = alpha op(a) op(b) + beta C through the cblas interface; ``a``/``b``/``c`` are the
    logical matrices; returns the new C."""
    m, k = a.shape
    n = b.shape[1]
    a_buf, lda = _stored(a if ta == NO else a.T, order, pads[0])
    b_buf, ldb = _stored(b if tb == NO else b.T, order, pads[1])
    c_buf, ldc = _stored(c, order, pads[2])
    gemm(order, ta, tb, m, n, k, alpha, a_buf.ctypes.data, lda, b_buf.ctypes.data, ldb, beta,
         c_buf.ctypes.data, ldc)
    out = c_buf[:, :ldc - pads[2]]
    assert np.isnan(c_buf[:, ldc - pads[2]:]).all()  # nothing written past the rows
    return out if order == ROW else out.T


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 80), n=st.integers(1, 150), k=st.integers(0, 70),
       order=st.sampled_from([ROW, COL]), ta=st.sampled_from([NO, TRANS]),
       tb=st.sampled_from([NO, TRANS]), pads=st.tuples(*[st.sampled_from([0, 3, 17])] * 3),
       scalars=st.sampled_from([(1.0, 0.0), (0.5, 2.0), (-1.5, 1.0), (0.0, 0.5), (0.0, 0.0)]))
def test_matches_numpy_for_every_layout(gemm, m, n, k, order, ta, tb, pads, scalars):
    rng = np.random.default_rng(m * 1_000_003 + n * 1009 + k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)
    alpha, beta = scalars
    out = _call(gemm, order, ta, tb, a, b, alpha, beta, c, pads)
    ref = alpha * (a.astype(np.float64) @ b) + beta * c
    assert np.abs(out - ref).max(initial=0) <= 1e-5 * (k + 1) * (1 + np.abs(ref).max(initial=0))


@pytest.mark.parametrize("m, n, k", [(6, 64, 1024), (7, 65, 1025), (100, 300, 2100),
                                     (13, 200, 3000)])
def test_long_and_uneven_products(gemm, m, n, k):
    """k past one pass (1024) and edge tiles on both sides."""
    rng = np.random.default_rng(k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    for ta, tb in ((NO, NO), (TRANS, NO), (NO, TRANS)):
        out = _call(gemm, ROW, ta, tb, a, b, 1.0, 0.0, np.zeros((m, n), np.float32))
        np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4,
                                   atol=1e-4 * np.sqrt(k))


def test_beta_zero_never_reads_c_and_nan_propagates_from_operands(gemm):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 30)).astype(np.float32)
    b = rng.standard_normal((30, 70)).astype(np.float32)
    c = np.full((20, 70), np.nan, np.float32)
    out = _call(gemm, ROW, NO, NO, a, b, 1.0, 0.0, c)
    assert np.isfinite(out).all()
    a[3, 4], b[5, 60] = np.nan, np.inf
    out = _call(gemm, ROW, NO, NO, a, b, 1.0, 0.0, c)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(a.astype(np.float64) @ b))


def test_bits_do_not_depend_on_the_rows_computed(gemm):
    """The order of an element's sum depends on k only: any block of rows gives the bits of
    the whole product (``parallel_tasks`` splits products into row blocks)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 2500)).astype(np.float32)
    b = rng.standard_normal((2500, 300)).astype(np.float32)
    whole = _call(gemm, ROW, NO, NO, a, b, 1.0, 0.0, np.zeros((200, 300), np.float32))
    for lo, hi in ((0, 16), (16, 200), (37, 38), (150, 199)):
        part = _call(gemm, ROW, NO, NO, a[lo:hi], b, 1.0, 0.0,
                     np.zeros((hi - lo, 300), np.float32))
        np.testing.assert_array_equal(part, whole[lo:hi])


def test_threads_at_once(gemm):
    """Each call takes a workspace slot (or allocates one): concurrent calls stay correct."""
    rng = np.random.default_rng(2)
    cases = [(rng.standard_normal((150 + i, 300)).astype(np.float32),
              rng.standard_normal((300, 260 + 7 * i)).astype(np.float32)) for i in range(6)]
    results, errors = {}, []

    def work(i):
        try:
            a, b = cases[i]
            for _ in range(5):
                results[i] = _call(gemm, ROW, NO, NO, a, b, 1.0, 0.0,
                                   np.zeros((a.shape[0], b.shape[1]), np.float32))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, (a, b) in enumerate(cases):
        np.testing.assert_allclose(results[i], a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)


@pytest.fixture
def setting():
    before = config.funcjax_blas_kernel
    yield lambda value: config.update("funcjax_blas_kernel", value)
    config.update("funcjax_blas_kernel", before)


@pytest.mark.skipif(not blas.available(), reason="no BLAS")
def test_compiled_products_on_funcjax_kernel(setting):
    setting("funcjax")
    assert blas.kernel(np.float32, 300, 300, 300) == ("funcjax", sgemm.NAME)
    assert blas.kernel(np.float32, 300, 300, 300, (True, False)) == ("funcjax", sgemm.NAME)
    assert blas.kernel(np.float64, 300, 300, 300)[0] == "numpy"
    rng = np.random.default_rng(3)
    x = rng.standard_normal((130, 300)).astype(np.float32)
    w = rng.standard_normal((300, 270)).astype(np.float32)
    g = rng.standard_normal((130, 270)).astype(np.float32)
    f = funcjax.jit(lambda x, w, g: (x @ w, x.T @ g, g @ w.T))
    for out, ref in zip(f(x, w, g), (x.astype(np.float64) @ w, x.T.astype(np.float64) @ g,
                                     g.astype(np.float64) @ w.T)):
        np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-4, atol=1e-3)
    setting("numpy")  # the same compiled program, routed back to numpy's instance
    np.testing.assert_allclose(np.asarray(f(x, w, g)[0]), x @ w, rtol=1e-5, atol=1e-4)


@pytest.mark.skipif(not blas.available(), reason="no BLAS")
def test_auto_uses_it_for_large_untransposed_products_on_one_thread(setting):
    setting("auto")
    before = blas.current_threads()
    try:
        blas.set_threads(1)
        core = blas_kernel.auto_core(blas._library())
        expected = ("funcjax", sgemm.NAME) if core else blas.kernel(np.float32, 8, 8, 8)
        assert blas.kernel(np.float32, 512, 512, 512) == expected
        assert blas.kernel(np.float32, 512, 512, 512, (False, True)) != ("funcjax", sgemm.NAME)
        assert blas.kernel(np.float32, 512, 100, 512) != ("funcjax", sgemm.NAME)
        blas.set_threads(2)
        assert blas.kernel(np.float32, 512, 512, 512)[0] == "numpy"
    finally:
        blas.set_threads(before)


def test_refused_without_avx512(monkeypatch):
    monkeypatch.setattr(sgemm, "supported", lambda features: False)
    with pytest.raises(ValueError, match="AVX-512"):
        config.update("funcjax_blas_kernel", "funcjax")
    assert blas._choice("funcjax", "s", 2)[0] == "numpy"
