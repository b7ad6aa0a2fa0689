"""jnp.fft against numpy.fft (eager and jit), and the fft primitive's rules: the transpose
identity for each transform type, gradients against finite differences, jvp vs vjp, vmap vs a
Python loop, and clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

NORMS = [None, "ortho", "forward"]
# name: (input kind, keyword arguments drawn from n / s)
ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_INPUT = {"rfft", "ihfft", "rfftn", "rfft2"}


def _input(rng, name, shape):
    x = rng.standard_normal(shape)
    if name not in REAL_INPUT:
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(np.complex64 if name not in REAL_INPUT else np.float32)


@pytest.mark.parametrize("name", ONE_D)
@settings(max_examples=6)
@given(seed=st.integers(0, 999), length=st.integers(1, 9), n=st.sampled_from([None, 4, 7]),
       norm=st.sampled_from(NORMS), axis=st.sampled_from([0, -1]))
def test_one_axis_matches_numpy(name, seed, length, n, norm, axis):
    if name in ("irfft", "hfft") and n is None and length == 1:
        n = 2  # numpy needs a positive output length
    x = _input(np.random.default_rng(seed), name, (3, length) if axis == -1 else (length, 3))
    expected = getattr(np.fft, name)(x, n=n, axis=axis, norm=norm)
    ours = getattr(jnp.fft, name)
    got = ours(x, n=n, axis=axis, norm=norm)
    assert got.dtype == expected.astype(got.dtype).dtype and got.shape == expected.shape
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)
    jitted = funcjax.jit(lambda x: ours(x, n=n, axis=axis, norm=norm))(x)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(got), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", N_D)
@settings(max_examples=5)
@given(seed=st.integers(0, 999), shape=st.sampled_from([(2, 4, 6), (3, 5, 3)]),
       norm=st.sampled_from(NORMS))
def test_several_axes_match_numpy(name, seed, shape, norm):
    x = _input(np.random.default_rng(seed), name, shape)
    axes = (-2, -1) if name.endswith("2") else (0, 2)
    expected = getattr(np.fft, name)(x, axes=axes, norm=norm)
    got = getattr(jnp.fft, name)(x, axes=axes, norm=norm)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


CASES = {  # fft_type: (operand maker, fft_lengths)
    "FFT": (lambda r: r.standard_normal((2, 6)) + 1j * r.standard_normal((2, 6)), (6,)),
    "IFFT": (lambda r: r.standard_normal((2, 3, 4)) + 1j * r.standard_normal((2, 3, 4)),
             (3, 4)),
    "RFFT": (lambda r: r.standard_normal((2, 7)), (7,)),
    "RFFT_2d": (lambda r: r.standard_normal((3, 6)), (3, 6)),
    "IRFFT": (lambda r: r.standard_normal((2, 4)) + 1j * r.standard_normal((2, 4)), (6,)),
    "IRFFT_odd": (lambda r: r.standard_normal((2, 4)) + 1j * r.standard_normal((2, 4)), (7,)),
    "IRFFT_2d": (lambda r: r.standard_normal((3, 4)) + 1j * r.standard_normal((3, 4)), (3, 6)),
}


def _pairing(a, b):
    """The real pairing the transposes use: Re(sum a * b), no conjugation."""
    return np.real(np.sum(np.asarray(a) * np.asarray(b)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_transpose_identity_and_jvp_vs_vjp(x64, case):
    make, lengths = CASES[case]
    fft_type = case.split("_")[0]
    rng = np.random.default_rng(0)
    x = make(rng)

    def f(v):
        return lax.fft(v, fft_type, lengths)
    y = f(x)
    ct = rng.standard_normal(y.shape) + (1j * rng.standard_normal(y.shape)
                                         if np.iscomplexobj(np.asarray(y)) else 0)
    (back,) = funcjax.linear_transpose(f, x)(np.asarray(ct, np.asarray(y).dtype))
    # <f(t), ct> == <t, f^T(ct)> for a tangent t of the operand's type.
    t = make(rng)
    np.testing.assert_allclose(_pairing(f(t), ct), _pairing(t, back), rtol=1e-10)
    _, tangent = funcjax.jvp(f, (x,), (t,))
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(f(t)), rtol=1e-10, atol=1e-12)


def test_gradient_of_a_power_spectrum_matches_finite_differences(x64):
    x = np.random.default_rng(1).standard_normal(9)

    def power(v):
        return jnp.sum(jnp.abs(jnp.fft.rfft(v)) ** 2 * jnp.arange(5.0))
    g = np.asarray(funcjax.grad(power)(x))
    h = 1e-6
    fd = [(power(x + h * e) - power(x - h * e)) / (2 * h) for e in np.eye(9)]
    np.testing.assert_allclose(g, np.asarray(fd), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(funcjax.jit(funcjax.grad(power))(x)), g, rtol=1e-10)
    roundtrip = funcjax.grad(lambda v: jnp.sum(jnp.fft.irfft(jnp.fft.rfft(v), 9) * v))(x)
    np.testing.assert_allclose(np.asarray(roundtrip), 2 * x, rtol=1e-10)


def test_vmap_matches_a_loop():
    xs = np.random.default_rng(2).standard_normal((4, 3, 8)).astype(np.float32)

    def f(x):
        return jnp.fft.irfft(jnp.fft.rfft(x, axis=0) * 2.0, n=3, axis=0)
    batched = funcjax.vmap(f, in_axes=2)(xs)
    for k in range(8):
        np.testing.assert_allclose(np.asarray(batched[k]), np.asarray(f(xs[:, :, k])),
                                   rtol=1e-6, atol=1e-6)


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="real floating operand"):
        lax.fft(np.ones(4, np.complex64), "RFFT", (4,))
    with pytest.raises(ValueError, match=r"trailing axes \(4,\).*fft_lengths \(5,\)"):
        lax.fft(np.ones(4, np.complex64), "FFT", (5,))
    with pytest.raises(ValueError, match="norm must be"):
        jnp.fft.fft(np.ones(4), norm="sideways")
    with pytest.raises(TypeError, match="input must be real"):
        jnp.fft.rfft(np.ones(4, np.complex64))
