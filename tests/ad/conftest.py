import pytest

import funcjax


@pytest.fixture
def x64():
    """float64 for the duration of a test (finite differences need it); restored after."""
    previous = funcjax.config.jax_enable_x64
    funcjax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        funcjax.config.update("jax_enable_x64", previous)

