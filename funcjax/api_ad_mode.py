"""Choosing between forward and reverse mode by estimated cost.

A Jacobian of ``f: R^n -> R^m`` costs ``n`` forward (jvp) passes or ``m`` reverse (transposed)
passes, and reverse mode also keeps the residuals of the forward pass in memory. Both are
known before anything runs: linearize ``f`` once, sum the primitives' cost rules over the
linear jaxpr (one forward pass) and over its transpose (one reverse pass), and count the bytes
of the residuals. A roofline turns each count into seconds on this machine's order of
magnitude; ``mode="auto"`` takes the cheaper mode, and ``explain_*`` prints the estimate.

Hessians and Hessian-vector products are Jacobians of gradients, so the same estimate, applied
to the inner derivative traced with each mode, ranks forward-over-reverse,
reverse-over-forward, reverse-over-reverse and forward-over-forward.

JAX has no such choice; the modes here are also accepted by name ("fwd", "rev",
"fwd-over-rev", ...), and the default of each function is JAX's own.
"""

import functools
import math
import os

from funcjax.api import (
    _diff_args,
    _jacobian,
    _linearize_tree,
    _ones_like,
    _partial_over,
    jacfwd,
    jacrev,
    jvp,
    vjp,
)
from funcjax.api_util import fun_name
from funcjax.core import dtypes
from funcjax.core.cost import Cost, jaxpr_cost
from funcjax.core.pytree import tree_flatten
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import tangent_aval
from funcjax.interpreters.staging import trace_to_jaxpr

# The roofline: vectorised float32 arithmetic at about half of one core's FMA peak, memory at
# its streaming bandwidth, a transcendental function as ~20 arithmetic operations (polynomial).
FLOPS_PER_SECOND = 5e10
BYTES_PER_SECOND = 1.9e10
FLOPS_PER_TRANSCENDENTAL = 20


def seconds(cost):
    """The roofline time of a ``Cost``: arithmetic and memory traffic, whichever is slower."""
    arithmetic = (cost.flops + FLOPS_PER_TRANSCENDENTAL * cost.transcendentals)
    return max(arithmetic / FLOPS_PER_SECOND, cost.bytes_accessed / BYTES_PER_SECOND)


