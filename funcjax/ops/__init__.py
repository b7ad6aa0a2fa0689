"""The primitive catalogue. Importing this package defines every primitive."""

from funcjax.ops import (  # noqa: F401
    callbacks,
    collectives,
    contractions,
    control_flow,
    conversion,
    custom,
    elementwise,
    indexing,
    reductions,
    shape,
    sorting,
)
