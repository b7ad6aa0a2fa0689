"""funcjax's private OpenBLAS instance (``blas_kernel``): compiled gemm calls run the kernel
``funcjax_blas_kernel`` picks, numpy keeps its own instance and kernel, the environment is
restored, and anything that fails falls back to numpy's instance."""

import ctypes
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import funcjax
from funcjax import lax
from funcjax.backend.llvm import blas, blas_kernel
from funcjax.config import config

pytestmark = pytest.mark.skipif(not blas.available(), reason="numpy has no bundled OpenBLAS")


def _private_ok():
    return blas_kernel.load(blas.library_path(), "Haswell") is not None


@pytest.fixture
def kernel_setting():
    before = config.funcjax_blas_kernel

    def use(value):
        if value != "numpy" and not _private_ok():
            pytest.skip("no private OpenBLAS instance on this machine")
        config.update("funcjax_blas_kernel", value)
    yield use
    config.update("funcjax_blas_kernel", before)


_SCRIPT = textwrap.dedent("""
    import ctypes, os
    import numpy as np
    from funcjax.ops.lapack import library_path
    lib = ctypes.CDLL(library_path())
    lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
    core = lib.scipy_openblas_get_corename64_()
    a = np.random.default_rng(0).standard_normal((200, 300)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((300, 160)).astype(np.float32)
    expected = a @ b
    assert "OPENBLAS_CORETYPE" not in os.environ
    import funcjax
    from funcjax.backend.llvm import blas
    out = np.asarray(funcjax.jit(lambda x, y: x @ y)(a, b))   # loads the private Haswell copy
    assert blas.kernel(np.float32, 200, 160, 300) == ("private", "Haswell"), blas.kernel(
        np.float32, 200, 160, 300)
    assert "OPENBLAS_CORETYPE" not in os.environ                # unset again
    os.environ["OPENBLAS_CORETYPE"] = "Sentinel"
    funcjax.config.update("funcjax_blas_kernel", "SandyBridge")  # a second private copy
    assert os.environ["OPENBLAS_CORETYPE"] == "Sentinel"        # as it was
    assert blas.kernel(np.float32, 200, 160, 300) == ("private", "Sandybridge")
    out2 = np.asarray(funcjax.jit(lambda x, y: x @ y)(a, b))
    assert np.allclose(out, expected, rtol=1e-4, atol=1e-3)
    assert np.allclose(out2, expected, rtol=1e-4, atol=1e-3)
    assert lib.scipy_openblas_get_corename64_() == core          # numpy's kernel unchanged
    assert np.array_equal(a @ b, expected)                       # numpy's bits unchanged
    import scipy.linalg
    g = np.random.default_rng(2).standard_normal((5, 3))
    assert np.allclose(scipy.linalg.svd(g, compute_uv=False), np.linalg.svd(g, compute_uv=False))
    print("ok")
""")


