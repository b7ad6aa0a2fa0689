"""The backend never hands unverified IR to codegen (which aborts the process on it): the
optimised module is verified and re-optimised without SLP, or left unoptimised, when the
pipeline broke it. Programs that once aborted run in a subprocess, so an abort fails the test
instead of killing the run."""

import ctypes
import subprocess
import sys
import textwrap
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import compiler

_ROOT = Path(__file__).resolve().parents[2]

# Valid IR with a loop; used to check each fallback stage compiles and runs correctly.
_GOOD_IR = """
define void @add1(ptr noalias %x, ptr noalias %y) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %px = getelementptr inbounds float, ptr %x, i64 %i
  %v = load float, ptr %px
  %w = fadd float %v, 1.0
  %py = getelementptr inbounds float, ptr %y, i64 %i
  store float %w, ptr %py
  %next = add i64 %i, 1
  %done = icmp eq i64 %next, 16
  br i1 %done, label %exit, label %loop
exit:
  ret void
}
"""

# Parses, but does not verify: %b is used in the block that defines it before its definition.
_BROKEN_IR = """
define i32 @broken(i32 %a) {
entry:
  %c = add i32 %b, 1
  %b = add i32 %a, 1
  ret i32 %c
}
"""


def _run_add1(engine):
    x = np.arange(16, dtype=np.float32)
    y = np.zeros(16, np.float32)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(engine.address("add1"))
    fn(x.ctypes.data, y.ctypes.data)
    return y


def _broken_pipeline(broken_when):
    real = compiler._run_pipeline

    def pipeline(mod, tm, slp, *options):
        if broken_when(slp):
            return llvm.parse_assembly(_BROKEN_IR)
        return real(mod, tm, slp, *options)
    return pipeline


def test_broken_ir_fails_verification():
    mod = llvm.parse_assembly(_BROKEN_IR)
    assert not compiler._verifies(mod)


def test_slp_breaking_module_is_reoptimised_without_slp(monkeypatch):
    monkeypatch.setattr(compiler, "_run_pipeline", _broken_pipeline(lambda slp: slp))
    before = dict(compiler.stats)
    engine = compiler.compile_ir(_GOOD_IR + "\n; slp-fallback test\n")
    assert compiler.stats["slp_fallback"] - before["slp_fallback"] == 1
    assert compiler.stats["unoptimised_fallback"] == before["unoptimised_fallback"]
    np.testing.assert_array_equal(_run_add1(engine), np.arange(16, dtype=np.float32) + 1)


def test_module_broken_by_every_pipeline_is_compiled_unoptimised(monkeypatch):
    monkeypatch.setattr(compiler, "_run_pipeline", _broken_pipeline(lambda slp: True))
    before = dict(compiler.stats)
    engine = compiler.compile_ir(_GOOD_IR + "\n; unoptimised fallback test\n")
    assert compiler.stats["slp_fallback"] - before["slp_fallback"] == 1
    assert compiler.stats["unoptimised_fallback"] - before["unoptimised_fallback"] == 1
    np.testing.assert_array_equal(_run_add1(engine), np.arange(16, dtype=np.float32) + 1)


_ISSUE_PROGRAM = """
import numpy as np
import funcjax
import funcjax.numpy as jnp

def f(x, y):
    v0 = jnp.maximum(y, y)
    v1 = jnp.arctan2(x, y + 2.0)
    v3 = jnp.arctan2(x, v1 + 2.0)
    v4 = jnp.broadcast_to(jnp.sum(v3, axis=0), (3, 4))
    v5 = jnp.maximum(v3, v0)
    return jnp.sum(v1**2) + jnp.sum(v1 / (1.0 + v4 * v4))

x = jnp.ones((3, 4), jnp.float32)
for g in (funcjax.grad(funcjax.jit(f))(x, x), funcjax.jit(funcjax.grad(f))(x, x)):
    print(repr(np.asarray(g).tolist()))
"""


def test_issue_program_that_aborted_in_codegen_runs_in_a_subprocess():
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(_ISSUE_PROGRAM)],
                          capture_output=True, text=True, timeout=300, cwd=_ROOT)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    x = jnp.ones((3, 4), jnp.float32)

    def f(x, y):
        v1 = jnp.arctan2(x, y + 2.0)
        v3 = jnp.arctan2(x, v1 + 2.0)
        v4 = jnp.broadcast_to(jnp.sum(v3, axis=0), (3, 4))
        return jnp.sum(v1**2) + jnp.sum(v1 / (1.0 + v4 * v4))
    expected = np.asarray(funcjax.grad(f)(x, x))
    for line in done.stdout.strip().splitlines():
        np.testing.assert_allclose(np.array(eval(line)), expected, rtol=1e-5)
