"""The primitive catalogue. Importing this package defines every primitive."""

from funcjax.ops import contractions, conversion, elementwise, indexing, reductions, shape, sorting  # noqa: F401
