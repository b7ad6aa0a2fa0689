"""A jaxpr compiled to native code: lowering, compiling, the memory report, and the cache of
programs by jaxpr so that a ``jit`` equation compiles its sub-jaxpr once."""

import collections
import logging
import re
import time

import numpy as np

from funcjax.backend.llvm import blas, compiler, debug_nans, donation, host_call, host_calls
from funcjax.backend.llvm.lowering import lower_closed_jaxpr, rule_of
from funcjax.backend.llvm.memory import MemoryStats
from funcjax.backend.llvm.parallel_tasks import BLOCK_DEFINE
from funcjax.backend.llvm.runtime import Executable, check_arguments
from funcjax.config import config
from funcjax.core import gc_pause
from funcjax.core.ir import jaxprs_in
from funcjax.ops.contractions import dot_general_p

logger = logging.getLogger("funcjax")


def symbol_name(name):
    return "jit_" + re.sub(r"\W", "_", name)


COLD_ELEMENTS = 256


def is_cold(closed):
    """Whether a program is cold code: no sub-programs (loops, conditionals, calls) and no
    value over ``COLD_ELEMENTS`` elements, so it runs in well under a microsecond whatever
    the optimiser does; it is compiled with the cheap pipeline (``compiler.COLD_LEVEL``)."""
    jaxpr = closed.jaxpr
    if any(a.size > COLD_ELEMENTS for a in closed.in_avals):
        return False
    for eqn in jaxpr.eqns:
        if jaxprs_in(eqn.params) or any(v.aval.size > COLD_ELEMENTS for v in eqn.outputs):
            return False
    return True


# Lowering modules whose loops are plain vectorisable loop nests (elementwise, layout and
# reductions, and control flow around them): their programs run as fast without LLVM's loop
# unroller, which doubles LLVM's time (``compiler._run_pipeline``). Any other primitive
# (convolution, pooling, sort, FFT, int8 micro-kernels, generated matmul loops...) keeps it.
_ROLLED_RULES = frozenset(f"funcjax.backend.llvm.{name}" for name in (
    "lower_elementwise", "lower_shape", "lower_reductions", "lower_control_flow",
    "lower_calls"))
_GEMM_CALLS = tuple(f'call void @"{name}"(' for name in (blas.SGEMM, blas.DGEMM, blas.CGEMM,
                                                          blas.ZGEMM))


