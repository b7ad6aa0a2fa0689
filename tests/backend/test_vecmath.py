"""Inlined vector math against numpy over the whole float range: random bit patterns (every
exponent, subnormals, huge values) plus edge values. Tolerances are in units in the last
place of the result; NaN, infinities and signed zeros must match exactly."""

import math
import re

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import vecmath
from funcjax.config import enable_x64

FUNCTIONS = {
    "exp": (jnp.exp, np.exp), "exp2": (jnp.exp2, np.exp2), "expm1": (jnp.expm1, np.expm1),
    "log": (jnp.log, np.log), "log1p": (jnp.log1p, np.log1p), "tanh": (jnp.tanh, np.tanh),
    "sin": (jnp.sin, np.sin), "cos": (jnp.cos, np.cos), "tan": (jnp.tan, np.tan),
    "atan": (jnp.arctan, np.arctan), "cbrt": (jnp.cbrt, np.cbrt),
    "erf": (lax.erf, np.vectorize(math.erf, otypes=[np.float64])),
    # long double: numpy's exp(-logaddexp(0, -x)) is itself 30 ulp off for x near -30
    "logistic": (lax.logistic, lambda x: 1 / (1 + np.exp(-x.astype(np.longdouble)))),
}
MAX_ULP = {np.float32: 3.0, np.float64: 3.0}


def _arguments(dtype, n=20000):
    rng = np.random.default_rng(7)
    width = np.dtype(dtype).itemsize * 8
    bits = rng.integers(0, 2 ** width, n, dtype=np.uint64).astype(f"u{width // 8}")
    info = np.finfo(dtype)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, info.tiny, -info.tiny, info.smallest_subnormal,
             -info.smallest_subnormal, info.max, -info.max, 1.0, -1.0, 0.5, 88.72, -87.3,
             -103.9, 709.78, -745.1, 1e-9, -1e-9, 2.0 ** 30, 3 * 2.0 ** 40, np.pi / 2, 1e22]
    with np.errstate(over="ignore"):
        edges = np.array(edges, dtype)
    moderate = rng.uniform(-40, 40, n).astype(dtype)
    return np.concatenate([bits.view(dtype), edges, moderate])


def _ulp_error(got, want, dtype):
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    same = (got64 == want64) | (np.isnan(got64) & np.isnan(want64))
    with np.errstate(invalid="ignore"):
        spacing = np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
        return np.where(same, 0.0, np.abs(got64 - want64) / spacing)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_vector_math_matches_numpy_over_the_whole_range(name, dtype):
    _check_whole_range(name, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "exp2", "expm1", "logistic"])
def test_scaling_without_avx512_matches_numpy_over_the_whole_range(name, dtype, monkeypatch):
    """``ldexp`` is one ``vscalefps`` on AVX-512 hosts; elsewhere two power-of-two factors
    (the same code as here with the host check turned off)."""
    monkeypatch.setattr(vecmath, "_has_scalef", lambda: False)
    _check_whole_range(name, dtype)


def test_float32_exp_is_within_one_ulp_of_exact_on_its_whole_range():
    """Every 997th float32 from -104 to 88.72 (below: 0, above: inf) against float64's exp
    (exhaustively: at most 0.93 ulp)."""
    top = int(np.array(88.72, np.float32).view(np.uint32))
    bottom = int(np.array(104.0, np.float32).view(np.uint32))
    x = np.concatenate([np.arange(0, top, 997, dtype=np.uint32).view(np.float32),
                        -np.arange(0, bottom, 997, dtype=np.uint32).view(np.float32)])
    got = np.asarray(funcjax.jit(jnp.exp)(x)).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    spacing = np.spacing(want.astype(np.float32)).astype(np.float64)
    error = np.abs(got - want) / spacing
    worst = int(np.argmax(error))
    assert error[worst] <= 1.0, f"exp({x[worst]!r}) = {got[worst]!r}: {error[worst]} ulp"


