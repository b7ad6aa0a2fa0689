"""What reverse mode keeps: the residuals that ``vjp``/``grad`` save between the forward and
the backward pass, with their sizes and the source lines that computed them."""

from funcjax.api_util import argument_names, fun_name
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.core.trace import new_trace
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.partial_eval import linearize_flat
from funcjax.interpreters.staging import StagingTrace, StagingTracer


class Residual:
    __slots__ = ("aval", "source")

    def __init__(self, aval, source):
        self.aval, self.source = aval, source

    nbytes = property(lambda self: self.aval.nbytes)

    def __repr__(self):
        return f"Residual({self.aval.str_short()}, {self.nbytes} bytes, {self.source})"


class ResidualReport:
    """The residuals, in the order the backward pass receives them, and their total size."""

    def __init__(self, fun, residuals):
        self.fun, self.residuals = fun, residuals

    total_bytes = property(lambda self: sum(r.nbytes for r in self.residuals))

    def __len__(self):
        return len(self.residuals)

    def __iter__(self):
        return iter(self.residuals)

    def __str__(self):
        lines = [f"residuals saved by reverse mode through {fun_name(self.fun)}:"]
        for r in self.residuals:
            lines.append(f"  {r.aval.str_short():<16} {r.nbytes:>10} bytes  {r.source}")
        lines.append(f"  total: {len(self.residuals)} residuals, {self.total_bytes} bytes")
        return "\n".join(lines)


def saved_residuals(fun, *args):
    """Linearizes ``fun`` at ``args`` inside a staging trace, so that every residual is a
    staged value whose producing equation (and source line) is known."""
    leaves, in_tree = tree_flatten(args)
    names = argument_names(fun, args)
    from funcjax.api_util import flat_argument_names
    leaf_names = flat_argument_names(names, list(args))

    def flat(*xs):
        return tree_flatten(fun(*tree_unflatten(in_tree, xs)))[0]

    with new_trace(StagingTrace, f"saved_residuals({fun_name(fun)})", leaf_names) as trace:
        inputs = [trace.new_arg(aval_of(x)) for x in leaves]
        _, linear, _ = linearize_flat(flat, inputs)
        residuals = [Residual(aval_of(c), _describe(trace, c, inputs, leaf_names))
                     for c in linear.consts]
    return ResidualReport(fun, residuals)


def _describe(trace, value, inputs, leaf_names):
    if isinstance(value, StagingTracer) and value._trace is trace:
        for x, name in zip(inputs, leaf_names):
            if x.ir_var is value.ir_var:
                return f"the argument '{name}'"
        eqn = trace.producer.get(value.ir_var)
        if eqn is not None:
            return f"'{eqn.primitive.name}' at {eqn.source_info}"
    return "a constant"


def print_saved_residuals(fun, *args):
    print(saved_residuals(fun, *args))
