"""Tools for looking inside transformations."""

from funcjax.api_ad_mode import explain_hessian, explain_hvp, explain_jacobian  # noqa: F401
from funcjax.tools.graph import graph, jaxpr_graph  # noqa: F401
from funcjax.tools.memory import memory_report, peak_bytes  # noqa: F401
from funcjax.tools.residuals import print_saved_residuals, saved_residuals  # noqa: F401