def _check_whole_range(name, dtype):
    ours, reference = FUNCTIONS[name]
    x = _arguments(dtype)
    with enable_x64(dtype == np.float64), np.errstate(all="ignore"):
        got = np.asarray(funcjax.jit(ours)(x))
        want = reference(x.astype(np.float64) if dtype == np.float32 else x).astype(dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaNs")
    error = _ulp_error(got, want, dtype)
    worst = int(np.argmax(error))
    assert error[worst] <= MAX_ULP[dtype], (
        f"{name}({x[worst]!r}) = {got[worst]!r}, numpy {want[worst]!r}: {error[worst]} ulp")
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]),
                                  err_msg=f"{name}: signs of zero")


_SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0,
             2.5, -2.5, 1e-30, 1e30, -1e30]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["atan2", "pow"])
def test_binary_vector_math_matches_numpy(name, dtype):
    ours, reference = {"atan2": (jnp.arctan2, np.arctan2), "pow": (lax.pow, np.power)}[name]
    rng = np.random.default_rng(3)
    grid = np.array(_SPECIALS, dtype)
    with np.errstate(all="ignore"):
        x = np.concatenate([np.repeat(grid, len(grid)), _arguments(dtype, 5000)[:5000],
                            rng.uniform(0, 8, 5000), rng.uniform(-8, 8, 2000)]).astype(dtype)
        y = np.concatenate([np.tile(grid, len(grid)), _arguments(dtype, 5000)[5000:10000],
                            rng.uniform(-30, 30, 5000), np.round(rng.uniform(-20, 20, 2000))])
        y = y.astype(dtype)
    with enable_x64(dtype == np.float64), np.errstate(all="ignore"):
        got = np.asarray(funcjax.jit(ours)(x, y))
        wide = (lambda a: a.astype(np.float64)) if dtype == np.float32 else (lambda a: a)
        want = reference(wide(x), wide(y)).astype(dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaNs")
    error = _ulp_error(got, want, dtype)
    worst = int(np.argmax(error))
    assert error[worst] <= MAX_ULP[dtype], (
        f"{name}({x[worst]!r}, {y[worst]!r}) = {got[worst]!r}, numpy {want[worst]!r}")
    zeros = want == 0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("name", ["exp", "tanh", "sin", "log1p"])
def test_float16_goes_through_float32_and_rounds_as_eager(name):
    ours, _ = FUNCTIONS[name]
    x = np.linspace(-6, 6, 301).astype(np.float16)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(funcjax.jit(ours)(x)), np.asarray(ours(x)))


def test_a_hot_loop_of_transcendentals_is_vector_code_without_libm_calls():
    f = funcjax.jit(lambda x: jnp.sin(x) * jnp.exp(-x * x) + 0.5 * jnp.tanh(x))
    x = np.linspace(-3, 3, 4096, dtype=np.float32)
    asm = f.lower(x).compile().as_text("asm")
    assert re.search(r"\b(ymm|zmm)\d+", asm)  # AVX registers
    assert not re.search(r"call\w*\s+\w*(sin|exp|tanh)f?\b", asm)
    # the vector variant of sin is inlined after vectorising (compiler._inline_vector_variants)
    assert not re.search(r"\$fj\.sin\.f32\.v\d+", asm)
    want = np.sin(x) * np.exp(-x * x) + np.float32(0.5) * np.tanh(x)
    np.testing.assert_allclose(f(x), want, rtol=1e-6, atol=1e-6)


def test_the_newer_functions_are_vector_code_without_libm_calls():
    def f(x):
        return (jnp.tan(x) + jnp.arctan2(x, 1.5) + jnp.cbrt(x) + lax.pow(jnp.abs(x), 1.3)
                + lax.erf(x) + lax.rsqrt(jnp.abs(x) + 1))
    x = np.linspace(-1, 1, 4096, dtype=np.float32)
    asm = funcjax.jit(f).lower(x).compile().as_text("asm")
    assert re.search(r"\b(ymm|zmm)\d+", asm)
    assert not re.search(r"call\w*\s+\w*(tan|atan2|cbrt|pow|erf|exp|log|sqrt)f?\b", asm)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(funcjax.jit(f)(x), f(x), rtol=2e-6, atol=2e-6)


