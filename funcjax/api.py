"""User-facing transformations. Each one flattens pytrees, runs an interpreter over flat lists
and rebuilds the output structure; the interpreters never see pytrees."""

import functools

import numpy as np

from funcjax.api_util import (
    abstractify_arguments,
    argument_names,
    bad_argument_error,
    check_callable,
    flat_argument_names,
    fun_name,
    merge_static,
    normalize_argnums,
    split_static,
)
from funcjax.api_vmap import vmap
from funcjax.core import dtypes
from funcjax.core.abstract import same_type
from funcjax.core.array import Array, wrap_fresh
from funcjax.core.ir import ClosedJaxpr
from funcjax.core.pytree import Partial, tree_flatten, tree_unflatten
from funcjax.core.shapes import canonicalize_shape
from funcjax.core.trace import Tracer
from funcjax.interpreters import tape
from funcjax.interpreters.eval import aval_of, eval_jaxpr
from funcjax.interpreters.jvp import (
    Zero,
    instantiate_tangent,
    jvp_flat,
    tangent_aval,
    zeros_like_aval,
)
from funcjax.interpreters.partial_eval import linearize_flat
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.interpreters.transpose import UndefinedPrimal, backward_pass


def trace_pytree_function(fun, args, kwargs, description, static_argnums=()):
    """Stages ``fun(*args, **kwargs)`` (pytrees) into a ClosedJaxpr over the flat leaves of the
    non-static arguments. Returns ``(closed_jaxpr, in_tree, out_tree)``."""
    nargs = len(args)
    dynamic, static = split_static(args, static_argnums)
    names = argument_names(fun, args, kwargs)
    dyn_names = [n for i, n in enumerate(names[:nargs]) if i not in static]
    leaves, in_tree = tree_flatten((tuple(dynamic), kwargs))
    flat_names = flat_argument_names(dyn_names + list(kwargs), list(dynamic) +
                                     list(kwargs.values()))
    out_tree_box = []

    def flat_fun(*flat):
        dyn_args, kw = tree_unflatten(in_tree, flat)
        out = fun(*merge_static(dyn_args, static, nargs), **kw)
        out_leaves, out_tree = tree_flatten(out)
        out_tree_box.append(out_tree)
        return out_leaves

    avals = abstractify_arguments(f"{description}({fun_name(fun)})", fun, dynamic, kwargs, leaves)
    closed = trace_to_jaxpr(flat_fun, avals,
                            f"{description}({fun_name(fun)})", flat_names)
    return closed, in_tree, out_tree_box[0]


def make_jaxpr(fun, static_argnums=(), return_shape=False):
    """``make_jaxpr(f)(*args)`` returns the ClosedJaxpr that ``f`` performs on such args."""
    check_callable(fun, "make_jaxpr")
    @functools.wraps(fun)
    def make(*args, **kwargs):
        static, _ = normalize_argnums("make_jaxpr", static_argnums, len(args), "static_argnums")
        closed, _, out_tree = trace_pytree_function(fun, args, kwargs, "make_jaxpr", static)
        if return_shape:
            from funcjax.core.abstract import ShapedArray  # noqa: F401
            shapes = [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type) for a in closed.out_avals]
            return closed, tree_unflatten(out_tree, shapes)
        return closed
    return make


def _struct_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"ShapeDtypeStruct: dtype {dtype!r:.60} is not a dtype; pass one like "
                        "jnp.float32") from None
    if dt not in dtypes.SUPPORTED and dt != dtypes.float0:
        raise TypeError(f"ShapeDtypeStruct: funcjax does not support dtype {dt}; use one of "
                        + ", ".join(str(d) for d in dtypes.SUPPORTED))
    return dt


