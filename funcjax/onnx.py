"""``funcjax.onnx.export(f, *args, path)``: a traced function as an ONNX model (extra ``[onnx]``).

The function is traced to a jaxpr (as ``jit`` does) and each equation becomes one or a few
ONNX nodes (opset 18); calls (``jit``, ``custom_jvp_call``, ``checkpoint``) are inlined, and
constants and literals become initializers. Indexing maps to ``GatherND``/``ScatterND`` (with
JAX's clip/fill index modes) and ``Slice``; ``cond`` to ``If``, ``while_loop`` and ``scan``
(so ``fori_loop``) to ``Loop``; ``cumsum`` to ``CumSum``, the other cumulative reductions to
a ``Loop``, and sorts to stable ``TopK`` passes. A primitive with no ONNX translation raises
``NotImplementedError`` naming it and the source line that produced it.
"""

import os

import numpy as np

from funcjax.api_jit import jit
from funcjax.core.abstract import ShapedArray
from funcjax.core.ir import Literal
from funcjax.ops.indexing import default_fill_value

try:
    import onnx
    from onnx import helper, numpy_helper
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("funcjax.onnx needs the 'onnx' package: pip install 'funcjax[onnx]'") from e

OPSET = 18

_UNARY = {"neg": "Neg", "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh", "exp": "Exp",
          "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "sign": "Sign", "floor": "Floor",
          "ceil": "Ceil", "logistic": "Sigmoid", "erf": "Erf",
          "stop_gradient": "Identity", "asin": "Asin", "acos": "Acos", "atan": "Atan",
          "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min",
           "pow": "Pow", "eq": "Equal", "lt": "Less",
           "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}
_REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin",
           "reduce_prod": "ReduceProd"}
_INLINE = ("jit", "custom_jvp_call", "custom_vjp_call", "checkpoint")


class _Graph:
    """Nodes being collected; ``sub()`` opens a subgraph (a branch or loop body) that shares
    the names and the initializers of the model (outer names are visible inside it)."""

    def __init__(self, parent=None):
        self.nodes = []
        self.root = parent.root if parent else self
        if parent is None:
            self.inits, self.count = [], 0
        else:
            self.inits = self.root.inits

    def sub(self):
        return _Graph(self)

    def fresh(self, hint="t"):
        self.root.count += 1
        return f"{hint}{self.root.count}"

    def const(self, value, dtype=None):
        name = self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op, inputs, **attrs):
        return self.nodes_out(op, inputs, 1, **attrs)[0]

    def nodes_out(self, op, inputs, n, **attrs):
        """A node with ``n`` outputs; returns their names."""
        outs = [self.fresh() for _ in range(n)]
        self.nodes.append(helper.make_node(op, inputs, outs, **attrs))
        return outs


