"""numpy's OpenBLAS is bound into the JIT symbol by symbol, never loaded into the global
namespace, where its exported names took the place of scipy's own OpenBLAS's and broke
scipy's LAPACK for the rest of the process."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("scipy")

_SCRIPT = textwrap.dedent("""
    import numpy as np
    import funcjax
    import funcjax.numpy as jnp
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    out = funcjax.jit(lambda x: x @ x)(a)                # gemm, bound before scipy loads
    assert np.allclose(out, a @ a, rtol=1e-4, atol=1e-4)
    inv = np.asarray(jnp.linalg.inv(a))                  # LAPACK from numpy's OpenBLAS
    assert np.allclose(inv @ a, np.eye(64), atol=1e-3)
    import scipy.linalg
    g = np.random.default_rng(1).standard_normal((5, 3))
    s = scipy.linalg.svd(g, compute_uv=False)
    assert np.allclose(s, np.linalg.svd(g, compute_uv=False))
    w = scipy.linalg.eigh(g.T @ g, eigvals_only=True)
    assert np.allclose(w, np.linalg.eigvalsh(g.T @ g))
    print("ok")
""")


def test_scipy_lapack_still_works_after_jit_called_blas():
    # a fresh process: whether scipy loads before or after funcjax's first BLAS call is the point
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
