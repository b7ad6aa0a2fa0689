"""A product read only through a transpose is computed in the transposed layout.

Reverse-mode gradients of ``x @ w`` produce ``transpose(dot_general(g, x))``: the weight's
gradient comes out as ``(out, in)`` and is transposed back. A ``dot_general`` whose output
order is ``(batch, lhs free, rhs free)`` gives ``(batch, rhs free, lhs free)`` with its
operands swapped, for free (BLAS takes either operand transposed), so a transpose that
exactly swaps the two free groups of a product nobody else reads is folded into the
product: no strided pass over the result remains.
"""

from funcjax.core.ir import Jaxpr, Var
from funcjax.ops.contractions import dot_general_p, free_axes
from funcjax.ops.shape import transpose_p


def _swapping_perm(eqn):
    """The permutation that swaps the free groups of product ``eqn``'s output."""
    (lhs, rhs), ((lc, rc), (lb, rb)) = eqn.inputs, eqn.params["dimension_numbers"]
    nb = len(lb)
    nl, nr = len(free_axes(lhs.aval.ndim, lc, lb)), len(free_axes(rhs.aval.ndim, rc, rb))
    return (tuple(range(nb)) + tuple(range(nb + nl, nb + nl + nr))
            + tuple(range(nb, nb + nl)))


def fold_transposed_products(jaxpr):
    """``jaxpr`` with every ``transpose(dot_general(a, b))`` that swaps the product's free
    groups (the product read by nothing else) computed as ``dot_general(b, a)``; ``jaxpr``
    itself when there is none."""
    outvars = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
    uses = {}
    for eqn in jaxpr.eqns:
        for x in eqn.inputs:
            if isinstance(x, Var):
                uses[id(x)] = uses.get(id(x), 0) + 1
    products = {id(e.outputs[0]): e for e in jaxpr.eqns if e.primitive is dot_general_p}
    folded, drop = {}, set()
    for eqn in jaxpr.eqns:
        if eqn.primitive is not transpose_p or not isinstance(eqn.inputs[0], Var):
            continue
        product = products.get(id(eqn.inputs[0]))
        if (product is None or uses[id(eqn.inputs[0])] != 1 or id(eqn.inputs[0]) in outvars
                or tuple(eqn.params["permutation"]) != _swapping_perm(product)):
            continue
        (lc, rc), (lb, rb) = product.params["dimension_numbers"]
        folded[id(eqn)] = product.replace(
            inputs=product.inputs[::-1], outputs=eqn.outputs,
            params=dict(product.params, dimension_numbers=((rc, lc), (rb, lb))))
        drop.add(id(product))
    if not folded:
        return jaxpr
    eqns = [folded.get(id(e), e) for e in jaxpr.eqns if id(e) not in drop]
    return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)