def needs_unroller(closed, ir_text):
    """Whether the hot program ``closed``, lowered to ``ir_text``, keeps LLVM's loop unroller:
    it does unless every equation (in sub-jaxprs too) is lowered by one of ``_ROLLED_RULES``
    or is a ``dot_general`` that became a BLAS call (lower_dot emits one gemm call site per
    BLAS product, none for its generated loops; the IR says which way it went)."""
    dots, stack = 0, [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            stack.extend(jaxprs_in(eqn.params))
            if eqn.primitive is dot_general_p:
                dots += 1
            elif rule_of(eqn.primitive).fn.__module__ not in _ROLLED_RULES:
                return True
    blocks = len(BLOCK_DEFINE.findall(ir_text))  # row blocks repeat their product's gemm call
    return sum(map(ir_text.count, _GEMM_CALLS)) - blocks != dots


class LoweredModule:
    """LLVM IR for a closure-converted jaxpr, with its memory plan (nothing compiled yet).

    ``donated`` pairs ``(input index, argument name)`` name the inputs whose buffers outputs
    may reuse (``donation.pair_donations`` decides which outputs do: ``self.aliases``)."""

    def __init__(self, closed, name, donated=()):
        self.closed, self.name = closed, name
        self.symbol = symbol_name(name)
        self.aliases, unusable = donation.pair_donations(closed, [i for i, _ in donated])
        donation.warn_unusable(name, closed, unusable, dict(donated))
        start = time.perf_counter()
        module, ctx = lower_closed_jaxpr(host_call.outline_complex(closed), self.symbol,
                                         self.aliases)
        self.ir_text = str(module)
        self.lower_seconds = time.perf_counter() - start
        if config.jax_log_compiles:
            logger.warning("Finished lowering %s to LLVM IR in %.3f s", name, self.lower_seconds)
        self.arena = ctx.arena
        in_bytes = sum(a.nbytes for a in closed.in_avals)
        out_bytes = sum(a.nbytes for a in closed.out_avals)
        alias_bytes = sum(closed.out_avals[k].nbytes for k, _ in self.aliases)
        self.memory = MemoryStats(in_bytes, out_bytes, alias_bytes, ctx.arena)


class Program:
    """Native code for a closed jaxpr; ``program(*args)`` checks the arguments and runs it."""

    def __init__(self, lowered):
        self.lowered = lowered
        self.name = lowered.name
        self.closed = lowered.closed
        start = time.perf_counter()
        self.cold = is_cold(self.closed)
        self.unroll = needs_unroller(self.closed, lowered.ir_text)
        self.phases = {}  # seconds per compiler.PHASES
        engine = compiler.compile_ir(lowered.ir_text, cold=self.cold, unroll=self.unroll,
                                     phases=self.phases)
        self.compile_seconds = time.perf_counter() - start
        if config.jax_log_compiles:
            pipeline = "cold" if self.cold else "O3" if self.unroll else "O3 without unroller"
            logger.warning("Finished LLVM compilation of %s in %.3f s (%s: %s)", self.name,
                           self.compile_seconds, pipeline, ", ".join(
                               f"{k} {v:.3f} s" for k, v in self.phases.items()))
        self.executable = Executable(engine, lowered.symbol, self.closed.in_avals,
                                     self.closed.out_avals, lowered.arena.size)
        self.uses_blas = blas.SGEMM[:12] in lowered.ir_text

    def __call__(self, *args, arg_names=None):
        """Runs on ``args``; deletes the donated Arrays whose buffers outputs reuse."""
        aliases = self.lowered.aliases
        arrays = check_arguments(self.name, self.closed.in_avals, args, arg_names)
        if aliases:
            donation.take_donated(self.name, args, arrays, aliases)
        inputs = [np.array(a) for a in arrays] if config.jax_debug_nans and aliases else arrays
        if self.uses_blas:
            blas.use_threads(config.funcjax_num_threads)
        outs = self.executable.run(arrays, aliases)
        host_calls.raise_pending()
        if config.jax_debug_nans:
            debug_nans.check_outputs(self.name, self.closed, inputs, outs)
        return outs

    def as_text(self, dialect="llvm"):
        if dialect == "llvm":
            return self.lowered.ir_text
        if dialect == "llvm-opt":
            return compiler.optimised_ir(self.lowered.ir_text, self.cold, self.unroll)
        if dialect == "asm":
            return compiler.assembly(self.lowered.ir_text, self.cold, self.unroll)
        raise ValueError(f"as_text: unknown dialect {dialect!r}; use 'llvm', 'llvm-opt' or "
                         "'asm'")


class ForwardingProgram:
    """A program without equations (outputs are inputs or literals, as ``jit(lambda t: t)``
    over a pytree): no native code at all, so compile time stays at tracing time. The LLVM
    module is only lowered if inspected (``lowered``, ``as_text``)."""

    def __init__(self, closed, name):
        self.closed, self.name = closed, name
        position = {v: k for k, v in enumerate(closed.jaxpr.invars)}
        self._plan = [(position[v], None) if v in position
                      else (None, np.asarray(v.val, v.aval.dtype)) for v in closed.jaxpr.outvars]
        self._lowered = None
        self.compile_seconds, self.phases = 0.0, dict.fromkeys(compiler.PHASES, 0.0)
        self.cold, self.unroll = False, True  # the pipeline as_text shows
        if config.jax_log_compiles:
            logger.warning("%s forwards its inputs: no LLVM compilation", name)

    @staticmethod
    def applies(closed, donated):
        jaxpr = closed.jaxpr
        return not (jaxpr.eqns or jaxpr.constvars or donated or config.jax_debug_nans)

    @property
    def lowered(self):
        if self._lowered is None:
            self._lowered = LoweredModule(self.closed, self.name)
        return self._lowered

    def __call__(self, *args, arg_names=None):
        arrays = check_arguments(self.name, self.closed.in_avals, args, arg_names)
        # copies: an output never shares memory with a (mutable numpy) argument; reshaped,
        # as check_arguments gives 0-d arguments one dimension
        in_avals = self.closed.in_avals
        return [np.array(arrays[k]).reshape(in_avals[k].shape) if k is not None
                else value.copy() for k, value in self._plan]

    as_text = Program.as_text


_CACHE_SIZE = 1024
_programs = collections.OrderedDict()  # (id(closed jaxpr), donated) -> (jaxpr, Program)


def program_for(closed, name, donated=()):
    """The compiled program of ``closed`` (compiled on first use; keyed by identity, and the
    entry keeps the jaxpr alive so the id cannot be reused while cached). ``donated``: see
    ``LoweredModule``."""
    key = (id(closed), donated)
    with compiler.LOCK:
        entry = _programs.get(key)
        if entry is not None and entry[0] is closed:
            _programs.move_to_end(key)
            return entry[1]
        if ForwardingProgram.applies(closed, donated):
            program = ForwardingProgram(closed, name)
        else:
            with gc_pause.paused():
                program = Program(LoweredModule(closed, name, donated))
        _programs[key] = (closed, program)
        if len(_programs) > _CACHE_SIZE:
            _programs.popitem(last=False)
        return program
