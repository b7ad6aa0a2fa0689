"""Shared test configuration: hypothesis profiles sized for a 2-core CI machine."""

import os

import pytest
from hypothesis import HealthCheck, settings

# pmap's tests run 4 virtual devices (more devices than CI's 2 cores); set before funcjax
# creates its devices. XLA_FLAGS or an explicit FUNCJAX_NUM_CPU_DEVICES still win.
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ.setdefault("FUNCJAX_NUM_CPU_DEVICES", "4")

settings.register_profile(
    "default", deadline=None, max_examples=30, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=300)
settings.load_profile(os.environ.get("FUNCJAX_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def x64():
    """Enables 64-bit types for one test and restores the flag afterwards."""
    from funcjax.config import enable_x64
    with enable_x64():
        yield
