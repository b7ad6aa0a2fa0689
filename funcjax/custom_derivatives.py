"""``funcjax.custom_derivatives``: functions with derivative rules given by the user."""

from funcjax.api_tracing import closure_convert, custom_gradient  # noqa: F401
from funcjax.ops.custom import custom_jvp, custom_vjp  # noqa: F401
