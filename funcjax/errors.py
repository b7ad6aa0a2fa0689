"""``funcjax.errors``: the exception classes users catch (JAX's module of that name)."""

from funcjax.core.errors import (  # noqa: F401
    ConcretizationTypeError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)
from funcjax.core.ir import JaxprTypeError  # noqa: F401
