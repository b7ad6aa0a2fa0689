"""Finding the BLAS that numpy's wheel bundles (OpenBLAS with ILP64, ``scipy_``-prefixed
symbols) so generated code can call ``scipy_cblas_sgemm64_``/``dgemm64_`` directly."""

import ctypes
import functools
import re
import threading

from funcjax.ops.lapack import library_path

SGEMM, DGEMM = "scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"
CGEMM, ZGEMM = "scipy_cblas_cgemm64_", "scipy_cblas_zgemm64_"
_DECLARED = re.compile(r'^declare [^@\n]*@"?(scipy_\w+)', re.MULTILINE)


@functools.cache
def _library():
    """numpy's OpenBLAS, opened with local symbols. Never into the global namespace (as
    LLVM's ``load_library_permanently`` would): its exported names (``gotoblas``...) would
    then take the place of scipy's own OpenBLAS's, loaded later, whose LAPACK went wrong for
    the rest of the process (``scipy.linalg.svd`` raised "Too large work array")."""
    path = library_path()
    return None if path is None else ctypes.CDLL(path)


_bound = set()
_bind_lock = threading.Lock()


def bind(names):
    """Makes the library's functions ``names`` resolvable by the JIT's linker, one by one
    (``llvm.add_symbol``). Raises AttributeError for a name the library lacks."""
    import llvmlite.binding as llvm
    with _bind_lock:
        for name in set(names) - _bound:
            address = ctypes.cast(getattr(_library(), name), ctypes.c_void_p).value
            llvm.add_symbol(name, address)
            _bound.add(name)


def bind_declared(ir_text):
    """Binds every ``scipy_`` function that the module ``ir_text`` declares."""
    bind(_DECLARED.findall(ir_text))


@functools.cache
def available():
    """Whether numpy's OpenBLAS with its gemm symbols is there (they are bound if so)."""
    if _library() is None:
        return False
    try:
        bind([SGEMM, DGEMM, CGEMM, ZGEMM])
    except AttributeError:
        return False
    return True


_threads = {"current": None}
_threads_lock = threading.Lock()


def use_threads(n):
    """Sets OpenBLAS's thread count to ``n`` (``funcjax_num_threads``) before compiled code
    calls gemm; on a loaded machine its spinning worker threads can cost more than the
    product. The library is numpy's, so numpy's matmuls use the same count afterwards."""
    if n is None or n == _threads["current"] or not available():
        return
    with _threads_lock:
        setter = getattr(_library(), "scipy_openblas_set_num_threads64_", None)
        if setter is not None:
            setter(ctypes.c_int(int(n)))
        _threads["current"] = n


def current_threads():
    """OpenBLAS's thread count now (``parallel_tasks`` lowers tasks when it is 1)."""
    getter = getattr(_library(), "scipy_openblas_get_num_threads64_", None)
    return getter() if getter is not None else 1