def _prints_ok_in_a_fresh_process(script, env):
    """Runs ``script`` in a new interpreter with environment ``env``; checks it printed ok."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_numpy_instance_environment_and_scipy_unchanged_in_fresh_process():
    pytest.importorskip("scipy")
    if not _private_ok():
        pytest.skip("no private OpenBLAS instance on this machine")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["FUNCJAX_BLAS_KERNEL"] = "Haswell"
    _prints_ok_in_a_fresh_process(_SCRIPT, env)


_CASES = [  # (lhs shape, rhs shape, ((lhs contract), (rhs contract)))
    ((40, 70), (70, 50), ((1,), (0,))),       # plain
    ((70, 40), (70, 50), ((0,), (0,))),       # lhs transposed
    ((40, 70), (50, 70), ((1,), (1,))),       # rhs transposed
    ((70, 40), (50, 70), ((0,), (1,))),       # both
    ((130, 140), (140, 300), ((1,), (0,))),   # "large" in the float32 and complex policies
]


@pytest.mark.parametrize("setting", ["numpy", "Haswell", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_jit_products_match_numpy_on_each_instance(kernel_setting, setting, dtype):
    kernel_setting(setting)
    rng = np.random.default_rng(0)
    with funcjax.enable_x64():
        for ls, rs, (lc, rc) in _CASES:
            a = rng.standard_normal(ls).astype(dtype)
            b = rng.standard_normal(rs).astype(dtype)
            if np.dtype(dtype).kind == "c":
                a = a + 1j * rng.standard_normal(ls).astype(dtype)
                b = b + 1j * rng.standard_normal(rs).astype(dtype)
            f = funcjax.jit(lambda x, y, lc=lc, rc=rc: lax.dot_general(x, y, ((lc, rc), ((), ()))))
            out = np.asarray(f(a, b))
            assert out.dtype == dtype
            expected = np.tensordot(a.astype(np.complex128), b.astype(np.complex128),
                                    (lc, rc))
            tol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-11
            np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * 50)


def test_setting_switches_instance_of_compiled_code(kernel_setting):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((160, 200)).astype(np.float32)
    b = rng.standard_normal((200, 150)).astype(np.float32)
    f = funcjax.jit(lambda x, y: x @ y)
    kernel_setting("numpy")
    numpy_core = blas_kernel.corename(blas._library())
    assert blas.kernel(np.float32, 160, 150, 200) == ("numpy", numpy_core)
    on_numpy = np.asarray(f(a, b))
    assert np.array_equal(on_numpy, a @ b)  # numpy's instance and call: numpy's bits
    kernel_setting("Haswell")  # the same compiled program, now on the private instance
    assert blas.kernel(np.float32, 160, 150, 200) == ("private", "Haswell")
    assert blas.kernel(np.float64, 8, 8, 8) == ("private", "Haswell")
    np.testing.assert_allclose(np.asarray(f(a, b)), on_numpy, rtol=1e-4, atol=1e-3)
    private = blas_kernel.load(blas.library_path(), "Haswell")
    assert int(blas._table[1]) == ctypes.cast(private.scipy_cblas_sgemm64_,
                                              ctypes.c_void_p).value


def test_auto_policy_is_by_machine_dtype_size_and_threads(kernel_setting):
    kernel_setting("auto")
    core = blas_kernel.auto_core(blas._library())
    before = blas.current_threads()
    try:
        for threads in (1, 2):
            blas.set_threads(threads)
            for dtype, m, n, k in [(np.float32, 256, 256, 256), (np.float32, 16, 16, 16),
                                   (np.float32, 512, 10, 512), (np.float64, 512, 512, 512),
                                   (np.complex64, 128, 128, 128), (np.float32, 1, 512, 512)]:
                letter = {"f": "s", "d": "d", "F": "c", "D": "z"}[np.dtype(dtype).char]
                for transposed in ((False, False), (True, False), (False, True)):
                    size_class = blas_kernel.size_class(letter, m, n, k, *transposed)
                    assert size_class == (blas_kernel.large(letter, m, n, k)
                                          * (1 + (transposed == (False, False))))
                    private = core and size_class and threads == 1 and _private_ok()
                    own = private and size_class == 2 and letter == "s" and blas.own_supported()
                    assert blas.kernel(dtype, m, n, k, transposed)[0] == (
                        "funcjax" if own else "private" if private else "numpy")
    finally:
        blas.set_threads(before)


def test_private_instance_follows_thread_count(kernel_setting):
    kernel_setting("Haswell")
    private = blas_kernel.load(blas.library_path(), "Haswell")
    before = blas.current_threads()
    try:
        blas.set_threads(1)
        assert private.scipy_openblas_get_num_threads64_() == 1
        blas.set_threads(2)
        assert private.scipy_openblas_get_num_threads64_() == 2
        assert blas.current_threads() == 2
    finally:
        blas.set_threads(before)


def test_bad_setting_is_refused_with_the_fix():
    before = config.funcjax_blas_kernel
    for bad in (3, "", "NoSuchCore"):
        with pytest.raises(ValueError, match="funcjax_blas_kernel"):
            config.update("funcjax_blas_kernel", bad)
        assert config.funcjax_blas_kernel == before


def test_copy_failure_falls_back_to_numpy_instance(monkeypatch):
    def no_memfd(path):
        raise OSError("no memfd here")
    monkeypatch.setattr(blas_kernel, "_copy", no_memfd)
    before = dict(os.environ)
    assert blas_kernel.load.__wrapped__(blas.library_path(), "Haswell") is None
    assert dict(os.environ) == before
    monkeypatch.setattr(blas_kernel, "load", lambda path, core: None)
    for setting in ("auto", "Haswell"):
        assert blas._choice(setting, "s", 1)[:2] == ("numpy", blas_kernel.corename(blas._library()))
    assert blas._choice("auto", "c", 2)[:2] == ("numpy", blas_kernel.corename(blas._library()))
    with pytest.raises(ValueError, match="could not be made"):
        config.update("funcjax_blas_kernel", "Haswell")


def test_unknown_core_from_environment_falls_back_to_numpy_instance():
    script = textwrap.dedent("""
        import numpy as np
        import funcjax
        from funcjax.backend.llvm import blas, blas_kernel
        a = np.random.default_rng(0).standard_normal((200, 200)).astype(np.float32)
        out = np.asarray(funcjax.jit(lambda x: x @ x)(a))
        assert np.allclose(out, a @ a, rtol=1e-4, atol=1e-3)
        assert blas.kernel(np.float32, 200, 200, 200) == (
            "numpy", blas_kernel.corename(blas._library()))
        print("ok")
    """)
    _prints_ok_in_a_fresh_process(
        script, dict(os.environ, FUNCJAX_BLAS_KERNEL="NoSuchCore"))


def test_row_blocks_keep_their_products_kernel():
    """parallel_tasks splits a product into row blocks of at least SPLIT_ALIGN rows; the class
    must not change with the rows then (the same bits with and without tasks)."""
    from funcjax.backend.llvm import parallel_tasks
    assert all(least_m <= parallel_tasks.SPLIT_ALIGN for least_m, _, _ in
               blas_kernel.WINS.values())


def test_first_products_compiled_from_two_threads_at_once():
    """Binding the gemm names compiles the routers once, under the compiler's lock, while
    another thread may be compiling (a fresh process: the first BLAS use is the point)."""
    script = textwrap.dedent("""
        import threading
        import numpy as np
        import funcjax
        rng = np.random.default_rng(0)
        data = [rng.standard_normal((96 + 8 * i, 300)).astype(np.float32) for i in range(4)]
        outs, errors = {}, []
        def work(i):
            try:
                f = funcjax.jit(lambda x, i=i: (x * (i + 1)) @ x.T)
                outs[i] = np.asarray(f(data[i]))
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        for i, x in enumerate(data):
            assert np.allclose(outs[i], (x * (i + 1)) @ x.T, rtol=1e-4, atol=1e-2)
        print("ok")
    """)
    _prints_ok_in_a_fresh_process(script, dict(os.environ, FUNCJAX_BLAS_KERNEL="auto"))
