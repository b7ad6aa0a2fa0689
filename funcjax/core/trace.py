"""The trace context: which interpreter handles the next primitive (JAX's "stackless" design).

Every thread has a *current trace*. ``Primitive.bind`` hands the operation to it. A trace runs
its rules with its *parent* (the trace that was current when it started) made current, so a
rule's own operations go to the next interpreter out. A value that is not one of this trace's
own tracers is a constant to it: there are no levels to compare and nothing to lift. When a
transformation ends its trace dies; a tracer that escaped it raises ``UnexpectedTracerError``.
"""

import contextlib
import threading

from funcjax.core.array import ArrayMethods
from funcjax.core.errors import (
    ConcretizationTypeError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)


class _Context(threading.local):
    trace = None


_context = _Context()


def current_trace():
    trace = _context.trace
    if trace is None:
        from funcjax.interpreters.eval import EvalTrace
        trace = _context.trace = EvalTrace()
    return trace


class _SetCurrentTrace:
    """``with set_current_trace(t):`` makes ``t`` current inside the block. A class, not a
    generator: interpreters enter one per primitive."""

    __slots__ = ("trace", "previous")

    def __init__(self, trace):
        self.trace = trace

    def __enter__(self):
        self.previous = _context.trace
        _context.trace = self.trace
        return self.trace

    def __exit__(self, *exc_info):
        _context.trace = self.previous


set_current_trace = _SetCurrentTrace


@contextlib.contextmanager
def new_trace(trace_cls, *args, **kwargs):
    """Starts a transformation: a new trace whose parent is the current one; kills it on exit."""
    trace = trace_cls(current_trace(), *args, **kwargs)
    try:
        with set_current_trace(trace):
            yield trace
    finally:
        trace.alive = False


class Trace:
    """An interpreter. Subclasses define ``process_primitive`` and their tracer type.

    ``forwards_constants``: whether an operation on none of this trace's own values goes to the
    parent unchanged (nothing is staged or recorded for it)."""

    forwards_constants = False

    def __init__(self, parent, description="a transformation"):
        self.parent = parent
        self.description = description
        self.alive = True

    def process_primitive(self, primitive, args, params):
        raise NotImplementedError

    def own(self, x):
        """Whether ``x`` is one of this trace's tracers (else it is a constant here)."""
        if isinstance(x, Tracer):
            if x._trace is self:
                return True
            if not x._trace.alive:
                raise_leaked_tracer(x)
        return False

    def __repr__(self):
        return f"{type(self).__name__}({self.description})"


def constants_compute_now():
    """Whether an operation on constants only would run now, in numpy: every trace on the
    stack forwards it to its parent, down to eager evaluation (eager code, grad, jvp, vmap,
    but not jit or make_jaxpr, which stage it). Then a constant may be built directly."""
    trace = _context.trace
    while trace is not None:
        if not trace.forwards_constants:
            return False
        trace = trace.parent
    return True


def raise_leaked_tracer(tracer):
    raise UnexpectedTracerError(
        f"Encountered an unexpected tracer: a value of type {tracer.aval.str_short()} created "
        f"inside {tracer._trace.description}{tracer.creation_note()} was used after that "
        "transformation had finished. This happens when a transformed function stores a traced "
        "value in a global, a closure or an object attribute. Return the value as an output of "
        "the transformed function instead, or pass it in as an argument.")


class Tracer(ArrayMethods):
    """A stand-in for an array while a trace runs. Subclasses provide ``aval``."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    def __init__(self, trace):
        self._trace = trace

    @property
    def aval(self):
        raise NotImplementedError

    def concrete_value(self):
        """The concrete array behind this tracer if the trace has one (e.g. a jvp primal)."""
        return None

    def creation_note(self):
        return ""

    def describe_dependence(self):
        """A sentence saying which traced arguments this value depends on, if known."""
        return ""

    def _concrete(self, what, error_cls, fix, lossy=False):
        """The concrete value for ``what``. A ``lossy`` conversion (to a float or a numpy
        array, as in JAX) is refused even when the value is known, e.g. under grad: the
        result would silently carry no derivative. bool() and int() are piecewise constant,
        so they lose nothing."""
        value = self.concrete_value()
        if value is not None and not lossy:
            return value
        reason = (f"Its concrete value is not known while tracing{self.describe_dependence()}"
                  if value is None else "Converting it would silently drop its derivative")
        raise error_cls(
            f"Attempted {what} on a traced value of type {self.aval.str_short()} while tracing "
            f"{self._trace.description}. {reason}. {fix}")

    def __bool__(self):
        return bool(self._concrete(
            "bool() (Python control flow such as `if` or `while`)", TracerBoolConversionError,
            "Use lax.cond / lax.select / jnp.where for value-dependent branches, lax.while_loop "
            "for loops, or mark the argument static (static_argnums / static_argnames in jit)."))

    def __index__(self):
        return int(self._concrete(
            "int() / use as an index", TracerIntegerConversionError,
            "Mark the argument static (static_argnums / static_argnames), or use "
            "lax.dynamic_slice / jnp.take for traced indices."))

    __int__ = __index__

    def __float__(self):
        return float(self._concrete(
            "float()", ConcretizationTypeError,
            "Keep the value as an array, or mark the argument static (static_argnums).",
            lossy=True))

    def __complex__(self):
        return complex(self.__float__())

    def __array__(self, dtype=None, copy=None):
        import numpy as np
        value = self._concrete(
            "conversion to a numpy array", TracerArrayConversionError,
            "Use funcjax.numpy functions instead of numpy functions inside transformed code.",
            lossy=True)
        return np.asarray(value, dtype=dtype)

    def item(self):
        return self._concrete("item()", ConcretizationTypeError,
                              "Keep the value as an array inside transformed code.",
                              lossy=True).item()

    def tolist(self):
        return self._concrete("tolist()", ConcretizationTypeError,
                              "Keep the value as an array inside transformed code.",
                              lossy=True).tolist()

    def __hash__(self):
        raise TypeError(f"unhashable type: traced array {self.aval.str_short()}; mark the "
                        "argument static or use it as an array")

    def __repr__(self):
        return f"Traced<{self.aval.str_short()}>with<{type(self._trace).__name__}>"
