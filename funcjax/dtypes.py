"""The public dtype namespace, matching ``jax.dtypes``: ``float0`` (the tangent dtype of
integer and boolean values) and dtype utilities."""

from funcjax.core.dtypes import canonicalize as canonicalize_dtype  # noqa: F401
from funcjax.core.dtypes import float0  # noqa: F401
from funcjax.numpy import finfo, iinfo, issubdtype, result_type  # noqa: F401
