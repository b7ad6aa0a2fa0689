"""A jaxpr drawn as an SVG graph, by funcjax itself (no graphviz).

Nodes are the equations (and the inputs, residuals and outputs), edges the values flowing
between them. The layout is layered: every node sits one row below the lowest of the nodes it
reads, and each row is ordered by the mean position of its inputs (two barycentre sweeps)
to keep edges short. An equation that carries sub-jaxprs (a loop body, branches, a jit call)
is drawn as a box holding their graphs, down to ``max_depth``; deeper ones are collapsed to a
node that says how many equations they hold.

``graph(jax.grad(f), x)`` draws reverse mode's three parts in their own colours: the forward
pass, the residuals it keeps, and the backward pass that reads them.
"""

import html
from xml.sax.saxutils import quoteattr

from funcjax.api import make_jaxpr
from funcjax.core.ir import Literal, subjaxprs
from funcjax.tools.memory import staged_vjp

COLOURS = {"plain": "#4c78a8", "forward": "#4c78a8", "residual": "#f58518",
           "backward": "#54a24b", "input": "#9d9d9d", "output": "#9d9d9d"}
FILL = {"plain": "#e8eef6", "forward": "#e8eef6", "residual": "#fdebd9",
        "backward": "#e6f2e4", "input": "#f4f4f4", "output": "#f4f4f4"}
ROW, GAP, PAD, HEAD, CHAR, FONT = 30, 14, 8, 20, 7, 12


class _Node:
    __slots__ = ("label", "part", "kind", "inner", "w", "h", "row", "x", "y", "title")

    def __init__(self, label, part, kind, inner=None, title=""):
        self.label, self.part, self.kind, self.inner = label, part, kind, inner
        self.title = title
        self.w = max(48, CHAR * len(label) + 2 * PAD)
        self.h = 28
        if inner is not None:
            self.w = max(self.w, inner.width + 2 * PAD)
            self.h = HEAD + inner.height + PAD
        self.row, self.x, self.y = 0, 0, 0


class _Layout:
    """Nodes and edges of one graph, placed in rows."""

    def __init__(self):
        self.nodes, self.edges = [], []  # edges: (src index, dst index, part)
        self.width = self.height = 0

    def add(self, node):
        self.nodes.append(node)
        return len(self.nodes) - 1

    def place(self):
        preds = [[] for _ in self.nodes]
        for s, d, _ in self.edges:
            preds[d].append(s)
        for i, n in enumerate(self.nodes):  # nodes are added in a topological order
            n.row = 1 + max((self.nodes[p].row for p in preds[i]), default=-1)
        rows = {}
        for i, n in enumerate(self.nodes):
            rows.setdefault(n.row, []).append(i)
        order = {i: k for r in rows.values() for k, i in enumerate(r)}
        for _ in range(2):
            for r in sorted(rows):
                def centre(i):
                    ps = preds[i]
                    return sum(order[p] for p in ps) / len(ps) if ps else order[i]
                rows[r].sort(key=centre)
                order.update({i: k for k, i in enumerate(rows[r])})
        widths = {r: sum(self.nodes[i].w for i in ids) + GAP * (len(ids) - 1)
                  for r, ids in rows.items()}
        self.width = max(widths.values(), default=0)
        y = 0
        for r in sorted(rows):
            x = (self.width - widths[r]) / 2
            tallest = max(self.nodes[i].h for i in rows[r])
            for i in rows[r]:
                n = self.nodes[i]
                n.x, n.y = x, y + (tallest - n.h) / 2
                x += n.w + GAP
            y += tallest + ROW
        self.height = max(0, y - ROW)

    def svg(self, ox, oy, out):
        for s, d, part in self.edges:
            a, b = self.nodes[s], self.nodes[d]
            x1, y1 = ox + a.x + a.w / 2, oy + a.y + a.h
            x2, y2 = ox + b.x + b.w / 2, oy + b.y
            mid = (y1 + y2) / 2
            out.append(f'<path class="edge {part}" d="M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} '
                       f'{x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}" fill="none" '
                       f'stroke="{COLOURS[part]}" stroke-width="1.2" '
                       'marker-end="url(#arrow)"/>')
        for n in self.nodes:
            x, y = ox + n.x, oy + n.y
            radius = 14 if n.kind in ("input", "output", "residual") else 4
            out.append(f'<g class={quoteattr(n.kind)} data-part={quoteattr(n.part)}>'
                       f'<title>{html.escape(n.title or n.label)}</title>'
                       f'<rect x="{x:.1f}" y="{y:.1f}" width="{n.w:.1f}" height="{n.h:.1f}" '
                       f'rx="{radius}" fill="{FILL[n.part]}" stroke="{COLOURS[n.part]}"/>')
            ty = y + (15 if n.inner is not None else n.h / 2 + FONT / 2 - 2)
            out.append(f'<text x="{x + n.w / 2:.1f}" y="{ty:.1f}" text-anchor="middle">'
                       f'{html.escape(n.label)}</text>')
            if n.inner is not None:
                n.inner.svg(x + (n.w - n.inner.width) / 2, y + HEAD, out)
            out.append("</g>")


def _short(aval):
    return aval.str_short() if hasattr(aval, "str_short") else str(aval)


