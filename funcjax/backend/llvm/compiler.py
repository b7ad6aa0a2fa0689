"""From LLVM IR text to machine code in memory: the target machine, the O3 pipeline (LLVM's
new pass manager, with the loop and SLP vectorisers), object emission and MCJIT loading.

``compile_ir`` reports how long LLVM's optimiser, code generation and loading took (its
``phases`` argument), which ``jax_log_compiles`` prints.

Code always goes through an object file: ``tm.emit_object`` once, then the engine loads the
object. The same bytes are what the persistent cache stores, so a cached entry and a fresh
compile are loaded the same way. llvmlite serialises its calls on one global lock anyway;
``LOCK`` makes that explicit so that threads compiling at once (pmap, user threads) never
interleave. Running compiled code needs no lock.
"""

import collections
import functools
import threading
import time

import llvmlite
import llvmlite.binding as llvm

from funcjax.backend.llvm import blas, disk_cache
from funcjax.config import config

LOCK = threading.RLock()
# Symbols that name Python objects of this process (host callbacks): never cached on disk.
UNCACHEABLE_SYMBOL_PREFIX = "funcjax_host_callback_"
OPT_LEVEL = 3
# Cold code (``cold=True``: small arrays, no loops, see ``program.is_cold``) runs for
# microseconds however well it is optimised: it gets the O1 pipeline without vectorisers and
# LLVM's fast instruction selection and register allocator (codegen level 0), which emit
# wide programs (1,000 pytree leaves) about 10x faster than O3.
COLD_LEVEL, COLD_CODEGEN_LEVEL = 1, 0
_ENGINE_CACHE_SIZE = 256
_engines = collections.OrderedDict()  # cache key -> Engine: the same IR compiles once
# "entry_points": generated C-API entries (fast_call), counted apart from programs
stats = {"compiled": 0, "entry_points": 0, "reused_in_process": 0, "loaded_from_disk": 0,
         "slp_fallback": 0, "unoptimised_fallback": 0}


@functools.cache
def host():
    """``(cpu name, feature string)`` of this machine; initialises LLVM's native target."""
    with LOCK:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine(codegen_level=OPT_LEVEL):
    """A fresh target machine: an engine owns its machine, so each engine gets its own."""
    cpu, features = host()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=cpu, features=features, opt=codegen_level,
                                        jit=True)


def _parse(ir_text, tm):
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_process_triple()
    mod.data_layout = str(tm.target_data)
    mod.verify()
    return mod


# ``unroll=False``: hot code made of vectorisable loops (``program.needs_unroller``) runs
# O3 without LLVM's loop unroller: the vectoriser still interleaves its loops (several
# accumulators), and what the unroller adds on top (vector bodies of 100-1,000-trip loops
# fully unrolled; short inner loops unrolled so that the outer loop vectorises with gathers)
# ran no faster but doubled LLVM's time: value_and_grad of an MLP, 155 -> 70 ms.
def _run_pipeline(mod, tm, slp, level=OPT_LEVEL, unroll=True, variants=False):
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = level >= 2
    pto.slp_vectorization = slp and level >= 2
    pto.loop_unrolling = unroll  # off: only loops whose metadata asks are unrolled
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    if level >= 2 and variants:
        _inline_vector_variants(mod, pb)
    return mod


# The loop vectoriser calls vector variants of scalar functions (vecmath's float32 and float64
# sin/cos/tan: ``vector-function-abi-variant``) after the pipeline's inliner has run, so the
# calls stay: every live vector register is spilled around them and reloaded (a dozen zmm
# reloads per iteration of the sin * exp + tanh loop). The variants are ``alwaysinline``, and
# one more always-inliner pass (plus instcombine and CFG simplification) puts them in place.
_INLINE_AFTER_VECTORISING = "vector-function-abi-variant"


def _inline_vector_variants(mod, pb):
    mpm = llvm.create_new_module_pass_manager()
    mpm.add_always_inliner_pass()
    mpm.add_instruction_combine_pass()
    mpm.add_simplify_cfg_pass()
    mpm.run(mod, pb)


def _verifies(mod):
    try:
        mod.verify()
    except RuntimeError:
        return False
    return True


def optimise(ir_text, tm, level=OPT_LEVEL, unroll=True):
    """The optimised module, verified: codegen aborts the process (SIGABRT) on invalid IR, so
    a module the full pipeline broke (LLVM's SLP vectoriser has produced "Instruction does not
    dominate all uses") is re-optimised from the original IR without SLP, and, should that
    fail too, compiled unoptimised (the input IR is verified before any pass runs)."""
    variants = _INLINE_AFTER_VECTORISING in ir_text
    mod = _run_pipeline(_parse(ir_text, tm), tm, True, level, unroll, variants)
    if _verifies(mod):
        return mod
    stats["slp_fallback"] += 1
    mod = _run_pipeline(_parse(ir_text, tm), tm, False, level, unroll, variants)
    if _verifies(mod):
        return mod
    stats["unoptimised_fallback"] += 1
    return _parse(ir_text, tm)


