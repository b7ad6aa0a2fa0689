"""Transcendental functions: calls to the C math library, declared ``readnone nounwind``.

Declared pure, a libm call no longer blocks vectorisation of the loop around it (the loop is
vectorised and the call scalarised). This is the correct-first step; the measured cost is in
benchmarks/RESULTS.md, and inlined polynomial approximations are the planned speed-up.
float32 (and float16, computed in float32) calls the ``f``-suffixed functions, except ``erf``:
eager computes erf in float64 and rounds, and so does this.
"""

from llvmlite import ir

from funcjax.backend.llvm import types
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


def _erf(ctx, dt, x):
    if x.type == types.F64:
        return libm(ctx, "erf", x)
    return ctx.b.fptrunc(libm(ctx, "erf", ctx.b.fpext(x, types.F64)), types.F32)


def _logistic(ctx, dt, x):
    one = ir.Constant(x.type, 1.0)
    return ctx.b.fdiv(one, ctx.b.fadd(one, libm(ctx, "exp", ctx.b.fneg(x))))


def emitter(name):
    if name == "erf":
        return _erf
    if name == "logistic":
        return _logistic
    return lambda ctx, dt, *xs: libm(ctx, _LIBM[name], *xs)