def memory_budget():
    """Residual bytes reverse mode may keep before it is ruled out: a quarter of the RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 << 30


class Estimate:
    """One mode's estimate: ``passes`` of a pass costing ``per_pass``, plus the residual bytes
    written once and read back once."""

    def __init__(self, mode, passes, per_pass, residual_bytes=0):
        self.mode, self.passes, self.per_pass = mode, passes, per_pass
        self.residual_bytes = residual_bytes

    @property
    def total(self):
        moved = Cost(bytes_read=self.residual_bytes, bytes_written=self.residual_bytes)
        return self.per_pass * self.passes + moved

    @property
    def seconds(self):
        if self.residual_bytes > memory_budget():
            return math.inf
        return seconds(self.total)

    def __repr__(self):
        return (f"Estimate({self.mode!r}, passes={self.passes}, seconds={self.seconds:.3g}, "
                f"residual_bytes={self.residual_bytes})")


class Explanation:
    """The estimates of every mode and the one chosen (the cheapest)."""

    def __init__(self, what, estimates):
        self.what, self.estimates = what, estimates
        self.choice = min(estimates, key=lambda e: e.seconds).mode

    def __getitem__(self, mode):
        return next(e for e in self.estimates if e.mode == mode)

    def __str__(self):
        head = (f"{'mode':<14}{'passes':>8}{'flops/pass':>14}{'transc/pass':>13}"
                f"{'bytes/pass':>14}{'residuals':>14}{'estimate':>12}")
        lines = [f"{self.what}:", head]
        for e in self.estimates:
            p = e.per_pass
            mark = "  <- chosen" if e.mode == self.choice else ""
            lines.append(f"{e.mode:<14}{e.passes:>8}{p.flops:>14,}{p.transcendentals:>13,}"
                         f"{p.bytes_accessed:>14,}{e.residual_bytes:>14,}"
                         f"{_fmt_seconds(e.seconds):>12}{mark}")
        lines.append("forward passes are jvps, one per column of the result; reverse passes "
                     "are transposed jvps, one per row, and keep the residuals.")
        return "\n".join(lines)

    _repr_pretty_ = lambda self, p, cycle: p.text(str(self))  # noqa: E731


def _fmt_seconds(s):
    if math.isinf(s):
        return "over budget"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _linear_estimates(lin, names=("fwd", "rev")):
    """Forward and reverse estimates for the Jacobian of a linearized function."""
    n_in = sum(aval_of(p).size for p in lin.primals
               if tangent_aval(aval_of(p)).dtype != dtypes.float0)
    n_out = sum(aval_of(o).size for o in lin.outs)
    forward = jaxpr_cost(lin.linear)
    ct_avals = [tangent_aval(aval_of(o)) for o in lin.outs]
    transposed = trace_to_jaxpr(lambda *cts: lin.backward(list(cts)), ct_avals,
                                "transpose (cost estimate)")
    residuals = sum(aval_of(c).nbytes for c in lin.linear.consts)
    return [Estimate(names[0], n_in, forward),
            Estimate(names[1], n_out, jaxpr_cost(transposed), residuals)]


def _linearize_at(fun, args, argnums):
    nums, single, diff = _diff_args("jacobian", fun, args, argnums)
    partial = _partial_over(fun, args, {}, nums)
    target = partial if single else (lambda d: partial(*d))
    return _linearize_tree("jacobian", target, (diff[0] if single else diff,), False)[0]


def explain_jacobian(fun, *args, argnums=0):
    """The estimated cost of ``jacobian(fun)(*args)`` in forward and in reverse mode."""
    lin = _linearize_at(fun, args, argnums)
    return Explanation(f"jacobian of {fun_name(fun)}", _linear_estimates(lin))


_JACOBIANS = {"fwd": jacfwd, "rev": jacrev}


def jacobian(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False, mode="rev"):
    """The Jacobian by forward (``mode="fwd"``, jacfwd) or reverse (``"rev"``, jacrev, the
    default as in JAX) mode, or ``"auto"``: linearize once and take the mode with the lower
    estimated cost (see ``explain_jacobian``). Like jacfwd, an auto-forward Jacobian has the
    output's dtype; like jacrev, an auto-reverse one the input's."""
    if mode == "auto":
        def choose(lin):
            return "jacfwd" if Explanation("", _linear_estimates(lin)).choice == "fwd" \
                else "jacrev"
        return _jacobian("jacobian", fun, argnums, has_aux, holomorphic, allow_int,
                         choose=choose)
    if mode not in _JACOBIANS:
        raise ValueError(f"jacobian: mode must be 'fwd', 'rev' or 'auto', got {mode!r}")
    if mode == "fwd":
        return jacfwd(fun, argnums, has_aux, holomorphic)
    return jacrev(fun, argnums, has_aux, holomorphic, allow_int)


# -- second order -----------------------------------------------------------------------------
HESSIAN_MODES = ("fwd-over-rev", "rev-over-fwd", "rev-over-rev", "fwd-over-fwd")


def _split_mode(what, mode, modes):
    if mode not in modes:
        raise ValueError(f"{what}: mode must be one of {', '.join(map(repr, modes))} or "
                         f"'auto', got {mode!r}")
    outer, inner = mode.split("-over-")
    return outer, inner


def explain_hessian(fun, *args, argnums=0):
    """The estimated cost of ``hessian(fun)(*args)`` in each nesting of the two modes: the
    Jacobian (outer mode) of the gradient traced with the inner mode."""
    estimates = []
    for inner in ("rev", "fwd"):
        gradient = _JACOBIANS[inner](fun, argnums)
        lin = _linearize_at(gradient, args, argnums)
        estimates += _linear_estimates(lin, (f"fwd-over-{inner}", f"rev-over-{inner}"))
    return Explanation(f"hessian of {fun_name(fun)}", estimates)


def hessian(fun, argnums=0, has_aux=False, holomorphic=False, mode="fwd-over-rev"):
    """The Hessian, ``jacfwd(jacrev(fun))`` by default as in JAX; ``mode`` picks another
    nesting (``"rev-over-fwd"``, ``"rev-over-rev"``, ``"fwd-over-fwd"``) or ``"auto"``, the
    cheapest by ``explain_hessian``'s estimate."""
    if mode == "auto":
        if has_aux:
            raise ValueError("hessian(mode='auto') does not take has_aux=True; name a mode")

        @functools.wraps(fun)
        def auto(*args):
            chosen = explain_hessian(fun, *args, argnums=argnums).choice
            return hessian(fun, argnums, has_aux, holomorphic, chosen)(*args)
        return auto
    outer, inner = _split_mode("hessian", mode, HESSIAN_MODES)
    gradient = _JACOBIANS[inner](fun, argnums, has_aux, holomorphic)
    return _JACOBIANS[outer](gradient, argnums, has_aux, holomorphic)


