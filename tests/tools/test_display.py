"""Notebook displays: arrays summarise large values, Lowered/Compiled say what they are."""

import numpy as np

import funcjax as jax
import funcjax.numpy as jnp


def test_array_html_summarises_large_arrays():
    x = np.linspace(-3, 5, 10_000, dtype=np.float32).reshape(100, 100)
    page = jnp.asarray(x)._repr_html_()
    assert "f32[100,100]" in page and "..." in page
    assert f"min {x.min():.4g}" in page and f"max {x.max():.4g}" in page
    assert len(page) < 2000
    assert "1 nan" in jnp.asarray([1.0, np.nan, np.inf])._repr_html_()
    assert "weakly typed" in jnp.asarray(2.0)._repr_html_()


def test_lowered_and_compiled_reprs():
    f = jax.jit(lambda x, y: jnp.tanh(x @ y))
    lowered = f.lower(jnp.ones((3, 4)), jnp.ones((4, 2)))
    assert "(f32[3,4], f32[4,2]) -> (f32[3,2])" in repr(lowered)
    assert "tanh" in lowered._repr_html_()
    assert repr(lowered.compile()).startswith("Compiled(<lambda>: (f32[3,4], f32[4,2])")
