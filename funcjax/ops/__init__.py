"""The primitive catalogue. Importing this package defines every primitive."""

from funcjax.ops import (  # noqa: F401
    collectives,
    contractions,
    control_flow,
    conversion,
    custom,
    elementwise,
    indexing,
    random_bits,
    reductions,
    shape,
    sorting,
)
