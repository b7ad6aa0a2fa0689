"""What reverse mode keeps: the residuals that ``vjp``/``grad`` save between the forward and
the backward pass, with their sizes and the source lines that computed them (inside loop
bodies and other sub-jaxprs too)."""

from funcjax.api_util import fun_name
from funcjax.tools.memory import staged_vjp


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
    """The residuals of ``vjp(fun, *args)``, each with the equation and line that made it."""
    staged = staged_vjp(fun, *args)
    return ResidualReport(fun, [Residual(a, s) for a, s in
                                zip(staged.residual_avals, staged.residual_sources)])


def print_saved_residuals(fun, *args):
    print(saved_residuals(fun, *args))