def _int8_matmul(g, eqn, lhs, rhs):
    """An int8 x int8 -> int32 product (``funcjax.quantize``) as ``MatMulInteger`` on the
    operands laid out as ``(batch, rows, contraction)`` and ``(batch, contraction, cols)``."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    la, ra = eqn.inputs[0].aval, eqn.inputs[1].aval
    lf = [d for d in range(la.ndim) if d not in lb and d not in lc]
    rf = [d for d in range(ra.ndim) if d not in rb and d not in rc]

    def size(aval, dims):
        return int(np.prod([aval.shape[d] for d in dims]))
    a = g.node("Transpose", [lhs], perm=list(lb) + lf + list(lc))
    a = g.node("Reshape", [a, g.const([size(la, lb), size(la, lf), size(la, lc)], np.int64)])
    b = g.node("Transpose", [rhs], perm=list(rb) + list(rc) + rf)
    b = g.node("Reshape", [b, g.const([size(ra, rb), size(ra, rc), size(ra, rf)], np.int64)])
    y = g.node("MatMulInteger", [a, b])
    return g.node("Reshape", [y, g.const(eqn.outputs[0].aval.shape, np.int64)])


def _dot_general(g, eqn, lhs, rhs):
    """``dot_general`` as an ``Einsum`` (batch dims, then lhs free, then rhs free)."""
    if (eqn.inputs[0].aval.dtype == eqn.inputs[1].aval.dtype == np.int8
            and eqn.outputs[0].aval.dtype == np.int32):
        return _int8_matmul(g, eqn, lhs, rhs)
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    nl, nr = eqn.inputs[0].aval.ndim, eqn.inputs[1].aval.ndim
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls, rs = [None] * nl, [None] * nr
    for i, j in zip(lb, rb):
        ls[i] = rs[j] = next(letters)
    for i, j in zip(lc, rc):
        ls[i] = rs[j] = next(letters)
    for k in range(nl):
        ls[k] = ls[k] or next(letters)
    for k in range(nr):
        rs[k] = rs[k] or next(letters)
    out = [ls[i] for i in lb] + [ls[k] for k in range(nl) if k not in lb and k not in lc]
    out += [rs[k] for k in range(nr) if k not in rb and k not in rc]
    eq = f"{''.join(ls)},{''.join(rs)}->{''.join(out)}"
    y = g.node("Einsum", [lhs, rhs], equation=eq)
    want = eqn.outputs[0].aval.dtype
    if eqn.inputs[0].aval.dtype != want:
        y = g.node("Cast", [y], to=helper.np_dtype_to_tensor_dtype(want))
    return y


def _conv(g, eqn, lhs, rhs):
    p = eqn.params
    if any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
        raise _unsupported(eqn, "lhs_dilation/batch_group_count other than 1")
    dn = p["dimension_numbers"]
    lhs = g.node("Transpose", [lhs], perm=list(dn.lhs_spec))
    rhs = g.node("Transpose", [rhs], perm=list(dn.rhs_spec))
    pads = [lo for lo, _ in p["padding"]] + [hi for _, hi in p["padding"]]
    # int8 x int8 -> int32 (funcjax.quantize) is a ConvInteger
    op = "ConvInteger" if eqn.inputs[0].aval.dtype == np.int8 else "Conv"
    y = g.node(op, [lhs, rhs], strides=list(p["window_strides"]), pads=pads,
               dilations=list(p["rhs_dilation"]), group=p["feature_group_count"])
    perm = [0] * len(dn.out_spec)
    for i, d in enumerate(dn.out_spec):
        perm[d] = i
    return g.node("Transpose", [y], perm=perm)


def _pool_layout(eqn, shape):
    """Pooling in ONNX's layout: the axes with a trivial window move to the front and merge
    into the batch axis (with one channel), the others are spatial. Returns the permutation,
    the pooled shape and the attributes shared by MaxPool and AveragePool."""
    p = eqn.params
    if any(b != 1 for b in p["base_dilation"]):
        raise _unsupported(eqn, "base_dilation other than 1")
    trivial = [d for d in range(len(shape)) if p["window_dimensions"][d] == 1
               and p["window_strides"][d] == 1 and tuple(p["padding"][d]) == (0, 0)]
    spatial = [d for d in range(len(shape)) if d not in trivial]
    pooled = [int(np.prod([shape[d] for d in trivial])), 1] + [shape[d] for d in spatial]
    attrs = dict(kernel_shape=[p["window_dimensions"][d] for d in spatial],
                 strides=[p["window_strides"][d] for d in spatial],
                 pads=[p["padding"][d][0] for d in spatial] + [p["padding"][d][1]
                                                                for d in spatial],
                 dilations=[p["window_dilation"][d] for d in spatial])
    return trivial + spatial, pooled, attrs


def _to_pooled(g, x, perm, pooled):
    return g.node("Reshape", [g.node("Transpose", [x], perm=perm), g.const(pooled, np.int64)])


def _from_pooled(g, y, perm, shape):
    y = g.node("Reshape", [y, g.const([shape[d] for d in perm], np.int64)])
    return g.node("Transpose", [y], perm=[int(i) for i in np.argsort(perm)])


def _pool(g, eqn, x):
    """reduce_window_max/min/sum as MaxPool/AveragePool (layout: ``_pool_layout``). A min is
    -MaxPool(-x); a sum is an average that counts the padding, times the window size."""
    shape = eqn.inputs[0].aval.shape
    perm, pooled, attrs = _pool_layout(eqn, shape)
    if len(pooled) == 2:  # no spatial axis: every window is one element
        return g.node("Identity", [x])
    x = _to_pooled(g, x, perm, pooled)
    if eqn.primitive.name == "reduce_window_max":
        y = g.node("MaxPool", [x], **attrs)
    elif eqn.primitive.name == "reduce_window_min":
        y = g.node("Neg", [g.node("MaxPool", [g.node("Neg", [x])], **attrs)])
    elif any(d != 1 for d in attrs.pop("dilations")):
        raise _unsupported(eqn, "a windowed sum with window_dilation")
    else:
        y = g.node("AveragePool", [x], count_include_pad=1, **attrs)
        y = g.node("Mul", [y, g.const(np.prod(attrs["kernel_shape"]), eqn.inputs[0].aval.dtype)])
    return _from_pooled(g, y, perm, eqn.outputs[0].aval.shape)


def _pool_scatter(g, eqn, ct, x):
    """select_and_scatter_add, the transpose of max/min-pooling's derivative: MaxPool's
    second output is each window's first maximum as a flat index into its input (ONNX keeps
    the first of equal values, as funcjax does), and ScatterElements adds each window's
    cotangent there."""
    shape = eqn.inputs[1].aval.shape
    perm, pooled, attrs = _pool_layout(eqn, shape)
    if len(pooled) == 2:
        return g.node("Identity", [ct])
    x = _to_pooled(g, x, perm, pooled)
    if eqn.params["select"] == "min":
        x = g.node("Neg", [x])
    _, where = g.nodes_out("MaxPool", [x], 2, **attrs)
    flat = g.const([-1], np.int64)
    total = g.const([int(np.prod(shape))], np.int64)
    zero = helper.make_tensor("zero", helper.np_dtype_to_tensor_dtype(np.dtype(
        eqn.inputs[0].aval.dtype)), [1], [0])
    zeros = g.node("ConstantOfShape", [total], value=zero)
    cts = g.node("Reshape", [g.node("Transpose", [ct], perm=perm), flat])
    y = g.node("ScatterElements", [zeros, g.node("Reshape", [where, flat]), cts],
               axis=0, reduction="add")
    return _from_pooled(g, y, perm, shape)


def _broadcast(g, eqn, x):
    shape, dims = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    src = eqn.inputs[0].aval.shape
    mid = [1] * len(shape)
    for i, d in enumerate(dims):
        mid[d] = src[i]
    x = g.node("Reshape", [x, g.const(mid, np.int64)])
    return g.node("Expand", [x, g.const(shape, np.int64)])


def _unsupported(eqn, why="no ONNX translation"):
    where = f" (at {eqn.source_info})" if eqn.source_info else ""
    return NotImplementedError(f"funcjax.onnx.export: primitive '{eqn.primitive.name}'{where}: "
                               f"{why}; rewrite that line with supported operations")


def _eqn(g, eqn, xs):
    """The output names of one equation (a list)."""
    name, p = eqn.primitive.name, eqn.params
    aval = eqn.outputs[0].aval if eqn.outputs else None
    if name in _STRUCTURED:
        return _STRUCTURED[name](g, eqn, xs)
    if name in _UNARY:
        return [g.node(_UNARY[name], xs)]
    if name in _BINARY:
        return [g.node(_BINARY[name], xs)]
    if name == "ne":
        return [g.node("Not", [g.node("Equal", xs)])]
    if name == "rem":
        return [g.node("Mod", xs, fmod=1)]
    if name == "rsqrt":
        return [g.node("Reciprocal", [g.node("Sqrt", xs)])]
    if name in ("log1p", "expm1"):
        one = g.const(1, aval.dtype)
        return [g.node("Log", [g.node("Add", [xs[0], one])]) if name == "log1p"
                else g.node("Sub", [g.node("Exp", xs), one])]
    if name == "integer_pow":
        return [g.node("Pow", [xs[0], g.const(p["y"], aval.dtype)])]
    if name == "is_finite":
        bad = g.node("Or", [g.node("IsInf", xs), g.node("IsNaN", xs)])
        return [g.node("Not", [bad])]
    if name == "convert_element_type":
        return [g.node("Cast", xs, to=helper.np_dtype_to_tensor_dtype(aval.dtype))]
    if name == "select_n":
        if len(xs) != 3 or eqn.inputs[0].aval.dtype != np.bool_:
            raise _unsupported(eqn, "only two-way select with a boolean predicate")
        return [g.node("Where", [xs[0], xs[2], xs[1]])]
    if name in _REDUCE:
        return [g.node(_REDUCE[name], [xs[0], g.const(p["axes"], np.int64)], keepdims=0)]
    if name in ("argmax", "argmin"):  # ties: the first index, as numpy (NaNs: not handled)
        y = g.node("ArgMax" if name == "argmax" else "ArgMin", xs, axis=p["axis"], keepdims=0)
        return [g.node("Cast", [y], to=helper.np_dtype_to_tensor_dtype(aval.dtype))]
    if name == "broadcast_in_dim":
        return [_broadcast(g, eqn, xs[0])]
    if name in ("reshape", "expand_dims", "squeeze"):
        return [g.node("Reshape", [xs[0], g.const(aval.shape, np.int64)])]
    if name == "transpose":
        return [g.node("Transpose", xs, perm=list(p["permutation"]))]
    if name == "concatenate":
        return [g.node("Concat", xs, axis=p["dimension"])]
    if name == "slice":
        n = len(p["start_indices"])
        steps = p["strides"] or (1,) * n
        return [g.node("Slice", [xs[0], g.const(p["start_indices"], np.int64),
                                 g.const(p["limit_indices"], np.int64),
                                 g.const(list(range(n)), np.int64), g.const(steps, np.int64)])]
    if name == "pad":
        cfg = p["padding_config"]
        if any(i != 0 or lo < 0 or hi < 0 for lo, hi, i in cfg):
            raise _unsupported(eqn, "only non-negative edge padding")
        pads = [lo for lo, _, _ in cfg] + [hi for _, hi, _ in cfg]
        return [g.node("Pad", [xs[0], g.const(pads, np.int64), xs[1]], mode="constant")]
    if name == "iota":
        return [g.const(_iota(p, aval))]
    if name == "dot_general":
        return [_dot_general(g, eqn, *xs)]
    if name == "conv_general_dilated":
        return [_conv(g, eqn, *xs)]
    if name in ("reduce_window_max", "reduce_window_min", "reduce_window_sum"):
        return [_pool(g, eqn, *xs)]
    if name == "select_and_scatter_add":
        return [_pool_scatter(g, eqn, *xs)]
    if name in _INLINE:
        key = next(k for k in ("jaxpr", "call_jaxpr", "fun_jaxpr") if k in p)
        return _inline(g, p[key], xs)
    raise _unsupported(eqn)


def _iota(p, aval):
    dim = p.get("dimension", 0)
    shape = [1] * aval.ndim
    shape[dim] = aval.shape[dim]
    return np.broadcast_to(np.arange(aval.shape[dim], dtype=aval.dtype).reshape(shape),
                           aval.shape)


# -- indexing, scans and sorting ------------------------------------------------------------
def _i64(g, x):
    return g.node("Cast", [x], to=onnx.TensorProto.INT64)


def _vector(g, scalars):
    """Scalar index names as one int64 vector."""
    return g.node("Concat", [g.node("Reshape", [_i64(g, x), g.const([1], np.int64)])
                             for x in scalars], axis=0)


def _indexed(g, eqn, xs):
    """gather and the scatter family as GatherND/ScatterND on the operand with its indexed
    axes moved first. ``mode="clip"`` clamps the indices; ``mode="fill"`` pads each indexed
    axis with one extra slot (holding the fill value) and sends out-of-range rows there."""
    p, name = eqn.params, eqn.primitive.name
    aval = eqn.inputs[0].aval
    axes = list(p["axes"])
    if not axes or any(aval.shape[a] == 0 for a in axes):
        raise _unsupported(eqn, "no indexed axes, or an indexed axis of size 0")
    perm = axes + [d for d in range(aval.ndim) if d not in axes]
    x = g.node("Transpose", [xs[0]], perm=perm)
    idx = _i64(g, xs[1])
    sizes = np.array([aval.shape[a] for a in axes], np.int64)
    if p["mode"] == "fill":
        bad = g.node("Or", [g.node("Less", [idx, g.const(0, np.int64)]),
                            g.node("GreaterOrEqual", [idx, g.const(sizes)])])
        bad = g.node("ReduceMax", [g.node("Cast", [bad], to=onnx.TensorProto.INT32),
                                   g.const([-1], np.int64)], keepdims=1)
        idx = g.node("Where", [g.node("Cast", [bad], to=onnx.TensorProto.BOOL),
                               g.const(sizes), idx])
        fill = p.get("fill_value")
        if fill is None:
            fill = default_fill_value(aval.dtype)
        pads = [0] * aval.ndim + [1 if d < len(axes) else 0 for d in range(aval.ndim)]
        x = g.node("Pad", [x, g.const(pads, np.int64), g.const(fill, aval.dtype)])
    else:
        idx = g.node("Max", [g.node("Min", [idx, g.const(sizes - 1)]), g.const(0, np.int64)])
    if name == "gather":
        return [g.node("GatherND", [x, idx])]
    y = g.node("ScatterND", [x, idx, xs[2]], reduction=_SCATTER[name])
    if p["mode"] == "fill":
        moved = [aval.shape[d] for d in perm]
        y = g.node("Slice", [y, g.const([0] * len(axes), np.int64), g.const(moved[:len(axes)],
                                                                           np.int64),
                             g.const(list(range(len(axes))), np.int64)])
    return [g.node("Transpose", [y], perm=[int(i) for i in np.argsort(perm)])]


_SCATTER = {"scatter": "none", "scatter_add": "add", "scatter_mul": "mul",
            "scatter_min": "min", "scatter_max": "max"}


def _clamped_starts(g, starts, shape, sizes):
    """JAX's rule: each start is clamped to ``[0, dim - size]``."""
    top = np.array(shape, np.int64) - np.array(sizes, np.int64)
    v = _vector(g, starts)
    return g.node("Max", [g.node("Min", [v, g.const(top)]), g.const(0, np.int64)])


