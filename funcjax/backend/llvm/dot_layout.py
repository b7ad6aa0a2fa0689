"""How products meet BLAS: which go to gemm, the layout they are computed in, and the
update they accumulate into.

A product read only through a transpose is computed in the transposed layout.

Reverse-mode gradients of ``x @ w`` produce ``transpose(dot_general(g, x))``: the weight's
gradient comes out as ``(out, in)`` and is transposed back. A ``dot_general`` whose output
order is ``(batch, lhs free, rhs free)`` gives ``(batch, rhs free, lhs free)`` with its
operands swapped, for free (BLAS takes either operand transposed), so a transpose that
exactly swaps the two free groups of a product nobody else reads is folded into the
product: no strided pass over the result remains.

A gemm product added to an array of its shape is accumulated into it: gemm computes
``alpha * a @ b + beta * c`` in place, so ``w - lr * (x.T @ g)`` (an SGD update),
``x @ w + bias`` or ``a @ b - c`` is one equation ``dot_general(a, b, c)`` with params
``alpha`` (the product's constant factor and sign) and ``beta`` (c's sign), a form only
lowering sees (``lower_dot``: c is written into the output, then gemm runs with beta). That
replaces gemm's zeroing of its output (OpenBLAS clears C when beta is 0) and a pass reading
the product and c by one pass writing c.
"""

import math

import numpy as np

from funcjax.backend.llvm import blas
from funcjax.core.ir import Jaxpr, Literal, Var
from funcjax.ops.contractions import dot_general_p, free_axes
from funcjax.ops.elementwise import add_p, mul_p, neg_p, sub_p
from funcjax.ops.shape import broadcast_in_dim_p, transpose_p

# Measured (one thread; BLAS against lower_dot's loops): a 32x32 or 64x64 product is faster in
# BLAS (1.3 / 5.3 us against 1.7 / 8.8 us); 64 batched 16x16 products in loops (5.3 against
# 7.1 us: 64 calls), 64 batched 32x32 in BLAS (55 against 69 us).
BLAS_MIN_FLOPS = 32 ** 3       # whole product
BLAS_MIN_CALL_FLOPS = 24 ** 3  # per batch element: below it, call overhead dominates


def uses_gemm(lhs, rhs, out, dimension_numbers):
    """Whether the product of avals ``lhs`` and ``rhs`` into ``out`` calls BLAS gemm."""
    (lc, _), (lb, _) = dimension_numbers
    dt = out.dtype
    flops = out.size * math.prod(lhs.shape[d] for d in lc)
    per_call = flops // max(math.prod(lhs.shape[d] for d in lb), 1)
    return (dt.kind in "fc" and dt.itemsize >= 4 and lhs.dtype == dt
            and flops >= BLAS_MIN_FLOPS and per_call >= BLAS_MIN_CALL_FLOPS
            and 0 not in lhs.shape + rhs.shape and blas.available())


def _swapping_perm(eqn):
    """The permutation that swaps the free groups of product ``eqn``'s output."""
    (lhs, rhs), ((lc, rc), (lb, rb)) = eqn.inputs, eqn.params["dimension_numbers"]
    nb = len(lb)
    nl, nr = len(free_axes(lhs.aval.ndim, lc, lb)), len(free_axes(rhs.aval.ndim, rc, rb))
    return (tuple(range(nb)) + tuple(range(nb + nl, nb + nl + nr))
            + tuple(range(nb, nb + nl)))


def _single_use(jaxpr):
    """A test of whether a value of ``jaxpr`` is read by exactly one equation and is not an
    output (a fold may then rewrite the equation that makes it)."""
    outvars = {id(v) for v in jaxpr.outvars if isinstance(v, Var)}
    uses = {}
    for eqn in jaxpr.eqns:
        for x in eqn.inputs:
            if isinstance(x, Var):
                uses[id(x)] = uses.get(id(x), 0) + 1
    return lambda x: isinstance(x, Var) and uses.get(id(x)) == 1 and id(x) not in outvars


