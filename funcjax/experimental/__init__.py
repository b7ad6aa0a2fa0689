"""``funcjax.experimental``: JAX's experimental names that funcjax provides."""

from funcjax.experimental import multihost_utils  # noqa: F401
from funcjax.ops.callbacks import io_callback  # noqa: F401

__all__ = ["io_callback", "multihost_utils"]
