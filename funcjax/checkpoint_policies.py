"""Policies for ``funcjax.checkpoint``: which intermediate values reverse mode may save."""

from funcjax.interpreters.remat import (  # noqa: F401
    dots_saveable,
    dots_with_no_batch_dims_saveable,
    everything_saveable,
    nothing_saveable,
    save_any_names_but_these,
    save_only_these_names,
)

checkpoint_dots = dots_saveable
checkpoint_dots_with_no_batch_dims = dots_with_no_batch_dims_saveable
