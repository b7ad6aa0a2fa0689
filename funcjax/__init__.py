"""funcjax: composable function transformations (grad, vmap, jit, ...) over a jaxpr IR."""

from funcjax import lax, nn, numpy, tree_util  # noqa: F401
from funcjax import ops as _ops  # noqa: F401  (defines every primitive)
from funcjax.api import ShapeDtypeStruct, eval_shape, make_jaxpr  # noqa: F401
from funcjax.config import config  # noqa: F401
from funcjax.core.array import Array  # noqa: F401
from funcjax.core.errors import (  # noqa: F401
                                 ConcretizationTypeError,
                                 TracerArrayConversionError,
                                 TracerBoolConversionError,
                                 TracerIntegerConversionError,
                                 UnexpectedTracerError,
)
from funcjax.core.ir import ClosedJaxpr, Jaxpr  # noqa: F401
from funcjax.core.pytree import tree_flatten, tree_leaves, tree_map, tree_unflatten  # noqa: F401
from funcjax.interpreters.eval import eval_jaxpr  # noqa: F401

__version__ = "0.1.0"
