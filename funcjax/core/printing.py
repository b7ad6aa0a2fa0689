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


_WIDTH = 80


def _is_jaxpr(value):
    return isinstance(value, (Jaxpr, ClosedJaxpr))


def _param(value, namer, indent, col, flat):
    """A parameter's text; sub-jaxprs break over lines (body at ``indent + 4``) unless
    ``flat``."""
    if _is_jaxpr(value):
        inner = value.jaxpr if isinstance(value, ClosedJaxpr) else value
        return _jaxpr_text(inner, namer, indent, col, flat)
    if isinstance(value, (tuple, list)) and any(_is_jaxpr(v) for v in value):
        if flat:
            return "(" + " ".join(_param(v, namer, indent, col, True) for v in value) + ")"
        pad = " " * (indent + 2)
        parts = [pad + _param(v, namer, indent + 2, indent + 2, False) for v in value]
        return "(\n" + "\n".join(parts) + "\n" + " " * indent + ")"
    if isinstance(value, np.dtype):
        return value.name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    return str(value)


def _eqn_text(eqn, namer, indent, flat=False):
    """One equation; as in JAX, its parameters go one per line when it does not fit in 80
    columns."""
    outs = " ".join(namer.binder(v) for v in eqn.outputs)
    ins = " ".join(namer(x) for x in eqn.inputs)
    head = f"{outs} = {eqn.primitive.name}"
    items = sorted(eqn.params.items())
    one = "[" + " ".join(f"{k}={_param(v, namer, indent, 0, True)}" for k, v in items) + "]"
    text = f"{head}{one if items else ''} {ins}".rstrip()
    if flat or not items or indent + len(text) <= _WIDTH:
        return text
    pad = indent + 2
    lines = [" " * pad + f"{k}=" + _param(v, namer, pad, pad + len(k) + 1, False)
             for k, v in items]
    return f"{head}[\n" + "\n".join(lines) + "\n" + " " * indent + f"] {ins}".rstrip()


def _jaxpr_text(jaxpr, namer, indent, col, flat=False):
    """``{ lambda consts; ins. let eqns in (outs) }`` on one line when that fits in 80 columns
    from ``col``; otherwise one equation per line at ``indent + 4``."""
    consts = " ".join(namer.binder(v) for v in jaxpr.constvars)
    ins = " ".join(namer.binder(v) for v in jaxpr.invars)
    eqns = [_eqn_text(e, namer, 0, flat=True) for e in jaxpr.eqns]  # names in JAX's order
    outs = ", ".join(namer(v) for v in jaxpr.outvars)
    outs = f"({outs}{',' if len(jaxpr.outvars) == 1 else ''})"
    one = f"{{ lambda {consts}; {ins}. let {'; '.join(eqns)} in {outs} }}"
    if flat or col + len(one) <= _WIDTH:
        return one
    body = [" " * (indent + 4) + _eqn_text(e, namer, indent + 4) for e in jaxpr.eqns]
    tail = " " * (indent + 2) + f"in {outs} }}"
    return "\n".join([f"{{ lambda {consts}; {ins}. let"] + body + [tail])


def jaxpr_to_string(jaxpr):
    return _jaxpr_text(jaxpr, _Namer(), 0, 0)


def eqn_to_string(eqn):
    return _eqn_text(eqn, _Namer(), 0)


def jaxpr_to_html(jaxpr):
    """A monospace block with primitive names highlighted, for Jupyter's rich display."""
    text = html.escape(jaxpr_to_string(jaxpr))
    for eqn in jaxpr.eqns:
        name = html.escape(eqn.primitive.name)
        text = text.replace(f"= {name}", f"= <b style='color:#0550ae'>{name}</b>", 1)
    return f"<pre style='font-size:12px'>{text}</pre>"
