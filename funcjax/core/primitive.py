"""Primitive cards: each primitive carries all of its rules as named slots.

Slots, in the order a card defines them: ``impl`` (numpy), ``abstract_eval`` (types),
``jvp``, ``transpose`` (only for primitives linear in some input), ``partial_eval`` (only for
higher-order primitives; first-order ones use the default rule), ``batch``, ``lower`` (LLVM)
and ``cost``. The signature each interpreter expects is in that interpreter's docstring.
``bind`` hands the call to the current trace, which picks the rule it needs.
A missing rule raises ``MissingRuleError`` naming the primitive and the transformation.
"""

import importlib

from funcjax.core.errors import MissingRuleError
from funcjax.core.trace import _context, current_trace

RULE_SLOTS = ("impl", "abstract_eval", "jvp", "transpose", "partial_eval", "batch", "lower",
              "cost")

_TRANSFORMATION_OF_SLOT = {
    "impl": "eager evaluation", "abstract_eval": "tracing (shape inference)",
    "jvp": "forward-mode differentiation (jvp/grad)", "transpose": "reverse mode (transpose)",
    "partial_eval": "reverse mode (partial evaluation)",
    "batch": "vmap", "lower": "jit (LLVM lowering)", "cost": "cost analysis",
}

registry = {}
# Modules that attach rules when imported (the LLVM backend's ``lower`` rules load lazily, so
# that eager use never imports llvmlite); ``coverage`` imports them to show the full table.
rule_modules = []


class Primitive:
    """One operation of the IR. Rules are attached with the ``def_<slot>`` decorators."""

    def __init__(self, name, multiple_results=False):
        if name in registry:
            raise ValueError(f"primitive {name!r} is defined twice")
        self.name = name
        self.multiple_results = multiple_results
        self.rules = {}
        self.impl = None  # the impl rule again, as an attribute: eager mode reads it per call
        # ``effectful(params) -> bool``: whether an equation has side effects (a host callback
        # that is not pure), so that no pass removes it as dead code (``ir.has_effects``).
        self.effectful = None
        registry[name] = self

    def __repr__(self):
        return self.name

    def bind(self, *args, **params):
        trace = _context.trace or current_trace()
        return trace.process_primitive(self, args, params)

    def rule(self, slot):
        try:
            return self.rules[slot]
        except KeyError:
            raise MissingRuleError(
                f"primitive '{self.name}' has no {slot} rule, so it does not support "
                f"{_TRANSFORMATION_OF_SLOT[slot]} yet") from None

    def def_rule(self, slot, fn):
        if slot not in RULE_SLOTS:
            raise ValueError(f"unknown rule slot {slot!r}; slots are {RULE_SLOTS}")
        self.rules[slot] = fn
        if slot == "impl":
            self.impl = fn
        return fn

    def def_impl(self, fn):
        return self.def_rule("impl", fn)

    def def_abstract_eval(self, fn):
        return self.def_rule("abstract_eval", fn)

    def def_jvp(self, fn):
        return self.def_rule("jvp", fn)

    def def_transpose(self, fn):
        return self.def_rule("transpose", fn)

    def def_partial_eval(self, fn):
        return self.def_rule("partial_eval", fn)

    def def_batch(self, fn):
        return self.def_rule("batch", fn)

    def def_lower(self, fn):
        return self.def_rule("lower", fn)

    def def_cost(self, fn):
        return self.def_rule("cost", fn)

    @property
    def abstract_eval_rule(self):
        return self.rule("abstract_eval")


def define_primitive(name, impl, abstract_eval, multiple_results=False):
    """A new primitive with its first two rules; the other rules are attached after it."""
    prim = Primitive(name, multiple_results)
    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    return prim


def coverage(slots=RULE_SLOTS):
    """The primitive x rule table as rows ``(name, {slot: bool})``; print it with ``str``."""
    for module in rule_modules:
        importlib.import_module(module)
    return CoverageTable(slots)


class CoverageTable:
    def __init__(self, slots):
        self.slots = tuple(slots)
        self.rows = [(name, {s: s in p.rules for s in self.slots})
                     for name, p in sorted(registry.items())]

    def missing(self, slot):
        return [name for name, has in self.rows if not has[slot]]

    def __str__(self):
        width = max(len(n) for n, _ in self.rows)
        head = "primitive".ljust(width) + "  " + "  ".join(self.slots)
        lines = [head]
        for name, has in self.rows:
            marks = "  ".join(("x" if has[s] else ".").center(len(s)) for s in self.slots)
            lines.append(name.ljust(width) + "  " + marks)
        return "\n".join(lines)
