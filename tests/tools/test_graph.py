"""The SVG graph of a jaxpr: well-formed, one node per equation, and reverse mode's three
parts in three colours."""

import xml.etree.ElementTree as ET

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.tools import graph, jaxpr_graph

SVG = "{http://www.w3.org/2000/svg}"


def groups(svg, kind):
    root = ET.fromstring(svg)
    return [g for g in root.iter(SVG + "g") if g.get("class") == kind]


def mlp(params, x):
    for w, b in params:
        x = jnp.tanh(x @ w + b)
    return jnp.sum(x ** 2)


PARAMS = [(jnp.ones((4, 8)), jnp.zeros(8)), (jnp.ones((8, 3)), jnp.zeros(3))]


def test_one_node_per_equation_and_well_formed():
    closed = jax.make_jaxpr(mlp)(PARAMS, jnp.ones((2, 4)))
    g = graph(mlp, PARAMS, jnp.ones((2, 4)))
    assert len(groups(g.svg, "eqn")) == len(closed.eqns) == g.n_eqns
    assert len(groups(g.svg, "input")) == len(closed.jaxpr.invars) + len(closed.jaxpr.constvars)
    assert g._repr_svg_() == g.svg


def test_gradient_parts_have_three_colours():
    g = graph(jax.grad(mlp), PARAMS, jnp.ones((2, 4)))
    eqns = groups(g.svg, "eqn")
    parts = {e.get("data-part") for e in eqns}
    assert parts == {"forward", "backward"}
    residuals = groups(g.svg, "residual")
    assert residuals and all(r.get("data-part") == "residual" for r in residuals)
    stroke = {}
    for e in eqns + residuals:
        rect = e.find(SVG + "rect")
        stroke.setdefault(e.get("data-part"), set()).add(rect.get("stroke"))
    colours = [c for cs in stroke.values() for c in cs]
    assert all(len(cs) == 1 for cs in stroke.values()) and len(set(colours)) == 3
    n_saved = len(jax.tools.saved_residuals(lambda p: mlp(p, jnp.ones((2, 4))), PARAMS))
    assert len(residuals) == n_saved


def test_sub_jaxprs_are_drawn_nested_or_collapsed():
    def loss(c0, xs):
        c, ys = lax.scan(lambda c, x: (jnp.tanh(c * x), jnp.sin(c)), c0, xs)
        return jnp.sum(ys)
    closed = jax.make_jaxpr(loss)(jnp.ones(3), jnp.ones((4, 3)))
    (scan,) = [e for e in closed.eqns if e.primitive.name == "scan"]
    body = scan.params["jaxpr"].jaxpr
    nested = jaxpr_graph(closed, max_depth=2).svg
    assert len(groups(nested, "eqn")) == len(closed.eqns) + len(body.eqns)
    flat = jaxpr_graph(closed, max_depth=0).svg
    assert len(groups(flat, "eqn")) == len(closed.eqns)
    assert f"scan ({len(body.eqns)} eqns)" in flat


def test_a_200_equation_jaxpr_stays_legible():
    def chain(x):
        for _ in range(100):
            x = jnp.sin(x) * 1.01
        return x
    g = graph(chain, jnp.ones(3))
    root = ET.fromstring(g.svg)
    rects = [(float(r.get("x")), float(r.get("y")), float(r.get("width")),
              float(r.get("height"))) for r in root.iter(SVG + "rect")
             if r.get("rx") is not None]
    assert len(groups(g.svg, "eqn")) >= 200
    for i, a in enumerate(rects):  # no two nodes overlap
        for b in rects[i + 1:i + 6]:
            assert (a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1]
                    or b[1] + b[3] <= a[1])