HVP_MODES = ("fwd-over-rev", "rev-over-fwd", "rev-over-rev")


def _grad_of_scalar(what, fun):
    def gradient(*primals):
        return vjp(fun, *primals)[1](_one(fun(*primals), what, fun))
    return gradient


def _one(out, what, fun):
    a = aval_of(out)
    if a.shape != ():
        raise TypeError(f"{what}({fun_name(fun)}): the function must return a scalar, got "
                        f"shape {a.shape}; reduce it (e.g. jnp.sum) first")
    return _ones_like(out)


def _hvp_with(mode, fun, primals, tangents):
    gradient = _grad_of_scalar("hvp", fun)
    if mode == "fwd-over-rev":
        return jvp(gradient, primals, tangents)[1]
    if mode == "rev-over-rev":
        return vjp(gradient, *primals)[1](tangents)

    def directional(*xs):  # rev-over-fwd: the gradient of the directional derivative
        return jvp(fun, xs, tangents)[1]
    return _grad_of_scalar("hvp", directional)(*primals)


def explain_hvp(fun, primals, tangents):
    """The estimated cost of one Hessian-vector product in each mode."""
    gradient = _grad_of_scalar("hvp", fun)
    estimates = []
    for e in _linear_estimates(_linearize_at(gradient, primals, tuple(range(len(primals)))),
                               ("fwd-over-rev", "rev-over-rev")):
        e.passes = 1
        estimates.append(e)

    def directional(*xs):
        return jvp(fun, xs, tangents)[1]
    (e,) = _linear_estimates(_linearize_at(directional, primals, tuple(range(len(primals)))),
                             ("unused", "rev-over-fwd"))[1:]
    e.passes = 1
    estimates.append(e)
    return Explanation(f"hessian-vector product of {fun_name(fun)}", estimates)


def hvp(fun, primals, tangents, mode="auto"):
    """The Hessian-vector product ``H(primals) @ tangents`` of a scalar function (a funcjax
    extension), with ``primals`` and ``tangents`` tuples as in ``jvp``. Returns a tuple with
    one entry per primal. ``mode`` is "fwd-over-rev", "rev-over-fwd", "rev-over-rev" or
    "auto" (the cheapest by ``explain_hvp``)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if tree_flatten(primals)[1] != tree_flatten(tangents)[1]:
        raise ValueError(f"hvp({fun_name(fun)}): primals and tangents must have the same "
                         f"structure, got {tree_flatten(primals)[1]} and "
                         f"{tree_flatten(tangents)[1]}")
    if mode == "auto":
        mode = explain_hvp(fun, primals, tangents).choice
    _split_mode("hvp", mode, HVP_MODES)
    return tuple(_hvp_with(mode, fun, primals, tangents))
