"""``funcjax.ad_checkpoint``: JAX's module of that name (checkpoint, checkpoint_name, and the
report of what reverse mode saves)."""

from funcjax.api import checkpoint  # noqa: F401
from funcjax.interpreters.remat import checkpoint_name  # noqa: F401
from funcjax.tools.residuals import print_saved_residuals, saved_residuals  # noqa: F401
