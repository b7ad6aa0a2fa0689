"""``funcjax.ad_checkpoint``: JAX's module of that name (checkpoint, checkpoint_name, the
residual report)."""

from funcjax.api import checkpoint  # noqa: F401
from funcjax.interpreters.remat import checkpoint_name  # noqa: F401
from funcjax.tools.residuals import saved_residuals as _saved_residuals

__all__ = ["checkpoint", "checkpoint_name", "print_saved_residuals"]


def print_saved_residuals(f, *args, **kwargs):
    """Prints, one line each, the residuals reverse mode saves for ``f(*args, **kwargs)``:
    their type and where they come from (an argument, or an operation and its source line)."""
    report = _saved_residuals(lambda *a: f(*a, **kwargs), *args)
    for r in report:
        print(f"{r.aval.str_short()} {r.source}")
