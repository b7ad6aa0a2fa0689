"""Transcendental functions: inlined vector math (``vecmath``) where it exists, otherwise
calls to the C math library, declared ``readnone nounwind``.

Declared pure, a libm call does not block vectorisation of the loop around it (the loop is
vectorised and the call scalarised, one element at a time); the ``vecmath`` functions are
plain arithmetic and vectorise fully. float32 (and float16, computed in float32) calls the
``f``-suffixed libm functions. ``erf`` is always inlined (float32 evaluates it in float64 and
rounds, as eager does).
"""

from funcjax.backend.llvm import types, vecmath
from funcjax.ops import elementwise as ops

_LIBM = {"exp": "exp", "exp2": "exp2", "log": "log", "log1p": "log1p", "expm1": "expm1",
         "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos",
         "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "asinh",
         "acosh": "acosh", "atanh": "atanh", "cbrt": "cbrt", "pow": "pow", "atan2": "atan2"}

PRIMITIVES = [getattr(ops, f"{name}_p") for name in _LIBM] + [ops.logistic_p, ops.erf_p]


def libm(ctx, name, *xs):
    """``name(*xs)`` from libm in the precision of ``xs`` (float or double)."""
    single = xs[0].type == types.F32
    return ctx.call(name + ("f" if single else ""), xs[0].type, list(xs))


def emitter(name):
    def emit(ctx, dt, *xs):
        if vecmath.supports(name, xs[0].type):
            return vecmath.emit(ctx.b, name, *xs)
        return libm(ctx, _LIBM[name], *xs)
    return emit