def _dynamic_slice(g, eqn, xs):
    shape, sizes = eqn.inputs[0].aval.shape, eqn.params["slice_sizes"]
    if not shape:
        return [g.node("Identity", xs[:1])]
    v = _clamped_starts(g, xs[1:], shape, sizes)
    ends = g.node("Add", [v, g.const(sizes, np.int64)])
    return [g.node("Slice", [xs[0], v, ends, g.const(list(range(len(shape))), np.int64)])]


def _dynamic_update_slice(g, eqn, xs):
    shape, upd = eqn.inputs[0].aval.shape, eqn.inputs[1].aval.shape
    if not shape or 0 in upd:
        return [g.node("Identity", xs[1:2] if not shape else xs[:1])]
    v = _clamped_starts(g, xs[2:], shape, upd)
    grid = np.moveaxis(np.indices(upd, dtype=np.int64), 0, -1)
    return [g.node("ScatterND", [xs[0], g.node("Add", [g.const(grid), v]), xs[1]])]


def _bitwise(g, eqn, xs):
    """``and``/``or``/``xor``/``not``: logical on booleans, bitwise on integers."""
    op = {"and": "And", "or": "Or", "xor": "Xor", "not": "Not"}[eqn.primitive.name]
    return [g.node(op if eqn.inputs[0].aval.dtype == np.bool_ else "Bitwise" + op, xs)]


