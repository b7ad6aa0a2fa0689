import pytest
from jnp_helpers import x64


@pytest.fixture
def enable_x64():
    with x64(True):
        yield
