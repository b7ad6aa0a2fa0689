"""Exception classes with JAX's names, raised with messages that say what went wrong and the fix."""


class FuncjaxTypeError(TypeError):
    """Base of the errors about using a traced value where a concrete one is needed."""


class ConcretizationTypeError(FuncjaxTypeError):
    """A traced (abstract) value was used where Python needs a concrete value."""


class TracerBoolConversionError(ConcretizationTypeError):
    """``bool(tracer)``: Python control flow on a traced value."""


class TracerIntegerConversionError(FuncjaxTypeError):
    """``int(tracer)`` or ``tracer.__index__``: a traced value used as a Python integer."""


class TracerArrayConversionError(FuncjaxTypeError):
    """``np.asarray(tracer)``: a traced value converted to a numpy array."""


class UnexpectedTracerError(Exception):
    """A tracer escaped the transformation that created it and was used after it ended."""


class MissingRuleError(NotImplementedError):
    """A primitive has no rule for the transformation being applied."""