def _add_jaxpr(layout, jaxpr, part, sources, depth, max_depth):
    """Adds ``jaxpr``'s equations to ``layout``; ``sources`` maps its input variables to the
    nodes that provide them. Returns the node (or None) behind each output variable."""
    env = dict(sources)
    for eqn in jaxpr.eqns:
        subs = subjaxprs(eqn)
        inner, label = None, eqn.primitive.name
        if subs and depth < max_depth:
            inner = _Layout()
            for k, sub in enumerate(subs):
                sub_sources = {v: inner.add(_Node(_short(v.aval), "input", "input"))
                               for v in sub.constvars + sub.invars}
                outs = _add_jaxpr(inner, sub, part, sub_sources, depth + 1, max_depth)
                for j, o in enumerate(outs):
                    if o is not None:
                        name = f"out {j}" if len(subs) == 1 else f"branch {k} out {j}"
                        inner.edges.append((o, inner.add(_Node(name, "output", "output")),
                                            part))
            inner.place()
        elif subs:
            label += f" ({sum(len(s.eqns) for s in subs)} eqns)"
        literals = [str(x.val) for x in eqn.inputs if isinstance(x, Literal)]
        if literals and len(", ".join(literals)) < 24:
            label += " " + ", ".join(literals)
        out_types = ", ".join(_short(v.aval) for v in eqn.outputs)
        node = layout.add(_Node(label, part, "eqn", inner,
                                title=f"{eqn.primitive.name} -> {out_types} at "
                                      f"{eqn.source_info}"))
        for x in eqn.inputs:
            if not isinstance(x, Literal) and env.get(x) is not None:
                layout.edges.append((env[x], node, part))
        for v in eqn.outputs:
            env[v] = node
    return [None if isinstance(v, Literal) else env.get(v) for v in jaxpr.outvars]


class Graph:
    """An SVG drawing; notebooks show it inline (``_repr_svg_``); ``save(path)`` writes it."""

    def __init__(self, svg, n_eqns):
        self.svg, self.n_eqns = svg, n_eqns

    def _repr_svg_(self):
        return self.svg

    def __str__(self):
        return self.svg

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.svg)


def _render(layout, n_eqns, legend):
    layout.place()
    out = []
    layout.svg(PAD, PAD + (18 if legend else 0), out)
    width, height = layout.width + 2 * PAD, layout.height + 2 * PAD + (18 if legend else 0)
    if legend:
        width = max(width, 110 * len(legend))
        for k, part in enumerate(legend):
            out.append(f'<rect x="{PAD + 110 * k}" y="4" width="12" height="12" '
                       f'fill="{FILL[part]}" stroke="{COLOURS[part]}"/><text x="'
                       f'{PAD + 110 * k + 16}" y="14">{part}</text>')
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'font-family="monospace" font-size="{FONT}">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
            'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#666"/></marker></defs>')
    return Graph(head + "".join(out) + "</svg>", n_eqns)


def jaxpr_graph(jaxpr, max_depth=2):
    """The SVG graph of a (closed) jaxpr."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    layout = _Layout()
    sources = {v: layout.add(_Node(_short(v.aval), "input", "input"))
               for v in jaxpr.constvars + jaxpr.invars}
    for k, o in enumerate(_add_jaxpr(layout, jaxpr, "plain", sources, 0, max_depth)):
        if o is not None:
            layout.edges.append((o, layout.add(_Node(f"out {k}", "output", "output")),
                                 "plain"))
    return _render(layout, len(jaxpr.eqns), None)


def gradient_graph(fun, *args, max_depth=2):
    """The forward pass, residuals and backward pass of ``vjp(fun, *args)`` in one drawing."""
    staged = staged_vjp(fun, *args)
    fwd, bwd = staged.forward.jaxpr, staged.backward.jaxpr
    layout = _Layout()
    sources = {v: layout.add(_Node(_short(v.aval), "input", "input"))
               for v in fwd.constvars + fwd.invars}
    outs = _add_jaxpr(layout, fwd, "forward", sources, 0, max_depth)
    res_nodes = []
    for v, src in zip(fwd.outvars[staged.n_outs:], outs[staged.n_outs:]):
        node = layout.add(_Node(f"residual {_short(v.aval)}", "residual", "residual"))
        if src is not None:
            layout.edges.append((src, node, "residual"))
        res_nodes.append(node)
    n_res = len(res_nodes)
    back_sources = {v: n for v, n in zip(bwd.invars[:n_res], res_nodes)}
    back_sources.update({v: layout.add(_Node(f"cotangent {_short(v.aval)}", "input", "input"))
                         for v in bwd.constvars + bwd.invars[n_res:]})
    for k, o in enumerate(_add_jaxpr(layout, bwd, "backward", back_sources, 0, max_depth)):
        if o is not None:
            layout.edges.append((o, layout.add(_Node(f"gradient {k}", "output", "output")),
                                 "backward"))
    return _render(layout, len(fwd.eqns) + len(bwd.eqns), ("forward", "residual", "backward"))


def graph(fun, *args, max_depth=2, **kwargs):
    """Draws ``fun`` at ``args`` as an SVG graph. A function made by ``grad`` or
    ``value_and_grad`` is drawn as its forward, residual and backward parts in three colours;
    anything else as the jaxpr ``make_jaxpr`` gives."""
    origin = getattr(fun, "__funcjax_grad__", None)
    if origin is not None and not kwargs:
        inner, argnums, has_aux = origin
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

        def over_diff(*diff):
            full = list(args)
            for i, d in zip(nums, diff):
                full[i] = d
            out = inner(*full)
            return out[0] if has_aux else out
        return gradient_graph(over_diff, *[args[i] for i in nums], max_depth=max_depth)
    return jaxpr_graph(make_jaxpr(fun)(*args, **kwargs), max_depth)