class ShapeDtypeStruct:
    """Shape and dtype without data: stands for an argument in ``make_jaxpr``/``jit.lower``."""

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type=False):
        self.shape = canonicalize_shape(shape, "ShapeDtypeStruct")
        self.dtype = _struct_dtype(dtype)
        self.weak_type = weak_type

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))

    @classmethod
    def like(cls, x):
        """The shape and dtype of ``x`` (an array, tracer or anything with both)."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            x = aval_of(x)
        return cls(x.shape, x.dtype, getattr(x, "weak_type", False))

    def __repr__(self):
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name})"

    def __eq__(self, other):
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype) == \
            (other.shape, other.dtype)

    def __hash__(self):
        return hash((self.shape, self.dtype))


def eval_shape(fun, *args, **kwargs):
    """The output shapes and dtypes of ``fun(*args)`` without computing anything."""
    closed, _, out_tree = trace_pytree_function(fun, args, kwargs, "eval_shape")
    return tree_unflatten(out_tree, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type)
                                     for a in closed.out_avals])


# -- automatic differentiation ---------------------------------------------------------------
# Each function flattens pytrees, then runs the interpreters on flat lists: jvp_flat (forward
# mode), linearize_flat (jvp + partial evaluation) and backward_pass (transpose).

def _flat_fun(fun, in_tree, has_aux, what):
    """``fun`` over flat leaves, returning its output leaves then its aux leaves. The output and
    aux structures are stored in the returned box once it has run."""
    box = {}

    def flat(*leaves):
        out = fun(*tree_unflatten(in_tree, leaves))
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError(f"{what} with has_aux=True requires {fun_name(fun)} to return a "
                                f"pair (output, auxiliary data), but it returned {_kind(out)}")
            out, aux = out
            box["aux_leaves"], box["aux_tree"] = tree_flatten(aux)
            aux_leaves = [x for x in box["aux_leaves"] if _is_array_like(x)]
        else:
            aux_leaves = []
        out_leaves, box["out_tree"] = tree_flatten(out)
        box["n_out"] = len(out_leaves)
        _check_out_leaves(out_leaves, what, fun)
        return list(out_leaves) + list(aux_leaves)
    return flat, box


def _is_array_like(x):
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic, int, float, bool))


def _aux(box, returned):
    """The aux pytree: the traced leaves as returned, the others (strings...) as given."""
    returned = iter(returned)
    return tree_unflatten(box["aux_tree"], [next(returned) if _is_array_like(x) else x
                                            for x in box["aux_leaves"]])


def _as_arrays(leaves):
    """Python scalars and numpy values as Arrays, so that rules always see arrays."""
    from funcjax.numpy import asarray
    return [x if isinstance(x, (Array, Tracer)) else asarray(x) for x in leaves]


def _kind(x):
    if isinstance(x, (Array, Tracer)):  # a tracer's class name means nothing to the user
        return (f"a single array of type {x.aval.str_short()}; return (output, aux), or drop "
                "has_aux=True")
    return f"a {type(x).__name__}" + (f" of length {len(x)}" if isinstance(x, (tuple, list))
                                      else "")


def _check_out_leaves(leaves, what, fun):
    for leaf in leaves:
        if not isinstance(leaf, (Array, Tracer, int, float, bool)) and not hasattr(leaf, "dtype"):
            raise TypeError(f"{what}: {fun_name(fun)} returned a value of type "
                            f"{type(leaf).__name__}; differentiated functions must return "
                            "arrays (or pytrees of arrays)")


def _check_tangent(what, primal, tangent, where, dtype_error=TypeError):
    """A tangent must have its primal's tangent type. As in JAX, a wrong dtype is a TypeError
    for jvp and a ValueError for the maps linearize and vjp return; a wrong shape is always
    a ValueError."""
    p_aval, t_aval = aval_of(primal), aval_of(tangent)
    expected = tangent_aval(p_aval)
    if t_aval.dtype != expected.dtype:
        hint = (" (integer and boolean primals take float0 tangents, e.g. "
                "np.zeros(shape, funcjax.dtypes.float0))" if expected.dtype == dtypes.float0
                else "")
        raise dtype_error(f"{what}: the primal and tangent {where} do not match: primal dtype "
                        f"{p_aval.dtype} needs tangent dtype {expected.dtype}{hint}, but the "
                        f"tangent has dtype {t_aval.dtype}")
    if t_aval.shape != p_aval.shape:
        raise ValueError(f"{what}: the primal and tangent {where} have different shapes: "
                         f"{p_aval.shape} and {t_aval.shape}")


def jvp(fun, primals, tangents, has_aux=False):
    """Forward mode: ``(fun(*primals), J(primals) @ tangents)`` (plus ``aux`` if has_aux)."""
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"jvp: {name} must be a tuple or list with one entry per positional "
                            f"argument of {fun_name(fun)}, got {type(value).__name__}; write "
                            f"jvp(f, (x,), (v,)) for a single argument")
    p_leaves, in_tree = tree_flatten(tuple(primals))
    abstractify_arguments(f"jvp({fun_name(fun)})", fun, primals, {}, p_leaves)
    p_leaves = _as_arrays(p_leaves)
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if t_tree != in_tree:
        raise TypeError(f"jvp: primals and tangents must have the same structure, got "
                        f"{in_tree} and {t_tree}")
    t_in = []
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        _check_tangent("jvp", p, t, f"at leaf {i}")
        t_in.append(t if _is_float(p) else Zero(tangent_aval(aval_of(p))))
    flat, box = _flat_fun(lambda *a: fun(*a), in_tree, has_aux, "jvp")
    outs, out_t = jvp_flat(flat, p_leaves, t_in, f"jvp({fun_name(fun)})")
    n = box["n_out"]
    primal_out = tree_unflatten(box["out_tree"], outs[:n])
    tangent_out = tree_unflatten(box["out_tree"], [instantiate_tangent(t) for t in out_t[:n]])
    if has_aux:
        return primal_out, tangent_out, _aux(box, outs[n:])
    return primal_out, tangent_out


def _is_float(x):
    return dtypes.is_inexact(aval_of(x).dtype)


class _LinearMap:
    """The linear map that ``linearize_flat`` staged, applied forwards (jvp) or backwards
    (transposed: vjp) to flat lists of tangents or cotangents, with argument checks."""

    def __init__(self, fun, primals, outs, linear, out_nonzero):
        self.fun, self.primals, self.outs = fun, primals, outs
        self.linear, self.out_nonzero = linear, out_nonzero

    def forward(self, tangents):
        for i, (p, t) in enumerate(zip(self.primals, tangents)):
            _check_tangent("linearize", p, t, f"at leaf {i}", ValueError)
        it = iter(eval_jaxpr(self.linear.jaxpr, self.linear.consts,
                             *[t for p, t in zip(self.primals, tangents) if _is_float(p)]))
        return [next(it) if nz else zeros_like_aval(tangent_aval(aval_of(o)))
                for o, nz in zip(self.outs, self.out_nonzero)]

    def backward(self, cts):
        for i, (o, c) in enumerate(zip(self.outs, cts)):
            _check_tangent("vjp", o, c, f"(output and cotangent at leaf {i})", ValueError)
        jaxpr = self.linear.jaxpr
        in_cts = iter(backward_pass(jaxpr, self.linear.consts,
                                    [UndefinedPrimal(v.aval) for v in jaxpr.invars],
                                    [c for c, nz in zip(cts, self.out_nonzero) if nz]))
        return [instantiate_tangent(next(in_cts)) if _is_float(p)
                else zeros_like_aval(tangent_aval(aval_of(p))) for p in self.primals]


def _linearize_tree(what, fun, primals, has_aux, backward_only=False):
    """Linearizes ``fun`` at the pytree ``primals`` (a tuple of arguments). Returns
    ``(linear_map, in_tree, out_tree, outs, aux)``; ``outs`` are the output leaves and ``aux``
    the aux pytree (None without has_aux). With ``backward_only`` (grad), eager code records a
    tape instead: its map has only ``backward``."""
    p_leaves, in_tree = tree_flatten(tuple(primals))
    abstractify_arguments(f"{what}({fun_name(fun)})", fun, primals, {}, p_leaves)
    p_leaves = _as_arrays(p_leaves)
    flat, box = _flat_fun(fun, in_tree, has_aux, what)
    if backward_only and tape.applies():
        outs, backward = tape.linearize(flat, p_leaves, f"{what}({fun_name(fun)})")
        n = box["n_out"]
        aux = _aux(box, outs[n:]) if has_aux else None
        lin = _TapeMap(lambda cts: backward(cts + [None] * (len(outs) - n)))
        return lin, in_tree, box["out_tree"], outs[:n], aux
    outs, linear, out_nonzero = linearize_flat(flat, p_leaves, f"{what}({fun_name(fun)})")
    n = box["n_out"]
    aux = _aux(box, outs[n:]) if has_aux else None
    lin = _LinearMap(fun, p_leaves, outs[:n], linear, out_nonzero[:n] + [False] * (len(outs) - n))
    return lin, in_tree, box["out_tree"], outs[:n], aux


class _TapeMap:
    """The reverse half of ``_LinearMap`` for a tape (``interpreters.tape``)."""

    def __init__(self, backward):
        self.backward = backward


def _structure_check(what, expected, got, name, error=TypeError):
    if got != expected:
        raise error(f"{what}: the {name} must have the structure {expected}, got {got}")


def linearize(fun, *primals, has_aux=False):
    """``(fun(*primals), f_jvp)`` (plus ``aux`` with has_aux), where ``f_jvp(*tangents)``
    evaluates the staged linear map: the primal work is done once, now."""
    lin, in_tree, out_tree, outs, aux = _linearize_tree("linearize", fun, primals, has_aux)

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(tangents)
        _structure_check("linearize", in_tree, t_tree, "tangents (one per primal)")
        return tree_unflatten(out_tree, lin.forward(t_leaves))
    out = tree_unflatten(out_tree, outs)
    return (out, f_jvp, aux) if has_aux else (out, f_jvp)


def vjp(fun, *primals, has_aux=False):
    """``(fun(*primals), pullback)`` (plus ``aux`` with has_aux), where ``pullback(ct)``
    returns ``ct @ J`` as a tuple with one entry per primal: linearize now, transpose when
    called."""
    lin, in_tree, out_tree, outs, aux = _linearize_tree("vjp", fun, primals, has_aux)
    pullback = Partial(_Pullback(lin, in_tree, out_tree), list(lin.linear.consts))
    out = tree_unflatten(out_tree, outs)
    return (out, pullback, aux) if has_aux else (out, pullback)


def _stand_in(aval):
    """A value of type ``aval`` that costs no memory (the pullback only reads types)."""
    return np.broadcast_to(np.zeros((), aval.dtype), aval.shape)


class _Pullback:
    """The static part of ``vjp``'s pullback. The pullback is a ``Partial`` of this and the
    residuals, so it is a pytree that can be passed into and returned from jit, as in JAX."""

    def __init__(self, lin, in_tree, out_tree):
        self.fun, self.in_tree, self.out_tree = lin.fun, in_tree, out_tree
        self.jaxpr, self.out_nonzero = lin.linear.jaxpr, lin.out_nonzero
        self.primal_avals = [aval_of(p) for p in lin.primals]
        self.out_avals = [aval_of(o) for o in lin.outs]

    def __call__(self, residuals, ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        _structure_check("vjp", self.out_tree, ct_tree,
                         f"cotangent of {fun_name(self.fun)}'s output", ValueError)
        lin = _LinearMap(self.fun, [_stand_in(a) for a in self.primal_avals],
                         [_stand_in(a) for a in self.out_avals],
                         ClosedJaxpr(self.jaxpr, residuals), self.out_nonzero)
        return tree_unflatten(self.in_tree, lin.backward(ct_leaves))

    def __repr__(self):
        return f"vjp({fun_name(self.fun)})"


def linear_transpose(fun, *primals):
    """The transpose of the linear function ``fun`` at arguments shaped like ``primals``:
    ``linear_transpose(f, x)(ct)`` returns a tuple of cotangents, one per argument."""
    p_leaves, in_tree = tree_flatten(primals)
    for i, p in enumerate(p_leaves):
        if not _is_float(p):
            raise TypeError(f"linear_transpose: {fun_name(fun)} must take floating-point "
                            f"arguments, but leaf {i} has dtype {aval_of(p).dtype}")
    flat, box = _flat_fun(fun, in_tree, False, "linear_transpose")
    closed = trace_to_jaxpr(flat, [aval_of(p).strip_weak_type() for p in p_leaves],
                            f"linear_transpose({fun_name(fun)})")

    def transposed(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        _structure_check("linear_transpose", box["out_tree"], ct_tree, "cotangent")
        for i, (c, o) in enumerate(zip(ct_leaves, closed.out_avals)):
            if not same_type(aval_of(c), o):
                raise TypeError(f"linear_transpose: the cotangent at leaf {i} must have the "
                                f"type of {fun_name(fun)}'s output, {o.str_short()}, got "
                                f"{aval_of(c).str_short()}")
        cts = backward_pass(closed.jaxpr, closed.consts,
                            [UndefinedPrimal(a) for a in closed.in_avals], ct_leaves)
        return tree_unflatten(in_tree, [instantiate_tangent(c) for c in cts])
    return transposed


def _diff_args(what, fun, args, argnums, allow_int=False):
    """Normalises argnums and checks that the differentiated leaves are floats. Returns the
    argument positions, whether argnums was one int, and the differentiated arguments."""
    nums, single = normalize_argnums(what, argnums, len(args))
    for i in nums:
        for j, leaf in enumerate(tree_flatten(args[i])[0]):
            try:
                dtype = aval_of(leaf).dtype
            except TypeError:  # not an array: say which argument, and how to fix it
                error = bad_argument_error(f"{what}({fun_name(fun)})", fun, args,
                                           positions=nums)
                if error is None:
                    raise
                raise error from None
            if not dtypes.is_inexact(dtype) and not allow_int:
                # Names only for the message: reading the signature costs more than grad.
                leaf_name = flat_argument_names([argument_names(fun, args)[i]], [args[i]])[j]
                allow = " or pass allow_int=True (its gradient is then a float0 zero)" \
                    if "grad" in what else ""
                raise TypeError(
                    f"{what}({fun_name(fun)}) can only differentiate with respect to "
                    f"floating-point inputs, but argument '{leaf_name}' (argnums={i}) has dtype "
                    f"{dtype}. Convert it with .astype(float), leave it out of argnums{allow}.")
    return nums, single, tuple(args[i] for i in nums)


def _partial_over(fun, args, kwargs, nums):
    """``fun`` as a function of the arguments at ``nums`` only (the others fixed)."""
    def partial(*diff):
        full = list(args)
        for i, d in zip(nums, diff):
            full[i] = d
        return fun(*full, **kwargs)
    partial.__name__ = fun_name(fun)
    return partial


def _check_complex(what, fun, holomorphic, leaves, side):
    """JAX's rules for complex values: with ``holomorphic=True`` every differentiated input
    (and output) must be complex; without it, jacfwd needs real inputs and grad/jacrev real
    outputs (their conjugate-convention results are only defined for real-valued maps)."""
    kinds = [aval_of(x).dtype for x in leaves]
    if holomorphic:
        bad = [d for d in kinds if not dtypes.is_complex(d)]
        if bad:
            raise TypeError(f"{what}({fun_name(fun)}, holomorphic=True) requires complex "
                            f"{side}s, but got {bad[0]}. Convert with .astype(complex) or drop "
                            "holomorphic=True.")
        return
    needs_real = (side == "input") == (what == "jacfwd")
    bad = [d for d in kinds if dtypes.is_complex(d)]
    if needs_real and bad:
        raise TypeError(f"{what}({fun_name(fun)}) requires real-valued {side}s, but got "
                        f"{bad[0]}. For holomorphic differentiation, pass holomorphic=True; "
                        "for other complex functions use vjp/jvp directly.")


def value_and_grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """A function returning ``(fun(*args), gradient)`` (``((value, aux), gradient)`` with
    has_aux) for a scalar, floating-point ``fun``; reverse mode."""
    return _value_and_grad("value_and_grad", fun, argnums, has_aux, allow_int, holomorphic)


def _value_and_grad(what, fun, argnums, has_aux, allow_int, holomorphic=False):
    check_callable(fun, what)
    lean = type(argnums) is int and argnums >= 0 and not has_aux and not holomorphic

    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        if lean and not kwargs and argnums < len(args) and type(args[argnums]) is Array and \
                args[argnums].dtype.kind == "f" and tape.applies():
            return _value_and_grad_eager(what, fun, args, argnums, holomorphic)
        nums, single, diff = _diff_args(what, fun, args, argnums, allow_int)
        _check_complex(what, fun, holomorphic, tree_flatten(diff)[0], "input")
        lin, in_tree, out_tree, outs, aux = _linearize_tree(
            what, _partial_over(fun, args, kwargs, nums), diff, has_aux, backward_only=True)
        _check_scalar_output(what, fun, outs, holomorphic)
        grads = tree_unflatten(in_tree, lin.backward([_ones_like(outs[0])]))
        value = tree_unflatten(out_tree, outs)
        return ((value, aux) if has_aux else value), (grads[0] if single else grads)
    value_and_grad_fun.__funcjax_grad__ = (fun, argnums, has_aux)  # for tools.graph
    return value_and_grad_fun


def _value_and_grad_eager(what, fun, args, argnum, holomorphic):
    """``value_and_grad`` in eager code for one float Array argument and no aux: the tape,
    without the pytree plumbing the general path needs; the output is checked as there."""
    box = []

    def flat(x):
        full = list(args)
        full[argnum] = x
        leaves, out_tree = tree_flatten(fun(*full))
        box.append(out_tree)
        _check_out_leaves(leaves, what, fun)
        return leaves
    outs, backward = tape.linearize(flat, [args[argnum]], f"{what}({fun_name(fun)})")
    _check_scalar_output(what, fun, outs, holomorphic)
    return tree_unflatten(box[0], outs), backward([_ones_like(outs[0])])[0]


def grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The gradient of a scalar, floating-point ``fun`` with respect to ``argnums`` (reverse
    mode); ``(gradient, aux)`` with has_aux."""
    value_and_grad_fun = _value_and_grad("grad", fun, argnums, has_aux, allow_int, holomorphic)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        value, g = value_and_grad_fun(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    grad_fun.__funcjax_grad__ = (fun, argnums, has_aux)  # for tools.graph
    return grad_fun


def _check_scalar_output(what, fun, leaves, holomorphic=False):
    if len(leaves) != 1:
        raise TypeError(f"{what}({fun_name(fun)}) requires a function that returns one scalar, "
                        f"but it returned a pytree with {len(leaves)} leaves. Return a single "
                        "scalar loss, or use jacrev or vjp for several outputs.")
    aval = aval_of(leaves[0])
    if aval.shape != ():
        raise TypeError(f"{what}({fun_name(fun)}) requires a scalar output, but the function "
                        f"returned an array of shape {aval.shape} ({aval.str_short()}). Reduce it "
                        "(e.g. .sum() or .mean()), or use jacrev / jacfwd for a Jacobian or vjp "
                        "for a vector-Jacobian product.")
    _check_complex(what, fun, holomorphic, leaves, "output")
    if not dtypes.is_inexact(aval.dtype):
        raise TypeError(f"{what}({fun_name(fun)}) requires a floating-point output, but the "
                        f"function returned {aval.str_short()}: integer and boolean outputs "
                        "have no gradient. Return a float (e.g. .astype(float)), or use vjp "
                        "directly.")


def _ones_like(x):
    from funcjax import lax
    if type(x) is Array:  # eager: the cotangent one, without a broadcast
        return wrap_fresh(np.ones(x.shape, x.dtype), x.aval)
    aval = aval_of(x)
    return lax.full(aval.shape, 1, aval.dtype, aval.weak_type)


# -- Jacobians -------------------------------------------------------------------------------
def _map_over_basis(fn, basis):
    """Applies ``fn`` (flat list -> flat list) to every row of the stacked ``basis`` leaves in
    one batched pass (vmap), stacking the results along a new leading axis.

    float0 rows (of integer leaves) carry no information, so they go in unmapped and come out
    as float0 zeros built here: lax cannot move float0 arrays around.
    """
    if not basis:
        return []
    n = np.shape(basis[0])[0]
    unmapped = [b.dtype == dtypes.float0 for b in basis]
    float0_shapes = []

    def row_fn(*rows):
        outs = fn(list(rows))
        float0_shapes[:] = [np.shape(o) if o.dtype == dtypes.float0 else None for o in outs]
        return [None if s is not None else o for o, s in zip(outs, float0_shapes)]

    stacked = vmap(row_fn, in_axes=tuple(None if u else 0 for u in unmapped), axis_size=n)(
        *[b[0] if u else b for b, u in zip(basis, unmapped)])
    return [o if s is None else np.zeros((n,) + s, dtypes.float0)
            for o, s in zip(stacked, float0_shapes)]


def _standard_basis(avals):
    """The one-hot vectors of the space of all leaves, as one stacked array per leaf (leaf
    ``j`` is nonzero only in its own block of rows). Integer leaves get float0 rows."""
    avals = [tangent_aval(a) for a in avals]
    total = sum(a.size for a in avals)
    leaves, offset = [], 0
    for a in avals:
        block = np.zeros((total, a.size), a.dtype)
        if a.dtype != dtypes.float0:
            block[offset:offset + a.size] = np.eye(a.size, dtype=a.dtype)
        leaves.append(block.reshape((total,) + a.shape))
        offset += a.size
    return leaves


def _blocks(stacked, row_avals, col_avals, rows_last):
    """Cuts results stacked over the flattened ``row_avals`` into one block per (row leaf,
    column leaf): ``blocks[r][c]`` has shape ``row.shape + col.shape``, or ``col.shape +
    row.shape`` if ``rows_last``, and the column leaf's dtype and weak type (as in JAX, whose
    jacfwd blocks take the output's type and jacrev blocks the input's)."""
    from funcjax import lax
    blocks, offset = [], 0
    for r in row_avals:
        row = []
        for s, c in zip(stacked, col_avals):
            if aval_of(s).dtype == dtypes.float0:
                shape = c.shape + r.shape if rows_last else r.shape + c.shape
                row.append(np.zeros(shape, dtypes.float0))
                continue
            part = lax.reshape(lax.slice_in_dim(s, offset, offset + r.size, axis=0),
                               r.shape + c.shape)
            if rows_last:
                part = lax.transpose(part, [*range(r.ndim, part.ndim), *range(r.ndim)])
            row.append(lax.convert_element_type(part, c.dtype, c.weak_type))
        blocks.append(row)
        offset += r.size
    return blocks


def _jacobian(what, fun, argnums, has_aux, holomorphic, allow_int=False, choose=None):
    """jacfwd and jacrev: linearize once, then apply the linear map (jacfwd) or its transpose
    (jacrev) to every standard basis vector of the inputs (outputs). With ``choose``, a
    function of the linear map returning "jacfwd" or "jacrev", the mode is picked after
    linearizing (``jacobian(mode="auto")``)."""
    @functools.wraps(fun)
    def jacobian_fun(*args, **kwargs):
        nums, single, diff = _diff_args(what, fun, args, argnums, allow_int)
        _check_complex(what, fun, holomorphic, tree_flatten(diff)[0], "input")
        partial = _partial_over(fun, args, kwargs, nums)
        target = partial if single else (lambda d: partial(*d))
        lin, in_tree, out_tree, outs, aux = _linearize_tree(
            what, target, (diff[0] if single else diff,), has_aux)
        _check_complex(what, fun, holomorphic, outs, "output")
        in_avals = [aval_of(p) for p in lin.primals]
        out_avals = [aval_of(o) for o in outs]
        if (choose(lin) if choose else what) == "jacfwd":
            stacked = _map_over_basis(lin.forward, _standard_basis(in_avals))
            per_out = list(zip(*_blocks(stacked, in_avals, out_avals, rows_last=True)))
        else:
            stacked = _map_over_basis(lin.backward, _standard_basis(out_avals))
            per_out = _blocks(stacked, out_avals, in_avals, rows_last=False)
        arg_tree = in_tree.children[0]
        jac = tree_unflatten(out_tree, [tree_unflatten(arg_tree, list(b)) for b in per_out]
                             if in_avals else [tree_unflatten(arg_tree, []) for _ in outs])
        return (jac, aux) if has_aux else jac
    return jacobian_fun


def jacfwd(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian by forward mode, one tangent per input element (best for few inputs).
    Leaves have shape ``out.shape + in.shape``."""
    return _jacobian("jacfwd", fun, argnums, has_aux, holomorphic)


def jacrev(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The Jacobian by reverse mode, one cotangent per output element (best for few outputs).
    Leaves have shape ``out.shape + in.shape``."""
    return _jacobian("jacrev", fun, argnums, has_aux, holomorphic, allow_int)


# -- rematerialisation -----------------------------------------------------------------------
def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=()):
    """``fun``, made to recompute its intermediate values in the backward pass instead of
    saving them; ``policy`` (see ``funcjax.checkpoint_policies``) names the ones to save."""
    from funcjax.interpreters import remat
    from funcjax.interpreters.staging import hoist_consts
    policy = remat.nothing_saveable if policy is None else policy

    @functools.wraps(fun)
    def checkpointed(*args, **kwargs):
        static, _ = normalize_argnums("checkpoint", static_argnums, len(args), "static_argnums")
        closed, in_tree, out_tree = trace_pytree_function(fun, args, kwargs, "checkpoint", static)
        jaxpr, consts = hoist_consts(closed)
        dynamic, _ = split_static(args, static)
        leaves = tree_flatten((tuple(dynamic), kwargs))[0]
        outs = remat.checkpoint_p.bind(*consts, *leaves, jaxpr=jaxpr, policy=policy,
                                       prevent_cse=prevent_cse)
        return tree_unflatten(out_tree, outs)
    return checkpointed


remat = checkpoint

