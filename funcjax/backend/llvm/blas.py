"""Finding the BLAS that numpy's wheel bundles (OpenBLAS with ILP64, ``scipy_``-prefixed
symbols) so generated code can call ``scipy_cblas_sgemm64_``/``dgemm64_`` directly.

The four gemm names resolve to small native routers (``_routers``): each picks numpy's
instance, funcjax's private one (``blas_kernel``) or funcjax's own float32 kernel (``sgemm``)
by the product's dtype, size and layout, through a table Python fills from
``funcjax_blas_kernel`` (``route``), so changing the setting takes effect for code already
compiled. Other names (LAPACK, trsm...) are numpy's instance's."""

import ctypes
import functools
import re
import threading

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import blas_kernel, sgemm
from funcjax.config import config
from funcjax.ops.lapack import library_path

SGEMM, DGEMM = "scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"
CGEMM, ZGEMM = "scipy_cblas_cgemm64_", "scipy_cblas_zgemm64_"
GEMMS = {"s": SGEMM, "d": DGEMM, "c": CGEMM, "z": ZGEMM}
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


def _address(lib, name):
    return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value


def bind(names):
    """Makes the library's functions ``names`` resolvable by the JIT's linker, one by one
    (``llvm.add_symbol``); gemm names get their routers. Raises AttributeError for a name the
    library lacks."""
    import llvmlite.binding as llvm
    names = set(names)
    # the routers compile under the compiler's lock: taken before ours, as compile_ir does
    routers = _routers() if names & set(GEMMS.values()) else None
    with _bind_lock:
        for name in names - _bound:
            address = _address(_library(), name)  # (raises for a missing name)
            if name in GEMMS.values():
                address = routers.address(f"funcjax_{name[12]}gemm_router")
            llvm.add_symbol(name, address)
            _bound.add(name)


# _table[CLASSES * i + size class]: the gemm the router of GEMMS' i-th letter calls for a
# product of that class (``blas_kernel.size_class``: small, large, large with both operands
# untransposed)
CLASSES = 3
_table = np.zeros(CLASSES * len(GEMMS), np.uint64)
_kernels = {}  # (letter, class) -> (instance, core) that _table holds, for ``kernel``
_private_libs = {}  # slot -> the private instance _table holds, or None
OWN = ("funcjax", sgemm.NAME)


def _router_ir():
    from funcjax.backend.llvm.spmd_pool import _Callee
    i32, i64, ptr = ir.IntType(32), ir.IntType(64), ir.PointerType()
    m = ir.Module(name="funcjax_gemm_routers")
    for i, letter in enumerate(GEMMS):
        scalar = {"s": ir.FloatType(), "d": ir.DoubleType()}.get(letter, ptr)
        ftype = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, scalar, ptr, i64,
                                                ptr, i64, scalar, ptr, i64])
        fn = ir.Function(m, ftype, f"funcjax_{letter}gemm_router")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        trans_a, trans_b, rows, cols, depth = fn.args[1:6]
        large = ir.Constant(ir.IntType(1), 1)  # as blas_kernel.size_class
        for size, least in zip((rows, cols, depth), blas_kernel.WINS.get(letter,
                                                                        blas_kernel.NEVER)):
            large = b.and_(large, b.icmp_signed(">=", size, i64(least)))
        plain = b.and_(b.icmp_signed("==", trans_a, i32(blas_kernel.NO_TRANS)),
                       b.icmp_signed("==", trans_b, i32(blas_kernel.NO_TRANS)))
        size_class = b.add(b.zext(large, i64), b.zext(b.and_(large, plain), i64))
        slot = b.add(i64(_table.ctypes.data + 8 * CLASSES * i), b.mul(size_class, i64(8)))
        b.call(_Callee(b.load(b.inttoptr(slot, ptr), typ=ptr), ftype), fn.args, tail="tail")
        b.ret_void()
    return str(m)


_router_engine = []


def _compiler():
    """The compiler module (imported on use: the compiler binds BLAS through this module)."""
    from funcjax.backend.llvm import compiler
    return compiler


def _routers():
    """The routers' engine, compiled once (under the compiler's lock: one engine, whose
    addresses are bound, lives for good)."""
    compiler = _compiler()
    with compiler.LOCK:
        if not _router_engine:
            route()
            _router_engine.append(compiler.compile_ir(_router_ir(), cacheable=False,
                                                      cold=True))
        return _router_engine[0]


def own_supported():
    """Whether this CPU can run funcjax's own float32 gemm (``sgemm``: AVX-512)."""
    return sgemm.supported(_compiler().host()[1])


@functools.cache
def _own_engine():
    return _compiler().compile_ir(sgemm.ir_text(), unroll=False)  # (its loops need no unroll)


def own_address():
    """The address of funcjax's own float32 gemm, compiled on first use (about 0.3 s; its
    engine lives for good, as the routers' does)."""
    return _own_engine().address(sgemm.ENTRY)