def _round(g, eqn, xs):
    """Half to even (``Round``), or half away from zero (``rounding_method=0``)."""
    if eqn.params.get("rounding_method", 0) == 1:
        return [g.node("Round", xs)]
    half = g.const(0.5, eqn.inputs[0].aval.dtype)
    mag = g.node("Floor", [g.node("Add", [g.node("Abs", xs), half])])
    return [g.node("Mul", [g.node("Sign", xs), mag])]


def _reduce_bool(g, eqn, xs):
    """``reduce_or``/``reduce_and`` of booleans as the max/min of 0/1 integers."""
    op = "ReduceMax" if eqn.primitive.name == "reduce_or" else "ReduceMin"
    y = g.node(op, [g.node("Cast", xs, to=onnx.TensorProto.INT32),
                    g.const(eqn.params["axes"], np.int64)], keepdims=0)
    return [g.node("Cast", [y], to=onnx.TensorProto.BOOL)]


def _exp2(g, eqn, xs):
    return [g.node("Pow", [g.const(2, eqn.inputs[0].aval.dtype), xs[0]])]


def _rev(g, eqn, xs):
    dims = list(eqn.params["dimensions"])
    big = np.iinfo(np.int64).min
    return [g.node("Slice", [xs[0], g.const([-1] * len(dims), np.int64),
                             g.const([big] * len(dims), np.int64), g.const(dims, np.int64),
                             g.const([-1] * len(dims), np.int64)])]


