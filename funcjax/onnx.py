"""``funcjax.onnx.export(f, *args, path)``: a traced function as an ONNX model (extra ``[onnx]``).

The function is traced to a jaxpr (as ``jit`` does) and each equation becomes one or a few
ONNX nodes (opset 18); calls (``jit``, ``custom_jvp_call``, ``checkpoint``) are inlined, and
constants and literals become initializers. A primitive with no ONNX translation raises
``NotImplementedError`` naming it and the source line that produced it.
"""

import os

import numpy as np

from funcjax.api_jit import jit
from funcjax.core.ir import Literal

try:
    import onnx
    from onnx import helper, numpy_helper
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("funcjax.onnx needs the 'onnx' package: pip install 'funcjax[onnx]'") from e

OPSET = 18

_UNARY = {"neg": "Neg", "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh", "exp": "Exp",
          "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "sign": "Sign", "floor": "Floor",
          "ceil": "Ceil", "logistic": "Sigmoid", "erf": "Erf", "not": "Not",
          "stop_gradient": "Identity", "asin": "Asin", "acos": "Acos", "atan": "Atan",
          "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh", "acosh": "Acosh", "atanh": "Atanh"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min",
           "pow": "Pow", "and": "And", "or": "Or", "xor": "Xor", "eq": "Equal", "lt": "Less",
           "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}
_REDUCE = {"reduce_sum": "ReduceSum", "reduce_max": "ReduceMax", "reduce_min": "ReduceMin",
           "reduce_prod": "ReduceProd"}
_INLINE = ("jit", "custom_jvp_call", "custom_vjp_call", "checkpoint")


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def fresh(self, hint="t"):
        self.count += 1
        return f"{hint}{self.count}"

    def const(self, value, dtype=None):
        name = self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.fresh()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out


def _dot_general(g, eqn, lhs, rhs):
    """``dot_general`` as an ``Einsum`` (batch dims, then lhs free, then rhs free)."""
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
    y = g.node("Conv", [lhs, rhs], strides=list(p["window_strides"]), pads=pads,
               dilations=list(p["rhs_dilation"]), group=p["feature_group_count"])
    perm = [0] * len(dn.out_spec)
    for i, d in enumerate(dn.out_spec):
        perm[d] = i
    return g.node("Transpose", [y], perm=perm)


def _pool(g, eqn, x):
    """reduce_window_max/min/sum as MaxPool/AveragePool: the axes with a trivial window move
    to the front and merge into ONNX's batch axis (with one channel), the others are spatial.
    A min is -MaxPool(-x); a sum is an average that counts the padding, times the window
    size."""
    p, shape = eqn.params, eqn.inputs[0].aval.shape
    if any(b != 1 for b in p["base_dilation"]):
        raise _unsupported(eqn, "base_dilation other than 1")
    trivial = [d for d in range(len(shape)) if p["window_dimensions"][d] == 1
               and p["window_strides"][d] == 1 and tuple(p["padding"][d]) == (0, 0)]
    spatial = [d for d in range(len(shape)) if d not in trivial]
    if not spatial:
        return g.node("Identity", [x])
    perm = trivial + spatial
    x = g.node("Transpose", [x], perm=perm)
    batch = int(np.prod([shape[d] for d in trivial]))
    x = g.node("Reshape", [x, g.const([batch, 1] + [shape[d] for d in spatial], np.int64)])
    attrs = dict(kernel_shape=[p["window_dimensions"][d] for d in spatial],
                 strides=[p["window_strides"][d] for d in spatial],
                 pads=[p["padding"][d][0] for d in spatial] + [p["padding"][d][1]
                                                                for d in spatial])
    dil = [p["window_dilation"][d] for d in spatial]
    if eqn.primitive.name == "reduce_window_max":
        y = g.node("MaxPool", [x], dilations=dil, **attrs)
    elif eqn.primitive.name == "reduce_window_min":
        y = g.node("Neg", [g.node("MaxPool", [g.node("Neg", [x])], dilations=dil, **attrs)])
    elif any(d != 1 for d in dil):
        raise _unsupported(eqn, "a windowed sum with window_dilation")
    else:
        y = g.node("AveragePool", [x], count_include_pad=1, **attrs)
        y = g.node("Mul", [y, g.const(np.prod(attrs["kernel_shape"]), eqn.inputs[0].aval.dtype)])
    out = eqn.outputs[0].aval.shape
    y = g.node("Reshape", [y, g.const([out[d] for d in perm], np.int64)])
    return g.node("Transpose", [y], perm=[int(i) for i in np.argsort(perm)])


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
    if name in _INLINE:
        key = next(k for k in ("jaxpr", "call_jaxpr", "fun_jaxpr") if k in p)
        sub = p[key]
        consts = [g.const(c) for c in getattr(sub, "consts", [])]
        return _jaxpr(g, getattr(sub, "jaxpr", sub), consts + list(xs))
    raise _unsupported(eqn)


def _iota(p, aval):
    dim = p.get("dimension", 0)
    shape = [1] * aval.ndim
    shape[dim] = aval.shape[dim]
    return np.broadcast_to(np.arange(aval.shape[dim], dtype=aval.dtype).reshape(shape),
                           aval.shape)


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
    consts = [g.const(np.asarray(c)) for c in entry.consts]
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
