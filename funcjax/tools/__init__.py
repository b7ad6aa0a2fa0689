"""Tools for looking inside transformations."""

from funcjax.tools.residuals import print_saved_residuals, saved_residuals  # noqa: F401