def _cumsum(g, eqn, xs):
    axis = g.const(eqn.params["axis"], np.int64)
    return [g.node("CumSum", [xs[0], axis], reverse=int(bool(eqn.params["reverse"])))]


def _cumulative(g, eqn, xs):
    """``cumprod``/``cummax``/``cummin`` (ONNX has only CumSum) as a ``Loop`` over the axis
    (moved first): the carry starts at the operation's identity, and each trip's running
    value is both the next carry and that row of the result."""
    aval, p = eqn.inputs[0].aval, eqn.params
    d, n = p["axis"], aval.shape[p["axis"]]
    if n == 0:
        return [g.node("Identity", xs)]
    name, dt = eqn.primitive.name, aval.dtype
    boolean = dt == np.bool_
    op = {"cumprod": "And" if boolean else "Mul", "cummax": "Or" if boolean else "Max",
          "cummin": "And" if boolean else "Min"}[name]
    if name == "cumprod" or boolean:
        start = name != "cummax"
    else:
        info = np.finfo(dt) if dt.kind == "f" else np.iinfo(dt)
        start = (-np.inf if dt.kind == "f" else info.min) if name == "cummax" else \
            (np.inf if dt.kind == "f" else info.max)
    perm = [d] + [k for k in range(aval.ndim) if k != d]
    moved = g.node("Transpose", xs, perm=perm)
    row_aval = ShapedArray(tuple(aval.shape[k] for k in perm[1:]), dt)
    names = [g.fresh("i"), g.fresh("go"), g.fresh("carry")]
    sub = g.sub()
    t = sub.node("Sub", [g.const(n - 1, np.int64), names[0]]) if p["reverse"] else names[0]
    new = sub.node(op, [names[2], sub.node("Gather", [moved, t], axis=0)])
    body = _subgraph(sub, [names[1], new, new], [_SCALAR_BOOL, row_aval, row_aval],
                     _loop_inputs(names, [row_aval]), "cumulative")
    init = g.const(np.full(row_aval.shape, start, dt))
    ys = g.nodes_out("Loop", [g.const(n, np.int64), g.const(True, np.bool_), init], 2,
                     body=body)[1]
    if p["reverse"]:
        ys = _reversed_rows(g, ys)
    return [g.node("Transpose", [ys], perm=[int(k) for k in np.argsort(perm)])]


