"""The per-program pipeline choice and the compile-phase report: programs made only of
vectorisable loop nests (elementwise, layout, reductions, control flow) and BLAS matmuls
compile without LLVM's loop unroller; hand-written kernels (convolution, int8 and small
matmul loops) keep it. Hot loops still vectorise, results are the same either way, and each
compile reports its tracing, lowering, optimiser, code generation and loading times."""

import logging

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import compiler, program


def _mlp_loss(params, x, y):
    for w, b in params[:-1]:
        x = jnp.maximum(x @ w + b, 0.0)
    w, b = params[-1]
    return jnp.mean((x @ w + b - y) ** 2)


def _mlp_problem(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [(32, 64), (64, 64), (64, 16)]  # every matmul is a BLAS call
    params = [(rng.standard_normal(s).astype(np.float32) * 0.2,
               rng.standard_normal(s[1]).astype(np.float32) * 0.1) for s in sizes]
    x = rng.standard_normal((64, 32)).astype(np.float32)
    y = rng.standard_normal((64, 16)).astype(np.float32)
    return params, x, y


def _needs_unroller(fn, *args):
    closed = funcjax.make_jaxpr(fn)(*args)
    return program.needs_unroller(closed, program.LoweredModule(closed, "probe").ir_text)


def test_vectorisable_programs_drop_the_unroller_and_kernels_keep_it():
    params, x, y = _mlp_problem()
    assert not _needs_unroller(funcjax.value_and_grad(_mlp_loss), params, x, y)  # BLAS dots
    assert not _needs_unroller(lambda h: lax.scan(  # sub-jaxprs are looked into
        lambda c, _: (jnp.tanh(c) * 0.5 + jnp.sum(c), None), h, None, length=4)[0],
        jnp.ones(300))
    big = jnp.ones((64, 64))
    assert not _needs_unroller(lambda a: lax.fori_loop(0, 2, lambda i, c: c @ c, a), big)
    assert _needs_unroller(lambda a: a @ a, jnp.ones((4, 4)))  # generated loops
    assert _needs_unroller(lambda a: lax.fori_loop(0, 2, lambda i, c: c @ c, a),
                           jnp.ones((4, 4)))
    assert _needs_unroller(lambda a, b: (a @ a, b @ b), big, jnp.ones((4, 4)))  # one of two
    assert _needs_unroller(lambda a, b: lax.dot_general(
        a, b, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32),
        jnp.ones((64, 64), jnp.int8), jnp.ones((64, 64), jnp.int8))
    assert _needs_unroller(lambda a, k: lax.conv_general_dilated(a, k, (1, 1), "SAME"),
                           jnp.ones((1, 2, 8, 8)), jnp.ones((3, 2, 3, 3)))


def test_hot_loops_still_vectorise_without_the_unroller():
    def f(v, w):
        return jnp.sum(v * v, axis=1), jnp.tanh(v) * w + 1.0
    v = np.linspace(-2, 2, 64 * 512, dtype=np.float32).reshape(64, 512)
    compiled = funcjax.jit(f).lower(v, v).compile()
    prog = compiled._program
    assert not prog.cold and not prog.unroll  # the pipeline this test is about
    asm = compiled.as_text("asm")  # the code of the program's own pipeline
    assert "zmm" in asm or "ymm" in asm
    assert "tanh" not in asm  # the inlined vector tanh, no libm call
    got = compiled(v, v)
    np.testing.assert_allclose(got[0], np.sum(v * v, axis=1), rtol=1e-5)
    np.testing.assert_allclose(got[1], np.tanh(v) * v + 1.0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_with_and_without_the_unroller_agree(monkeypatch, seed):
    params, x, y = _mlp_problem(seed)

    def run():
        compiler.forget_engines()
        return funcjax.jit(funcjax.value_and_grad(lambda p, a, b: _mlp_loss(p, a, b)))(
            params, x, y)
    plain = run()
    monkeypatch.setattr(program, "needs_unroller", lambda closed, ir_text: True)
    unrolled = run()
    want = funcjax.value_and_grad(_mlp_loss)(params, x, y)  # eager
    for got in (plain, unrolled):
        for g, e in zip(funcjax.tree_util.tree_leaves(got), funcjax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=2e-5, atol=1e-6)


def test_compile_phases_are_reported(caplog):
    compiler.forget_engines()
    f = funcjax.jit(lambda v: jnp.sum(jnp.exp(v) * 2.0))
    with funcjax.log_compiles(True), caplog.at_level(logging.WARNING, logger="funcjax"):
        compiled = f.lower(np.ones(1000, np.float32)).compile()
    text = caplog.text
    assert "Finished tracing" in text and "Finished lowering" in text
    assert "Finished LLVM compilation" in text and "O3 without unroller" in text
    for phase in compiler.PHASES:
        assert phase in text
    phases = compiled._program.phases
    assert set(phases) == set(compiler.PHASES)
    assert phases["optimise"] > 0 and phases["codegen"] > 0 and phases["load"] > 0
    assert sum(phases.values()) <= compiled._program.compile_seconds
    again = {}  # the same IR again: the loaded engine is reused, no phase runs
    compiler.compile_ir(compiled._program.lowered.ir_text, unroll=False, phases=again)
    assert again == dict.fromkeys(compiler.PHASES, 0.0)
