"""export_library: a shared object + C header that a C program (built with the system
compiler) and a Python process without llvmlite run, agreeing with eager funcjax."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax.backend.llvm.export_library import c_compiler

RNG = np.random.default_rng(1)
W1 = RNG.standard_normal((8, 32)).astype(np.float32)
W2 = RNG.standard_normal((32, 3)).astype(np.float32)


def mlp(x, scale):
    h = jnp.tanh(x @ W1) * scale
    return jnp.exp(h @ W2 - 1.0), jnp.sum(h, axis=1)


X = RNG.standard_normal((64, 8)).astype(np.float32)
SCALE = np.float32(0.5) + np.zeros(32, np.float32)

C_MAIN = textwrap.dedent("""
    #include <stdio.h>
    #include <stdlib.h>
    #include "libmlp.h"
    static void *slurp(const char *path, size_t n) {
        void *p = malloc(n); FILE *f = fopen(path, "rb");
        if (!f || fread(p, 1, n, f) != n) { fprintf(stderr, "read %s\\n", path); exit(2); }
        fclose(f); return p;
    }
    int main(int argc, char **argv) {
        const void *in[MLP_NUM_INPUTS] = {slurp(argv[1], MLP_IN0_NBYTES),
                                          slurp(argv[2], MLP_IN1_NBYTES)};
        float *o0 = malloc(MLP_OUT0_NBYTES), *o1 = malloc(MLP_OUT1_NBYTES);
        void *out[MLP_NUM_OUTPUTS] = {o0, o1};
        if (MLP_IN0_SHAPE[0] != 64 || MLP_IN0_SHAPE[1] != 8) return 3;
        if (mlp(in, out) != 0) return 4;
        FILE *f = fopen(argv[3], "wb");
        fwrite(o0, 1, MLP_OUT0_NBYTES, f); fwrite(o1, 1, MLP_OUT1_NBYTES, f); fclose(f);
        return 0;
    }
""")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    d = tmp_path_factory.mktemp("lib")
    compiled = fj.jit(mlp).lower(X, SCALE).compile()
    header = compiled.export_library(d / "libmlp.so", name="mlp")
    return d, header


def test_header_declares_types(library):
    d, header = library
    text = open(header).read()
    assert "int mlp(const void *const *inputs, void *const *outputs);" in text
    assert "static const int64_t MLP_IN0_SHAPE[] = {64, 8};" in text
    assert "#define MLP_OUT1_DTYPE \"float32\"" in text
    assert "'x': float32[64,8]" in text


def test_c_program_matches_eager(library):
    d, _ = library
    X.tofile(d / "x.bin")
    SCALE.tofile(d / "s.bin")
    (d / "main.c").write_text(C_MAIN)
    subprocess.run([c_compiler(), "-O1", "-o", str(d / "main"), str(d / "main.c"), f"-I{d}",
                    f"-L{d}", "-l:libmlp.so", f"-Wl,-rpath,{d}"], check=True)
    subprocess.run([str(d / "main"), str(d / "x.bin"), str(d / "s.bin"), str(d / "out.bin")],
                   check=True)
    got = np.fromfile(d / "out.bin", np.float32)
    want0, want1 = mlp(X, SCALE)
    np.testing.assert_allclose(got[:64 * 3].reshape(64, 3), want0, rtol=1e-4)
    np.testing.assert_allclose(got[64 * 3:], want1, rtol=1e-4, atol=1e-5)


def test_loads_with_ctypes_without_llvmlite(library):
    d, _ = library
    np.save(d / "x.npy", X)
    np.save(d / "s.npy", SCALE)
    script = textwrap.dedent(f"""
        import ctypes, sys
        sys.modules["llvmlite"] = None  # importing it now raises ImportError
        import numpy as np
        try:
            import llvmlite  # noqa
            sys.exit("llvmlite importable")
        except ImportError:
            pass
        lib = ctypes.CDLL({str(d / "libmlp.so")!r})
        x, s = np.load({str(d / "x.npy")!r}), np.load({str(d / "s.npy")!r})
        o0, o1 = np.zeros((64, 3), np.float32), np.zeros(64, np.float32)
        ins = (ctypes.c_void_p * 2)(x.ctypes.data, s.ctypes.data)
        outs = (ctypes.c_void_p * 2)(o0.ctypes.data, o1.ctypes.data)
        assert lib.mlp(ins, outs) == 0
        np.save({str(d / "o0.npy")!r}, o0); np.save({str(d / "o1.npy")!r}, o1)
        assert "llvmlite" not in [m for m in sys.modules if sys.modules[m] is not None]
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=str(d))
    want0, want1 = mlp(X, SCALE)
    np.testing.assert_allclose(np.load(d / "o0.npy"), want0, rtol=1e-4)
    np.testing.assert_allclose(np.load(d / "o1.npy"), want1, rtol=1e-4, atol=1e-5)


def test_closed_over_constants_and_control_flow(tmp_path):
    import ctypes
    c = RNG.standard_normal(5).astype(np.float32)

    def f(x):
        return fj.lax.fori_loop(0, 4, lambda i, v: jnp.sin(v) + c, x)
    x = RNG.standard_normal(5).astype(np.float32)
    fj.jit(f).lower(x).compile().export_library(tmp_path / "libf.so")
    lib = ctypes.CDLL(str(tmp_path / "libf.so"))
    out = np.zeros(5, np.float32)
    assert lib.f((ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data)) == 0
    np.testing.assert_allclose(out, f(x), rtol=1e-5, atol=1e-6)


def test_host_callback_refused(tmp_path):
    def f(x):
        fj.debug.print("x {}", x)
        return x * 2
    compiled = fj.jit(f).lower(np.ones(3, np.float32)).compile()
    with pytest.raises(ValueError, match="export_library"):
        compiled.export_library(tmp_path / "libg.so")


def test_quantized_model_exports(tmp_path):
    """An int8 model (funcjax.quantize) runs from its library: edge deployment."""
    import ctypes

    from funcjax.quantize import quantize
    params = [(W1, np.zeros(32, np.float32)), (W2, np.zeros(3, np.float32))]

    def net(p, x):
        return jnp.tanh(x @ p[0][0] + p[0][1]) @ p[1][0] + p[1][1]
    q = quantize(net, params, X)
    fj.jit(q).lower(X).compile().export_library(tmp_path / "libq.so", name="q")
    lib = ctypes.CDLL(str(tmp_path / "libq.so"))
    out = np.zeros((64, 3), np.float32)
    assert lib.q((ctypes.c_void_p * 1)(X.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data)) == 0
    np.testing.assert_allclose(out, q(X), rtol=1e-5, atol=1e-5)
    assert np.abs(out - net(params, X)).max() < 0.05 * np.abs(net(params, X)).max()