def _reversed_rows(g, x):
    big = np.iinfo(np.int64).min
    return g.node("Slice", [x, g.const([-1], np.int64), g.const([big], np.int64),
                            g.const([0], np.int64), g.const([-1], np.int64)])


def _sort(g, eqn, xs):
    """``sort`` by ``num_keys`` keys as stable ``TopK`` passes (smallest first, ties by index),
    from the last key to the first, composing the permutations; every operand then follows
    the final permutation through ``GatherElements``."""
    p = eqn.params
    d = p["dimension"]
    n = eqn.inputs[0].aval.shape[d]
    perm = None
    for key in reversed(xs[:p["num_keys"]]):
        if perm is not None:
            key = g.node("GatherElements", [key, perm], axis=d)
        order = g.nodes_out("TopK", [key, g.const([n], np.int64)], 2, axis=d, largest=0,
                            sorted=1)[1]
        perm = order if perm is None else g.node("GatherElements", [perm, order], axis=d)
    return [g.node("GatherElements", [x, perm], axis=d) for x in xs]


def _closed(sub):
    jaxpr = getattr(sub, "jaxpr", sub)
    return jaxpr, [np.asarray(c, v.aval.dtype)
                   for c, v in zip(getattr(sub, "consts", []), jaxpr.constvars)]