def fold_transposed_products(jaxpr):
    """``jaxpr`` with every ``transpose(dot_general(a, b))`` that swaps the product's free
    groups (the product read by nothing else) computed as ``dot_general(b, a)``; ``jaxpr``
    itself when there is none."""
    single_use = _single_use(jaxpr)
    products = {id(e.outputs[0]): e for e in jaxpr.eqns if e.primitive is dot_general_p}
    folded, drop = {}, set()
    for eqn in jaxpr.eqns:
        if eqn.primitive is not transpose_p or not isinstance(eqn.inputs[0], Var):
            continue
        product = products.get(id(eqn.inputs[0]))
        if (product is None or not single_use(eqn.inputs[0])
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


def _scalar_constant(x, defs):
    """The value of ``x`` when it is one constant everywhere (a scalar literal, or a
    broadcast of one), else None."""
    if isinstance(x, Var) and id(x) in defs:
        eqn = defs[id(x)]
        if eqn.primitive is broadcast_in_dim_p:
            x = eqn.inputs[0]
    if isinstance(x, Literal) and np.shape(x.val) == () and x.aval.dtype.kind in "fiu":
        return float(np.asarray(x.val))
    return None


def _scaled_product(x, defs, single_use):
    """``(product equation, factor, equations it replaces)`` when ``x`` is a gemm product,
    its negation, or it times a constant, each read only once; else None."""
    eqn = defs.get(id(x)) if single_use(x) else None
    if eqn is None:
        return None
    if eqn.primitive is dot_general_p:
        lhs, rhs = (v.aval for v in eqn.inputs)
        real = x.aval.dtype.kind == "f" and lhs.dtype == rhs.dtype == x.aval.dtype
        if real and uses_gemm(lhs, rhs, x.aval, eqn.params["dimension_numbers"]):
            return eqn, 1.0, [eqn]
        return None
    if eqn.primitive is neg_p:
        found = _scaled_product(eqn.inputs[0], defs, single_use)
        return found and (found[0], -found[1], found[2] + [eqn])
    if eqn.primitive is mul_p:
        for k in (0, 1):
            found = _scaled_product(eqn.inputs[k], defs, single_use)
            factor = found and _scalar_constant(eqn.inputs[1 - k], defs)
            if factor and math.isfinite(factor):  # not 0 (0 * nan must stay nan) nor None
                return found[0], found[1] * factor, found[2] + [eqn]
    return None


def fold_accumulations(jaxpr):
    """``jaxpr`` with every ``c + s * dot_general(a, b)`` (``add`` or ``sub`` of a gemm
    product, negated or times a constant ``s``, read by nothing else, with ``c`` of the
    product's type) as one equation ``dot_general(a, b, c; alpha, beta)`` computing
    ``alpha * a @ b + beta * c``; ``jaxpr`` itself when there is none."""
    single_use = _single_use(jaxpr)
    defs = {id(e.outputs[0]): e for e in jaxpr.eqns if len(e.outputs) == 1}
    folded, drop = {}, set()
    for eqn in jaxpr.eqns:
        if eqn.primitive not in (add_p, sub_p):
            continue
        out = eqn.outputs[0]
        for k in (1, 0):  # which operand is the product; the other is c
            c = eqn.inputs[1 - k]
            found = _scaled_product(eqn.inputs[k], defs, single_use)
            if (not found or c.aval.shape != out.aval.shape or c.aval.dtype != out.aval.dtype
                    or any(id(e) in drop for e in found[2])):
                continue
            product, alpha, replaced = found
            negate = eqn.primitive is sub_p
            folded[id(eqn)] = product.replace(
                inputs=[*product.inputs, c], outputs=eqn.outputs,
                params=dict(product.params, alpha=-alpha if negate and k == 1 else alpha,
                            beta=-1.0 if negate and k == 0 else 1.0))
            drop.update(id(e) for e in replaced)
            break
    if not folded:
        return jaxpr
    eqns = [folded.get(id(e), e) for e in jaxpr.eqns if id(e) not in drop]
    return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)
