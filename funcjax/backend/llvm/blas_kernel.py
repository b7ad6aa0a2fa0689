"""A private instance of numpy's OpenBLAS whose kernel is chosen for this CPU, for the gemm
calls of compiled code; numpy keeps its own instance, kernel, speed and bits.

OpenBLAS picks its kernel once, in its constructor, from the CPU or from
``OPENBLAS_CORETYPE``. On AMD Zen 4 numpy's instance picks SkylakeX, whose float32 and
complex gemm are 3-10% slower there than the Haswell kernels (RESULTS.md, issue 12). A second
instance needs a second file: glibc's ``dlopen`` returns the loaded library again for the same
inode (a symlink or hard link included). The copy is an anonymous ``memfd_create`` file,
opened through ``/proc/self/fd``: ~20 ms once per process (a 25 MB copy in memory), nothing
on disk to trust, clean up or keep in step with numpy (a per-user cache file measured 14 ms
once then 1 ms, but a shared library read back from a directory must be checked as strictly
as ``disk_cache``'s entries). Its ``libgfortran`` dependency resolves to the one numpy
already loaded (by soname), and ``gotoblas`` has protected visibility, so the copy never
touches numpy's kernel table. Anything that fails (no memfd, no ``/proc``, not Linux, a core
this OpenBLAS lacks) leaves every call on numpy's instance.

The policy is fixed by the machine and the product's shape, never by a timing at run time
(results' bits must not depend on load): ``funcjax_blas_kernel`` "auto" uses a Haswell
instance only where numpy's reports a SkylakeX-family core on an AMD CPU, only while OpenBLAS
runs one thread (``funcjax_num_threads`` 1 or ``OPENBLAS_NUM_THREADS=1``: with more, the two
instances' worker threads spin against each other), and only for the dtypes and sizes where it
measured faster (``WINS``), except float32 products with neither operand transposed, which
go to funcjax's own kernel (``sgemm``, ``size_class`` 2); "numpy" keeps every call on numpy's
instance; "funcjax" sends every float32 gemm to ``sgemm``; an OpenBLAS core name ("Haswell",
"Zen", "SkylakeX"...) sends every gemm to a private instance of that core. Also settable as
``FUNCJAX_BLAS_KERNEL``.
"""

import ctypes
import functools
import os
import threading

AUTO_CORE = "Haswell"
_SKYLAKE_FAMILY = ("skylakex", "cooperlake", "sapphirerapids")
# gemm letter -> (least m, least n, least k) of the products (m x k times k x n) for which
# AUTO_CORE's kernel is faster than SkylakeX's on Zen 4 (cblas calls, min of 15-21 interleaved
# rounds, notes of issue 12 `blaskernel`). float32 with n >= 256: 2-25% faster for every m >= 4
# and k >= 8 measured (m = 1: 3x slower; k = 1 or 4: 26-56% slower); n = 128: even at 128^3,
# 26% slower at 16 x 128 x 128; n <= 96: 10% slower up to 96^3, 13-53% with n = 10 or 1.
# float64: never (0-19% slower, 2x with n = 10). complex: 2-27% faster from 32^3 (one 128 x
# 512 x 512 complex128 product 6% slower). The least m is at most parallel_tasks'
# SPLIT_ALIGN, so a product's row blocks (>= that many rows) run the whole product's kernel:
# the same bits with and without tasks (the sizes, not the work, decide).
WINS = {"s": (4, 256, 8), "c": (4, 32, 32), "z": (4, 32, 32)}
NEVER = (2 ** 62,) * 3
NO_TRANS = 111  # CblasNoTrans


def large(letter, m, n, k):
    """Whether a gemm of these sizes is in the class where AUTO_CORE's kernel wins."""
    return all(size >= least for size, least in zip((m, n, k), WINS.get(letter, NEVER)))


def size_class(letter, m, n, k, trans_a=False, trans_b=False):
    """The routers' class of a product: 0 small, 1 large, 2 large with neither operand
    transposed (where "auto" runs float32 products on funcjax's own kernel, ``sgemm``: 3-5%
    faster than AUTO_CORE's on ``bench_jitperf.py --blas-kernel``'s matmul rows; with a
    transposed B and few rows it measured 7-18% slower, its B panel being a transposing
    copy). Only n, k and the layout separate classes 1 and 2, so the row blocks of
    ``parallel_tasks`` stay in their product's class."""
    if not large(letter, m, n, k):
        return 0
    return 2 if not (trans_a or trans_b) else 1


_ENV = "OPENBLAS_CORETYPE"
_load_lock = threading.Lock()


def corename(lib):
    """The kernel family an OpenBLAS instance runs ("SkylakeX", "Haswell"...)."""
    fn = lib.scipy_openblas_get_corename64_
    fn.restype = ctypes.c_char_p
    return fn().decode()


def _amd():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in f)
    except OSError:
        return False


def auto_core(numpy_lib):
    """The core "auto" gives a private instance on this machine, or None (numpy's)."""
    if corename(numpy_lib).lower() in _SKYLAKE_FAMILY and _amd():
        return AUTO_CORE
    return None


def _copy(path):
    """A new anonymous file with the bytes of ``path``; returns its descriptor."""
    fd = os.memfd_create("funcjax-openblas", os.MFD_CLOEXEC)
    try:
        with open(path, "rb") as src:
            size, done = os.fstat(src.fileno()).st_size, 0
            while done < size:
                done += os.sendfile(fd, src.fileno(), done, size - done)
        return fd
    except BaseException:
        os.close(fd)
        raise


@functools.cache
def load(path, core):
    """A private instance of the OpenBLAS at ``path`` asked to run ``core``'s kernels (local
    symbols; ``corename`` says which it runs), or None if it cannot be made. The environment
    is as it was afterwards."""
    with _load_lock:
        try:
            fd = _copy(path)
        except (OSError, AttributeError):  # no memfd_create / sendfile (not Linux)
            return None
        previous = os.environ.get(_ENV)
        os.environ[_ENV] = core  # read by OpenBLAS's constructor, during dlopen
        try:
            # the descriptor stays open: glibc matches an already loaded path by name, so a
            # reused /proc/self/fd/N would give back an earlier instance
            return ctypes.CDLL(f"/proc/self/fd/{fd}", mode=os.RTLD_LOCAL)
        except OSError:
            os.close(fd)
            return None
        finally:
            if previous is None:
                del os.environ[_ENV]
            else:
                os.environ[_ENV] = previous


def validate(setting):
    """Raises a ValueError naming the fix unless ``setting`` is a valid value."""
    if not isinstance(setting, str) or not setting:
        raise ValueError(f"config.update('funcjax_blas_kernel', {setting!r}): expected "
                         "'auto', 'numpy', 'funcjax' or an OpenBLAS core name such as "
                         "'Haswell'")
