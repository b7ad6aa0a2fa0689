"""Prints jaxprs in JAX's text form, with sub-jaxprs indented, and as HTML for notebooks."""

import html
import itertools
import string

import numpy as np

from funcjax.core.ir import ClosedJaxpr, DropVar, Jaxpr, Literal


def _names():
    """a, b, ..., z, ba, bb, ... as JAX names variables."""
    letters = string.ascii_lowercase
    for n in itertools.count(1):
        for combo in itertools.product(letters, repeat=n):
            if n > 1 and combo[0] == "a":
                continue
            yield "".join(combo)


class _Namer:
    def __init__(self):
        self.names = {}
        self.fresh = _names()

    def __call__(self, var):
        if isinstance(var, Literal):
            return _literal(var)
        if isinstance(var, DropVar):
            return "_"
        if id(var) not in self.names:
            self.names[id(var)] = next(self.fresh) + var.suffix
        return self.names[id(var)]

    def binder(self, var):
        return f"{self(var)}:{var.aval.str_short()}"


def _literal(lit):
    val = np.asarray(lit.val)
    if val.dtype.kind == "b":
        text = str(bool(val))
    elif val.dtype.kind == "f":
        text = repr(float(val))
    else:
        text = str(int(val))
    return f"{text}:{lit.aval.str_short()}"


def _param(value, namer, indent):
    if isinstance(value, (Jaxpr, ClosedJaxpr)):
        inner = value.jaxpr if isinstance(value, ClosedJaxpr) else value
        return _jaxpr_lines(inner, namer, indent + 4).lstrip()
    if isinstance(value, (tuple, list)) and any(isinstance(v, (Jaxpr, ClosedJaxpr))
                                                 for v in value):
        parts = [_param(v, namer, indent + 2) for v in value]
        return "(\n" + ",\n".join(" " * (indent + 2) + p.lstrip() for p in parts) + "\n" \
            + " " * indent + ")"
    if isinstance(value, np.dtype):
        return value.name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return str(value)


def _eqn_text(eqn, namer, indent):
    outs = " ".join(namer.binder(v) for v in eqn.outputs)
    params = ""
    if eqn.params:
        items = [f"{k}={_param(v, namer, indent + 2)}" for k, v in sorted(eqn.params.items())]
        params = "[" + " ".join(items) + "]" if sum(map(len, items)) < 80 and \
            not any("\n" in i for i in items) else \
            "[\n" + "\n".join(" " * (indent + 2) + i for i in items) + "\n" + " " * indent + "]"
    ins = " ".join(namer(x) for x in eqn.inputs)
    return f"{outs} = {eqn.primitive.name}{params} {ins}".rstrip()


def _jaxpr_lines(jaxpr, namer, indent):
    pad = " " * indent
    consts = " ".join(namer.binder(v) for v in jaxpr.constvars)
    ins = " ".join(namer.binder(v) for v in jaxpr.invars)
    head = f"{pad}{{ lambda {consts}; {ins}. let"
    body = [pad + "    " + _eqn_text(e, namer, indent + 4) for e in jaxpr.eqns]
    outs = ", ".join(namer(v) for v in jaxpr.outvars)
    tail = f"{pad}  in ({outs}{',' if len(jaxpr.outvars) == 1 else ''}) }}"
    return "\n".join([head] + body + [tail])


def jaxpr_to_string(jaxpr):
    return _jaxpr_lines(jaxpr, _Namer(), 0)


def eqn_to_string(eqn):
    return _eqn_text(eqn, _Namer(), 0)


def jaxpr_to_html(jaxpr):
    """A monospace block with primitive names highlighted, for Jupyter's rich display."""
    text = html.escape(jaxpr_to_string(jaxpr))
    for eqn in jaxpr.eqns:
        name = html.escape(eqn.primitive.name)
        text = text.replace(f"= {name}", f"= <b style='color:#0550ae'>{name}</b>", 1)
    return f"<pre style='font-size:12px'>{text}</pre>"