def test_float64_pow_is_vector_code_and_near_overflow_stays_within_two_ulp():
    rng = np.random.default_rng(11)
    x = np.exp(rng.uniform(-700, 700, 4096))
    y = rng.uniform(-700, 700, 4096) / np.abs(np.log(x)).clip(1e-3)  # |y log x| up to 700
    with enable_x64(), np.errstate(all="ignore"):
        f = funcjax.jit(lax.pow)
        asm = f.lower(x, y).compile().as_text("asm")
        got, want = np.asarray(f(x, y)), np.power(x, y)
    assert re.search(r"\b(ymm|zmm)\d+", asm)
    assert not re.search(r"call\w*\s+\w*(pow|exp|log)\b", asm)
    assert _ulp_error(got, want, np.float64).max() <= 2.0


def test_float64_erf_is_vector_code_within_an_ulp_densely_on_its_whole_curve():
    # 1e6 points on [-6.5, 6.5] (every piece and the joins at 1, 3 and 6) against math.erf
    x = np.concatenate([np.linspace(-6.5, 6.5, 1_000_001), np.nextafter([1.0, 3.0, 6.0], 0)])
    with enable_x64():
        f = funcjax.jit(lax.erf)
        asm = f.lower(x[:4096]).compile().as_text("asm")
        got = np.asarray(f(x))
    assert re.search(r"\b(ymm|zmm)\d+", asm)
    assert not re.search(r"call\w*\s+\w*(erf|exp)\b", asm)
    want = np.vectorize(math.erf, otypes=[np.float64])(x)
    assert _ulp_error(got, want, np.float64).max() <= 2.0  # math.erf: itself within 1 ulp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_vectors_with_a_few_huge_lanes_take_the_exact_path(name, dtype):
    """The vector variants reduce by Cody-Waite and recompute a vector's lanes exactly when
    one of them is large: scatter large arguments among small ones, at odd positions."""
    ours, reference = FUNCTIONS[name]
    rng = np.random.default_rng(11)
    x = rng.uniform(-7, 7, 1003).astype(dtype)
    x[rng.choice(1003, 40, replace=False)] = rng.uniform(1e6, 1e30, 40) * rng.choice([-1, 1], 40)
    with enable_x64(dtype == np.float64), np.errstate(all="ignore"):
        got = np.asarray(funcjax.jit(ours)(x))
        want = reference(x.astype(np.float64)).astype(dtype)
    assert _ulp_error(got, want, dtype).max() <= MAX_ULP[dtype]


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_float32_sin_cos_below_the_cody_waite_limit_are_within_two_ulp_of_exact(name):
    """The float32 reduction (pi in three float32 parts) and minimax kernel: every 997th
    float32 below 2**20 (both signs) against the exact value (float64, not numpy's float32,
    itself 1.5 ulp off), a tighter bound than MAX_ULP (measured: at most 1.78 / 1.84)."""
    ours, reference = FUNCTIONS[name]
    top = int(np.array(2.0 ** 20, np.float32).view(np.uint32))
    x = np.arange(0, top, 997, dtype=np.uint32).view(np.float32)
    x = np.concatenate([x, -x, np.float32(np.pi / 2) * np.arange(1, 2000, dtype=np.float32)])
    got = np.asarray(funcjax.jit(ours)(x)).astype(np.float64)
    want = reference(x.astype(np.float64))
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    error = np.abs(got - want) / spacing
    worst = int(np.argmax(error))
    assert error[worst] <= 2.0, f"{name}({x[worst]!r}) = {got[worst]!r}: {error[worst]} ulp"