def _inline(g, closed, args):
    """A closed jaxpr's nodes added to ``g``; returns the output names."""
    jaxpr, consts = _closed(closed)
    return _jaxpr(g, jaxpr, [g.const(c) for c in consts] + list(args))


def _subgraph(sub, outs, avals, inputs=(), hint="body"):
    """The graph of the nodes collected in ``sub`` with outputs ``outs`` (each copied to a
    name of its own, as ONNX wants) and formal ``inputs``: ``(name, aval)`` pairs."""
    finals = []
    for name in outs:
        finals.append(sub.fresh("o"))
        sub.nodes.append(helper.make_node("Identity", [name], [finals[-1]]))
    return helper.make_graph(sub.nodes, sub.fresh(hint), [_value_info(n, a) for n, a in inputs],
                             [_value_info(f, a) for f, a in zip(finals, avals)])


def _loop_inputs(names, avals):
    """A Loop body's formal inputs: the trip number, the condition, the carried values."""
    it, go = names[0], names[1]
    return [(it, _SCALAR_I64), (go, _SCALAR_BOOL)] + list(zip(names[2:], avals))


def _cond(g, eqn, xs):
    """``cond`` as nested ``If`` nodes (the index is clamped into range, as JAX does)."""
    branches = eqn.params["branches"]
    idx = g.node("Cast", [xs[0]], to=onnx.TensorProto.INT64)
    n = len(branches)
    idx = g.node("Max", [g.node("Min", [idx, g.const(n - 1, np.int64)]), g.const(0, np.int64)])
    return _branch_from(g, branches, 0, idx, xs[1:], len(eqn.outputs))


def _branch_from(g, branches, k, idx, ops, n_out):
    """Branch ``k`` if ``idx == k``, else the later ones (the last one inlined)."""
    if k == len(branches) - 1:
        return _inline(g, branches[k], ops)
    avals = [v.aval for v in _closed(branches[k])[0].outvars]
    then, other = g.sub(), g.sub()
    then_graph = _subgraph(then, _inline(then, branches[k], ops), avals, hint="then")
    else_graph = _subgraph(other, _branch_from(other, branches, k + 1, idx, ops, n_out), avals,
                           hint="else")
    is_k = g.node("Equal", [idx, g.const(k, np.int64)])
    return g.nodes_out("If", [is_k], n_out, then_branch=then_graph, else_branch=else_graph)


_SCALAR_I64 = ShapedArray((), np.dtype(np.int64))
_SCALAR_BOOL = ShapedArray((), np.dtype(np.bool_))


