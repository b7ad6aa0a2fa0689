"""``funcjax.ad_checkpoint``: JAX's module of that name (checkpoint, checkpoint_name)."""

from funcjax.api import checkpoint  # noqa: F401
from funcjax.interpreters.remat import checkpoint_name  # noqa: F401
