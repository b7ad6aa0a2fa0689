"""The primitive catalogue. Importing this package defines every primitive."""

from funcjax.ops import (  # noqa: F401
    callbacks,
    collectives,
    complex_ops,
    contractions,
    control_flow,
    conversion,
    custom,
    elementwise,
    indexing,
    linalg,
    linalg_spectral,
    pmap,
    pooling,
    random_bits,
    reductions,
    shape,
    sorting,
)
