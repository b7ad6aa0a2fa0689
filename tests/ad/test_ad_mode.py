"""Automatic choice between forward and reverse mode: the estimate ranks the modes as their
pass counts say, and every mode returns the same derivative."""

import numpy as np
import pytest

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.api_ad_mode import explain_hessian, explain_hvp, explain_jacobian
from funcjax.tools import explain_jacobian as tools_explain_jacobian

rng = np.random.default_rng(0)


def layer(n_in, n_out):
    w = jnp.asarray(rng.normal(size=(n_out, n_in)).astype(np.float32) / np.sqrt(n_in))
    return lambda x: jnp.tanh(w @ x)


def test_auto_picks_forward_for_few_inputs_and_reverse_for_few_outputs():
    wide_out, wide_in = layer(3, 200), layer(200, 3)
    assert explain_jacobian(wide_out, jnp.ones(3)).choice == "fwd"
    assert explain_jacobian(wide_in, jnp.ones(200)).choice == "rev"
    assert tools_explain_jacobian is explain_jacobian


@pytest.mark.parametrize("n_in,n_out", [(3, 40), (40, 3), (7, 7)])
def test_every_jacobian_mode_agrees_with_finite_differences(n_in, n_out):
    f = layer(n_in, n_out)
    x = jnp.asarray(rng.normal(size=n_in).astype(np.float32))
    auto, fwd, rev = (jax.jacobian(f, mode=m)(x) for m in ("auto", "fwd", "rev"))
    np.testing.assert_allclose(auto, fwd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fwd, rev, rtol=1e-5, atol=1e-6)
    x64, eps = np.asarray(x, np.float64), 1e-3
    fd = np.stack([(np.asarray(f(jnp.asarray(x64 + eps * e, np.float32)), np.float64)
                    - np.asarray(f(jnp.asarray(x64 - eps * e, np.float32)), np.float64))
                   / (2 * eps) for e in np.eye(n_in)], axis=1)
    np.testing.assert_allclose(auto, fd, rtol=2e-2, atol=2e-3)


def test_default_jacobian_is_jacrev_as_in_jax():
    f = layer(4, 5)
    np.testing.assert_array_equal(jax.jacobian(f)(jnp.ones(4)), jax.jacrev(f)(jnp.ones(4)))
    with pytest.raises(ValueError, match="mode must be"):
        jax.jacobian(f, mode="sideways")


def test_estimate_counts_passes_and_residuals():
    f = layer(6, 9)
    e = explain_jacobian(f, jnp.ones(6))
    assert (e["fwd"].passes, e["rev"].passes) == (6, 9)
    assert e["fwd"].residual_bytes == 0 and e["rev"].residual_bytes > 0
    assert "chosen" in str(e)


def loss(x):
    return jnp.sum(jnp.tanh(x) ** 2) + jnp.sum(x[:-1] * x[1:])


@pytest.mark.parametrize("mode", ["auto", "fwd-over-rev", "rev-over-fwd", "rev-over-rev",
                                  "fwd-over-fwd"])
def test_hessian_modes_agree(mode):
    x = jnp.asarray(rng.normal(size=5).astype(np.float32))
    np.testing.assert_allclose(jax.hessian(loss, mode=mode)(x), jax.jacfwd(jax.jacrev(loss))(x),
                               rtol=1e-5, atol=1e-5)
    assert explain_hessian(loss, x).choice in ("fwd-over-rev", "rev-over-fwd", "rev-over-rev",
                                              "fwd-over-fwd")


@pytest.mark.parametrize("mode", ["auto", "fwd-over-rev", "rev-over-fwd", "rev-over-rev"])
def test_hvp_modes_equal_the_hessian_times_the_vector(mode):
    x = jnp.asarray(rng.normal(size=6).astype(np.float32))
    v = jnp.asarray(rng.normal(size=6).astype(np.float32))
    (hv,) = jax.hvp(loss, (x,), (v,), mode=mode)
    np.testing.assert_allclose(hv, np.asarray(jax.hessian(loss)(x)) @ np.asarray(v),
                               rtol=1e-4, atol=1e-5)
    assert len(explain_hvp(loss, (x,), (v,)).estimates) == 3


def test_hvp_rejects_non_scalar_functions():
    with pytest.raises(TypeError, match="must return a scalar"):
        jax.hvp(jnp.sin, (jnp.ones(3),), (jnp.ones(3),), mode="fwd-over-rev")
