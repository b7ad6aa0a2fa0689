"""``funcjax.experimental``: JAX's experimental names that funcjax provides."""

from funcjax.ops.callbacks import io_callback  # noqa: F401

__all__ = ["io_callback"]
