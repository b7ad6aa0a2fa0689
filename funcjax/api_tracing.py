"""Changing how a function is traced: evaluating at trace time
(``ensure_compile_time_eval``), naming (``named_call``, ``named_scope``), turning closures into
explicit arguments (``closure_convert``) and gradients given with the function
(``custom_gradient``, built on both)."""

import contextlib
import functools

from funcjax.api import trace_pytree_function
from funcjax.api_util import check_callable, fun_name
from funcjax.core import dtypes
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.core.trace import Trace, Tracer, current_trace, set_current_trace
from funcjax.interpreters.eval import EvalTrace, aval_of, eval_jaxpr
from funcjax.ops.custom import custom_vjp


class _CompileTimeEvalTrace(Trace):
    """Operations whose inputs are all concrete run eagerly now; the others go to the trace
    that was current when the context was entered."""

    def __init__(self, parent):
        super().__init__(parent, "ensure_compile_time_eval")
        self.eager = EvalTrace()

    def process_primitive(self, primitive, args, params):
        if any(isinstance(x, Tracer) and x._trace.alive for x in args):
            return self.parent.process_primitive(primitive, args, params)
        return self.eager.process_primitive(primitive, args, params)


@contextlib.contextmanager
def ensure_compile_time_eval():
    """Inside this context, operations on concrete values compute concrete values even while
    a function is being traced (under jit): ``jnp.arange(3) * 2`` is an Array, not a tracer."""
    with set_current_trace(_CompileTimeEvalTrace(current_trace())):
        yield


def named_call(fun, *, name=None):
    """``fun`` under another name (the name jaxprs, compiled symbols and errors show)."""
    check_callable(fun, "named_call")

    @functools.wraps(fun)
    def named(*args, **kwargs):
        return fun(*args, **kwargs)
    if name is not None:
        named.__name__ = named.__qualname__ = str(name)
    return named


@contextlib.contextmanager
def named_scope(name):
    """A name for the operations traced inside (JAX uses it in profiles; funcjax has none)."""
    if not isinstance(name, str):
        raise TypeError(f"named_scope: the name must be a str, got {type(name).__name__}")
    yield


def closure_convert(fun, *example_args):
    """``(converted, consts)``: ``converted(*args, *consts) == fun(*args)``, where ``consts``
    are the floating-point values ``fun`` closes over (traced ones included), now explicit
    arguments. Custom derivative rules need this to differentiate with respect to them."""
    check_callable(fun, "closure_convert")
    closed, in_tree, out_tree = trace_pytree_function(fun, example_args, {}, "closure_convert")
    jaxpr = closed.jaxpr
    hoist = [isinstance(c, Tracer) or dtypes.is_float(aval_of(c).dtype) for c in closed.consts]
    kept = [c for c, h in zip(closed.consts, hoist) if not h]
    hoisted = [c for c, h in zip(closed.consts, hoist) if h]

    def converted(*args):
        n = len(args) - len(hoisted)
        leaves, tree = tree_flatten((tuple(args[:n]), {}))
        if tree != in_tree:
            raise TypeError(f"closure_convert({fun_name(fun)}): called with arguments of "
                            f"structure {tree}, but it was converted for {in_tree}")
        given, kept_it = iter(args[n:]), iter(kept)
        consts = [next(given) if h else next(kept_it) for h in hoist]
        return tree_unflatten(out_tree, eval_jaxpr(jaxpr, consts, *leaves))
    converted.__name__ = f"closure_convert({fun_name(fun)})"
    return converted, hoisted


def custom_gradient(fun):
    """``fun(*args)`` returns ``(value, vjp)`` where ``vjp(ct)`` gives one cotangent per
    positional argument; the result differentiates with that ``vjp`` (reverse mode)."""
    check_callable(fun, "custom_gradient")

    @functools.wraps(fun)
    def wrapped(*args):
        pullbacks = []  # this call's vjp, converted so that its closure is explicit

        def forward(*a):
            value, vjp = fun(*a)
            if not callable(vjp):
                raise TypeError(f"custom_gradient({fun_name(fun)}): the function must return "
                                f"a pair (value, vjp function), got a {type(vjp).__name__} "
                                "as the second element")
            converted, consts = closure_convert(vjp, value)
            pullbacks.append((converted, len(consts)))
            return value, consts

        def backward(consts, ct):
            converted, _ = pullbacks[-1]
            cts = converted(ct, *consts)
            return tuple(cts) if isinstance(cts, (tuple, list)) else (cts,)

        def primal(*a):
            return fun(*a)[0]
        primal.__name__ = fun_name(fun)
        rule = custom_vjp(primal)
        rule.defvjp(forward, backward)
        return rule(*args)
    return wrapped