def _choice(setting, letter, size_class, one_thread=True):
    """(instance, core, library) for a product, by ``funcjax_blas_kernel``: instance
    "numpy", "private" or "funcjax" (``sgemm``, library None)."""
    numpy_core = blas_kernel.corename(_library())
    if setting == "auto":
        setting = blas_kernel.auto_core(_library())
        # only on one thread: two instances' worker threads spin against each other (MLP
        # step with OpenBLAS on 2 threads, products alternating instances: 2.6 -> 6.6 ms)
        if not size_class or letter not in blas_kernel.WINS or not one_thread:
            setting = None
        elif size_class == 2 and letter == "s" and setting and own_supported():
            setting = "funcjax"
    if setting == "funcjax":
        if letter == "s" and own_supported():
            return (*OWN, None)
        setting = None
    lib = None if setting in (None, "numpy") else _private(setting)
    if lib is None:
        return "numpy", numpy_core, _library()
    return "private", blas_kernel.corename(lib), lib


def _private(core):
    """The private instance running ``core``, or None if it cannot be made or this OpenBLAS
    does not know ``core`` (it then runs the detected one, numpy's)."""
    lib = blas_kernel.load(library_path(), core)
    if lib is None:
        return None
    got = blas_kernel.corename(lib)
    return None if got.lower() != core.lower() and got == blas_kernel.corename(
        _library()) else lib


@functools.cache
def _plan(setting, one_thread):
    """The table's content for a setting: per slot (address, (instance, core), library)."""
    return [(own_address() if lib is None else _address(lib, name), (instance, core), lib)
            for letter, name in GEMMS.items() for size_class in range(CLASSES)
            for instance, core, lib in [_choice(setting, letter, size_class, one_thread)]]


def route(setting=None):
    """Fills the routers' table for ``setting`` (default: the current one) and OpenBLAS's
    thread count now; the config listener calls it (benchmarks call it directly to switch
    without dropping jit's generated entries, as any ``config.update`` does). The private
    instances in use get numpy's thread count."""
    setting = config.funcjax_blas_kernel if setting is None else setting
    with _threads_lock:
        threads = current_threads()
        _threads["routed on one"] = threads == 1
        plan = _plan(setting, threads == 1)
        if plan is _threads.get("plan") and threads == _threads.get("routed threads"):
            return
        _threads["plan"], _threads["routed threads"] = plan, threads
        for slot, (address, _, lib) in enumerate(plan):
            _table[slot] = address
            _private_libs[slot] = lib if lib is not _library() else None
        for lib in set(filter(None, _private_libs.values())):
            lib.scipy_openblas_set_num_threads64_(ctypes.c_int(threads))
        _kernels.update({(letter, size_class): plan[CLASSES * i + size_class][1]
                         for i, letter in enumerate(GEMMS) for size_class in range(CLASSES)})


def kernel(dtype, m, n, k, transposed=(False, False)):
    """Which gemm a product of ``dtype`` with these sizes (and operands ``transposed``) runs
    now, e.g. ``("private", "Haswell")``, ``("numpy", "SkylakeX")`` or ``("funcjax",
    "AVX-512 6x64")``; None without BLAS."""
    if not available():
        return None
    letter = {"float32": "s", "float64": "d", "complex64": "c", "complex128": "z"}[
        np.dtype(dtype).name]
    return _kernels[letter, blas_kernel.size_class(letter, m, n, k, *transposed)]


def _on_config(name, value):
    if name != "funcjax_blas_kernel":
        return
    blas_kernel.validate(value)
    if value == "funcjax" and not own_supported():
        raise ValueError("config.update('funcjax_blas_kernel', 'funcjax'): funcjax's own "
                         "float32 gemm needs a CPU with AVX-512; use 'auto' or 'numpy'")
    if value not in ("auto", "numpy", "funcjax") and (_library() is None
                                                      or _private(value) is None):
        raise ValueError(f"config.update('funcjax_blas_kernel', {value!r}): numpy's OpenBLAS "
                         "has no such core or a private instance of it could not be made; use "
                         "'auto', 'numpy' or a core name such as 'Haswell', 'Zen', 'SkylakeX'")
    if _router_engine:
        route(value)


config.on_update(_on_config)


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
_threads_lock = threading.RLock()


def use_threads(n):
    """Sets OpenBLAS's thread count to ``n`` (``funcjax_num_threads``) before compiled code
    calls gemm; on a loaded machine its spinning worker threads can cost more than the
    product. numpy's instance is set, so numpy's matmuls use the same count afterwards, and
    the private one follows numpy's count (``n`` None: whatever numpy's is now)."""
    if not available():
        return
    if n is None:
        n = current_threads()
    if n == _threads["current"]:
        return
    set_threads(n)
    _threads["current"] = n


def set_threads(n):
    """Sets the thread count of numpy's instance and of the private ones in use ("auto"
    routes again when the count goes to or from 1)."""
    if _library() is None:
        return
    with _threads_lock:
        for lib in {_library(), *filter(None, _private_libs.values())}:
            lib.scipy_openblas_set_num_threads64_(ctypes.c_int(int(n)))
        if _router_engine and _threads.get("routed on one") != (n == 1):
            route()


def current_threads():
    """OpenBLAS's thread count now (``parallel_tasks`` lowers tasks when it is 1)."""
    getter = getattr(_library(), "scipy_openblas_get_num_threads64_", None)
    return getter() if getter is not None else 1