class Engine:
    """A loaded object: keep it alive as long as any function address from it is used."""

    def __init__(self, ee, tm):
        self._ee, self._tm = ee, tm

    def address(self, name):
        return self._ee.get_function_address(name)


PHASES = ("optimise", "codegen", "load")


def compile_ir(ir_text, cacheable=True, cold=False, unroll=True, phases=None):
    """Compiles (or loads from the persistent cache) ``ir_text``; returns an ``Engine``.
    ``cacheable=False``: the IR names addresses of this process, never cache it on disk.
    ``cold``: the cheap pipeline (``COLD_LEVEL``); ``unroll=False``: O3 without the loop
    unroller (the note above ``_run_pipeline``). ``phases``, a dict, receives the seconds
    of each of ``PHASES`` (0 for a phase skipped: a reused engine skips all, a persistent
    cache hit all but loading). Without a persistent cache directory, an
    identical module (a re-created function tracing to the same program) reuses the engine
    loaded in this process; with one, the directory serves it (loading skips LLVM too)."""
    with LOCK:
        cpu, features = host()
        level, codegen, unroll = _pipeline(cold, unroll)
        directory = config.jax_compilation_cache_dir
        if not cacheable or UNCACHEABLE_SYMBOL_PREFIX in ir_text:  # names this process's objects
            directory = None
        key = disk_cache.cache_key(ir_text, cpu, features + ",cold" * cold +
                                   ",no-unroll" * (not unroll), llvmlite.__version__)
        reuse = cacheable and directory is None  # else the persistent cache does this job
        phases = {} if phases is None else phases
        phases.update(dict.fromkeys(PHASES, 0.0))
        if reuse and key in _engines:
            _engines.move_to_end(key)
            stats["reused_in_process"] += 1
            return _engines[key]
        tm = target_machine(codegen)
        obj = disk_cache.load(directory, key) if directory else None
        if obj is None:
            start = time.perf_counter()
            mod = optimise(ir_text, tm, level, unroll)
            middle = time.perf_counter()
            obj = tm.emit_object(mod)
            phases["optimise"], phases["codegen"] = middle - start, time.perf_counter() - middle
            stats["compiled" if cacheable else "entry_points"] += 1
            if directory:
                disk_cache.store(directory, key, obj)
        else:
            stats["loaded_from_disk"] += 1
        if "scipy_" in ir_text:  # numpy's OpenBLAS: gemm, and LAPACK (lower_linalg)
            blas.bind_declared(ir_text)
        start = time.perf_counter()
        empty = llvm.parse_assembly("")
        empty.triple = llvm.get_process_triple()
        ee = llvm.create_mcjit_compiler(empty, tm)
        ee.add_object_file(llvm.ObjectFileRef.from_data(obj))
        ee.finalize_object()
        phases["load"] = time.perf_counter() - start
        engine = Engine(ee, tm)
        if reuse:
            _engines[key] = engine
            if len(_engines) > _ENGINE_CACHE_SIZE:
                _engines.popitem(last=False)
        return engine


def forget_engines():
    """Drops the in-process reuse of compiled modules (the next compile of any IR runs LLVM,
    or loads from the persistent cache)."""
    with LOCK:
        _engines.clear()


def _pipeline(cold, unroll):
    """``(optimiser level, codegen level, unroll)`` of ``compile_ir``'s pipeline choice."""
    return (COLD_LEVEL, COLD_CODEGEN_LEVEL, True) if cold else (OPT_LEVEL, OPT_LEVEL, unroll)


def optimised_ir(ir_text, cold=False, unroll=True):
    """The module as ``compile_ir(ir_text, cold=cold, unroll=unroll)`` optimises it."""
    level, codegen, unroll = _pipeline(cold, unroll)
    with LOCK:
        return str(optimise(ir_text, target_machine(codegen), level, unroll))


def assembly(ir_text, cold=False, unroll=True):
    """The machine code ``compile_ir(ir_text, cold=cold, unroll=unroll)`` makes, as text."""
    level, codegen, unroll = _pipeline(cold, unroll)
    with LOCK:
        tm = target_machine(codegen)
        return tm.emit_assembly(optimise(ir_text, tm, level, unroll))