def _while(g, eqn, xs):
    """``while_loop`` as a ``Loop`` with no trip count: the condition on the initial carry
    is computed outside, the body computes the next carry and its condition."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cc, bc, init = xs[:nc], xs[nc:nc + nb], xs[nc + nb:]
    first = _inline(g, p["cond_jaxpr"], cc + init)[0]
    avals = [v.aval for v in eqn.outputs]
    names = [g.fresh("i"), g.fresh("go")] + [g.fresh("carry") for _ in init]
    sub = g.sub()
    new = _inline(sub, p["body_jaxpr"], bc + names[2:])
    again = _inline(sub, p["cond_jaxpr"], cc + new)[0]
    body = _subgraph(sub, [again] + new, [_SCALAR_BOOL] + avals, _loop_inputs(names, avals),
                     "while")
    return g.nodes_out("Loop", ["", first] + list(init), len(init), body=body)


def _scan(g, eqn, xs):
    """``scan`` as a ``Loop`` of ``length`` trips: each trip reads row ``i`` (or
    ``length - 1 - i`` in reverse) of every scanned input with ``Gather``; the per-trip
    outputs are the Loop's scan outputs (reversed afterwards for a reverse scan)."""
    p = eqn.params
    length, nconst, ncarry = p["length"], p["num_consts"], p["num_carry"]
    if length == 0:
        raise _unsupported(eqn, "a scan of length 0")
    consts, init, seqs = xs[:nconst], xs[nconst:nconst + ncarry], xs[nconst + ncarry:]
    out_avals = [v.aval for v in eqn.outputs]
    carry_avals, ys_avals = out_avals[:ncarry], out_avals[ncarry:]
    names = [g.fresh("i"), g.fresh("go")] + [g.fresh("carry") for _ in init]
    it = names[0]
    sub = g.sub()
    row = sub.node("Sub", [g.const(length - 1, np.int64), it]) if p["reverse"] else it
    rows = [sub.node("Gather", [s, row], axis=0) for s in seqs]
    new = _inline(sub, p["jaxpr"], consts + names[2:] + rows)
    ys_step = [ShapedArray(a.shape[1:], a.dtype) for a in ys_avals]
    body = _subgraph(sub, [names[1]] + new, [_SCALAR_BOOL] + carry_avals + ys_step,
                     _loop_inputs(names, carry_avals), "scan")
    res = g.nodes_out("Loop", [g.const(length, np.int64), g.const(True, np.bool_)] + init,
                      len(out_avals), body=body)
    if p["reverse"]:
        res[ncarry:] = [_reversed_rows(g, y) for y in res[ncarry:]]
    return res


_STRUCTURED = {"gather": _indexed, **{k: _indexed for k in _SCATTER},
               "dynamic_slice": _dynamic_slice, "dynamic_update_slice": _dynamic_update_slice,
               "and": _bitwise, "or": _bitwise, "xor": _bitwise, "not": _bitwise,
               "round": _round, "reduce_or": _reduce_bool, "reduce_and": _reduce_bool,
               "exp2": _exp2, "rev": _rev, "cumsum": _cumsum, "cumprod": _cumulative,
               "cummax": _cumulative, "cummin": _cumulative, "sort": _sort, "cond": _cond,
               "while": _while, "scan": _scan}


def _jaxpr(g, jaxpr, args):
    env = dict(zip(jaxpr.constvars + jaxpr.invars, args))

    def read(a):
        return g.const(a.val, a.aval.dtype) if isinstance(a, Literal) else env[a]
    for eqn in jaxpr.eqns:
        outs = _eqn(g, eqn, [read(a) for a in eqn.inputs])
        env.update(zip(eqn.outputs, outs))
    return [read(a) for a in jaxpr.outvars]


def _value_info(name, aval):
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(aval.dtype),
                                         list(aval.shape))


def export(f, *args, path=None):
    """The ONNX ``ModelProto`` of ``f`` traced at ``args`` (arrays or ``ShapeDtypeStruct``s);
    saved to ``path`` when given (also accepted as the last positional argument). Graph
    inputs are the flattened argument leaves ``x0, x1, ...``, outputs ``y0, y1, ...``."""
    if path is None and args and isinstance(args[-1], (str, os.PathLike)):
        path, args = args[-1], args[:-1]
    entry = jit(f).lower(*args)._entry
    closed, n = entry.closed, len(entry.consts)
    g = _Graph()
    # closed-over constants in funcjax's dtype (a float64 array is float32 unless x64 is on)
    consts = [g.const(np.asarray(c), a.dtype) for c, a in zip(entry.consts, closed.in_avals)]
    in_avals = closed.in_avals[n:]
    names = [f"x{k}" for k in range(len(in_avals))]
    outs = _jaxpr(g, closed.jaxpr, consts + names)
    out_names = []
    for k, o in enumerate(outs):
        out_names.append(f"y{k}")
        g.nodes.append(helper.make_node("Identity", [o], [f"y{k}"]))
    graph = helper.make_graph(g.nodes, entry.name, [_value_info(a, v) for a, v in
                                                    zip(names, in_avals)],
                              [_value_info(o, v) for o, v in zip(out_names, closed.out_avals)],
                              g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="funcjax")
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
