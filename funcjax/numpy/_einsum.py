"""einsum as a contraction planner over dot_general, reduce_sum, transpose and gather.

1. Parse the subscripts (implicit output, ``...``) into one label string per operand.
2. Per operand: take diagonals of repeated labels (``ii``), and sum out labels that appear
   nowhere else.
3. Contract operands pairwise, greedily choosing the pair with the smallest result. Shared
   labels still needed later (or in the output) are batch axes of the ``dot_general``; the
   others are contracted.
4. Sum out what is left and transpose the last operand to the output's order.
"""

import itertools

import numpy as np

from funcjax import lax
from funcjax.numpy._util import broadcast_shapes, broadcast_to_shape, promote_dtypes

__all__ = ["einsum"]

_LETTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _parse(subscripts, shapes):
    """Label strings per operand and for the output, with ``...`` replaced by fresh labels."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the subscripts {subscripts!r} name {len(terms)} operands "
                         f"but {len(shapes)} were given")
    used = set(subscripts) & _LETTERS
    fresh = (c for c in sorted(_LETTERS - used))
    ell_ndim = 0
    for term, shape in zip(terms, shapes):
        for c in term.replace("...", ""):
            if c not in _LETTERS:
                raise ValueError(f"einsum: invalid subscript character {c!r} in "
                                 f"{subscripts!r}")
        if "..." in term:
            ell_ndim = max(ell_ndim, len(shape) - len(term.replace("...", "")))
    ell = "".join(next(fresh) for _ in range(ell_ndim))
    labels = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[ell_ndim - n:] if n else "")
        if len(term) != len(shape):
            raise ValueError(f"einsum: subscripts {term!r} have {len(term)} labels for an "
                             f"operand of shape {shape}")
        labels.append(term)
    if arrow:
        output = output.replace("...", ell)
        for c in output:
            if c not in "".join(labels):
                raise ValueError(f"einsum: output label {c!r} does not appear in the inputs "
                                 f"of {subscripts!r}")
    else:
        counts = {c: "".join(terms).count(c) for c in set("".join(terms).replace(".", ""))}
        output = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    return labels, output


def _label_sizes(labels, shapes):
    sizes = {}
    for term, shape in zip(labels, shapes):
        for c, n in zip(term, shape):
            sizes.setdefault(c, []).append(n)
    out = {}
    for c, ns in sizes.items():
        try:
            (out[c],) = broadcast_shapes("einsum", *[(n,) for n in ns], error=ValueError)
        except ValueError:
            raise ValueError(f"einsum: label {c!r} has inconsistent sizes {ns}") from None
    return out


def _take_diagonals(x, term):
    """Repeated labels within one operand (``ii``) keep only their diagonal."""
    from funcjax.numpy._linalg import diagonal
    while len(set(term)) < len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        term = "".join(t for k, t in enumerate(term) if k not in (i, j)) + c
    return x, term


def _sum_out(x, term, keep):
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    total = lax.reduce_or if x.dtype == np.bool_ else lax.reduce_sum  # a bool sum is "any"
    return total(x, axes), "".join(c for c in term if c in keep)


def _contract(a, ta, b, tb, keep):
    shared = [c for c in ta if c in tb]
    batch = [c for c in shared if c in keep]
    contract = [c for c in shared if c not in keep]
    dims = (([ta.index(c) for c in contract], [tb.index(c) for c in contract]),
            ([ta.index(c) for c in batch], [tb.index(c) for c in batch]))
    out = lax.dot_general(a, b, dims)
    term = "".join(batch) + "".join(c for c in ta if c not in shared) + \
        "".join(c for c in tb if c not in shared)
    return out, term


def _sublists_to_string(first, rest):
    """numpy's operand-list form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as subscripts."""
    args = [first, *rest]
    output = args.pop() if len(args) % 2 else None
    operands, subs = args[0::2], args[1::2]
    if not operands or any(not isinstance(sub, (list, tuple)) for sub in subs):
        raise TypeError("einsum: the operand-list form alternates operands and their index "
                        "lists: einsum(a, [0, 1], b, [1, 2], [0, 2])")

    def letters(sub):
        out = ""
        for i in sub:
            if i is Ellipsis:
                out += "..."
            elif isinstance(i, (int, np.integer)) and 0 <= i < 52:
                out += "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(i)]
            else:
                raise TypeError(f"einsum: index lists hold ints in [0, 52) or ..., got {i!r}")
        return out
    spec = ",".join(letters(sub) for sub in subs)
    if output is not None:
        spec += "->" + letters(output)
    return spec, operands


def einsum(subscripts, *operands, optimize=True, precision=None,
           preferred_element_type=None):
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', x, y)`` or ``einsum('ii->i', m)``."""
    if not isinstance(subscripts, str):
        subscripts, operands = _sublists_to_string(subscripts, operands)
    operands = promote_dtypes(*operands)
    labels, output = _parse(subscripts, [x.shape for x in operands])
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: output subscripts {output!r} repeat a label")
    sizes = _label_sizes(labels, [x.shape for x in operands])
    ops = []
    for x, term in zip(operands, labels):
        # Size-1 axes broadcast against the other operands' sizes for that label.
        x = broadcast_to_shape(x, tuple(sizes[c] for c in term))
        x, term = _take_diagonals(x, term)
        ops.append((x, term))
    while True:
        # Labels needed beyond each operand: the output's and the other operands'.
        for k, (x, term) in enumerate(ops):
            others = set(output).union(*(t for i, (_, t) in enumerate(ops) if i != k))
            ops[k] = _sum_out(x, term, others)
        if len(ops) == 1:
            break
        i, j = min(itertools.combinations(range(len(ops)), 2),
                   key=lambda p: _result_size(ops[p[0]][1], ops[p[1]][1], sizes))
        (a, ta), (b, tb) = ops[i], ops[j]
        rest = [op for k, op in enumerate(ops) if k not in (i, j)]
        keep = set(output).union(*(t for _, t in rest))
        ops = rest + [_contract(a, ta, b, tb, keep)]
    x, term = ops[0]
    out = lax.transpose(x, [term.index(c) for c in output])
    if preferred_element_type is not None:
        out = lax.convert_element_type(out, preferred_element_type)
    return out


def _result_size(ta, tb, sizes):
    return int(np.prod([sizes[c] for c in set(ta) ^ set(tb)], dtype=np.int64))
