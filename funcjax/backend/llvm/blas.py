"""Finding the BLAS that numpy's wheel bundles (OpenBLAS with ILP64, ``scipy_``-prefixed
symbols) so generated code can call ``scipy_cblas_sgemm64_``/``dgemm64_`` directly."""

import ctypes
import functools
import threading

from funcjax.ops.lapack import library_path

SGEMM, DGEMM = "scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"
CGEMM, ZGEMM = "scipy_cblas_cgemm64_", "scipy_cblas_zgemm64_"


@functools.cache
def available():
    """Loads the library into the process for MCJIT's symbol resolution (once)."""
    path = library_path()
    if path is None:
        return False
    import llvmlite.binding as llvm
    llvm.load_library_permanently(path)
    return llvm.address_of_symbol(SGEMM) is not None


_threads = {"current": None}
_threads_lock = threading.Lock()


def use_threads(n):
    """Sets OpenBLAS's thread count to ``n`` (``funcjax_num_threads``) before compiled code
    calls gemm; on a loaded machine its spinning worker threads can cost more than the
    product. The library is numpy's, so numpy's matmuls use the same count afterwards."""
    if n is None or n == _threads["current"] or not available():
        return
    with _threads_lock:
        setter = getattr(ctypes.CDLL(library_path()), "scipy_openblas_set_num_threads64_", None)
        if setter is not None:
            setter(ctypes.c_int(int(n)))
        _threads["current"] = n


def current_threads():
    """OpenBLAS's thread count now (``parallel_tasks`` lowers tasks when it is 1)."""
    getter = getattr(ctypes.CDLL(library_path()), "scipy_openblas_get_num_threads64_", None)
    return getter() if getter is not None else 1
