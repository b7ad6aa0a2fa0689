"""``funcjax.quantize``: int8 post-training quantization of an inference function.

``q = quantize(f, params, calibration_x)`` traces ``f(params, x)`` and finds each matrix
product whose right operand is a 2-D float weight of ``params``, and each convolution whose
kernel is one. Those weights are stored as int8 with one symmetric scale per output channel
(``max |w| / 127``); the left operand is quantized per tensor with a scale from its largest
magnitude over the calibration data. The product then runs int8 x int8 with int32
accumulation in the generated code (``preferred_element_type=int32``; the blocked kernel of
``backend/llvm/lower_int8_dot.py``, convolutions through im2col), and is dequantized by
``scale_x * scale_w``. Every other equation runs as before, in float. ``q(x)`` is jitted;
``q.report(x, labels)`` compares size and accuracy against the float function.
"""

import numpy as np

from funcjax import numpy as jnp
from funcjax.api import make_jaxpr
from funcjax.api_jit import jit
from funcjax.core.array import to_numpy
from funcjax.core.ir import Literal
from funcjax.core.pytree import tree_flatten, tree_unflatten


def _weight_axis(eqn, weights):
    """The output-channel axis of the weight this product (``dot_general`` by a 2-D weight,
    or ``conv_general_dilated`` by a kernel) multiplies by, or None."""
    name = eqn.primitive.name
    if name not in ("dot_general", "conv_general_dilated") or len(eqn.inputs) != 2:
        return None
    rhs = eqn.inputs[1]
    if isinstance(rhs, Literal) or rhs not in weights or eqn.inputs[0].aval.dtype.kind != "f":
        return None
    if name == "conv_general_dilated":
        p = eqn.params
        if p["feature_group_count"] != 1 or p["batch_group_count"] != 1:
            return None
        return p["dimension_numbers"].rhs_spec[0]
    (_, rc), (lb, _) = eqn.params["dimension_numbers"]
    if lb or rhs.aval.ndim != 2 or rc not in ((0,), (1,)):
        return None
    return 1 - rc[0]


def quantize_weight(w, axis):
    """``(int8 values, float32 scales)`` with one symmetric scale per index of ``axis``."""
    w = np.asarray(w, np.float32)
    other = tuple(d for d in range(w.ndim) if d != axis)
    scale = np.max(np.abs(w), axis=other, keepdims=True) / 127.0
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, scale.reshape(-1)


class QuantizedFunction:
    """The int8 version of ``f(params, x)``; call it with ``x``."""

    def __init__(self, f, params, calibration_x):
        self.f, self.params = f, params
        leaves, self._tree = tree_flatten(params)
        # As funcjax sees them (float64 becomes float32 unless x64 is on)
        self._leaves = [to_numpy(jnp.asarray(v)) for v in leaves]
        self._n = len(leaves)
        self._traces = {}
        closed, sites = self._analyse(calibration_x)
        if not sites:
            raise ValueError("quantize: f(params, x) has no matrix product by a 2-D float "
                             "weight of params and no convolution by a kernel of params; "
                             "nothing to quantize")
        self.qweights = {k: quantize_weight(self._leaves[k], axis) for k, axis in sites.values()}
        # Parameters read anywhere but as a quantized weight stay float as well.
        invars = closed.jaxpr.invars[:self._n]
        elsewhere = {a for i, e in enumerate(closed.jaxpr.eqns) for j, a in enumerate(e.inputs)
                     if not (i in sites and j == 1)} | set(closed.jaxpr.outvars)
        self._float_rest = {k: v for k, v in enumerate(self._leaves)
                            if k not in self.qweights or invars[k] in elsewhere}
        self.act_scales = self._calibrate(calibration_x)
        self._run = jit(self._quantized)

    def _analyse(self, x):
        """The jaxpr of ``f(params, x)`` for ``x``'s type, and its quantizable products:
        ``{eqn index: (weight leaf index, channel axis)}`` (in program order)."""
        key = tuple((np.shape(v), np.result_type(v)) for v in tree_flatten(x)[0])
        if key not in self._traces:
            closed = make_jaxpr(lambda ls, x: self.f(tree_unflatten(self._tree, ls), x))(
                self._leaves, x)
            weights = {v: k for k, v in enumerate(closed.jaxpr.invars[:self._n])
                       if v.aval.ndim >= 2 and v.aval.dtype.kind == "f"}
            sites = {}
            for i, eqn in enumerate(closed.jaxpr.eqns):
                axis = _weight_axis(eqn, weights)
                if axis is not None:
                    sites[i] = (weights[eqn.inputs[1]], axis)
            self._traces[key] = closed, sites
        return self._traces[key]

    def _interpret(self, x, site_rule, float_weights=False):
        closed, sites = self._analyse(x)
        jaxpr = closed.jaxpr
        env = dict(zip(jaxpr.constvars, closed.consts))
        env.update(zip(jaxpr.invars[self._n:], tree_flatten(x)[0]))
        for k, v in enumerate(jaxpr.invars[:self._n]):
            if float_weights or k in self._float_rest:
                env[v] = self._leaves[k]

        def read(a):
            return a.val if isinstance(a, Literal) else env.get(a)
        for i, eqn in enumerate(jaxpr.eqns):
            args = [read(a) for a in eqn.inputs]
            if i in sites:
                k, axis = sites[i]
                outs = [site_rule(list(sites).index(i), eqn, args[0], k, axis)]
            else:
                outs = eqn.primitive.bind(*args, **eqn.params)
                outs = outs if eqn.primitive.multiple_results else [outs]
            env.update(zip(eqn.outputs, outs))
        return [read(a) for a in jaxpr.outvars]

    def _calibrate(self, x):
        seen = {}

        def record(site, eqn, lhs, k, axis):
            seen[site] = max(float(np.max(np.abs(np.asarray(lhs)))), 1e-12)
            return eqn.primitive.bind(lhs, self._leaves[k], **eqn.params)
        self._interpret(x, record, float_weights=True)
        return [np.float32(seen[s] / 127.0) for s in sorted(seen)]

    def _quantized(self, x):
        def int8_product(site, eqn, lhs, k, axis):
            q, scale = self.qweights[k]
            s = self.act_scales[site]
            qx = jnp.clip(jnp.round(lhs / s), -127, 127).astype(jnp.int8)
            params = dict(eqn.params, preferred_element_type=np.dtype(np.int32))
            acc = eqn.primitive.bind(qx, q, **params)
            out = eqn.outputs[0].aval
            # the output-channel axis of the result: last for a product, out_spec[1] for a conv
            ch = out.ndim - 1 if eqn.primitive.name == "dot_general" else \
                eqn.params["dimension_numbers"].out_spec[1]
            shape = [1] * out.ndim
            shape[ch] = -1
            return acc.astype(out.dtype) * (scale * s).reshape(shape)
        return self._interpret(x, int8_product)

    def __call__(self, x):
        outs = self._run(x)
        return outs[0] if len(outs) == 1 else outs

    def nbytes(self):
        """``(float32 bytes, quantized bytes)`` of the parameters."""
        before = sum(v.nbytes for v in self._leaves)
        after = sum(q.nbytes + s.nbytes for q, s in self.qweights.values())
        after += sum(v.nbytes for v in self._float_rest.values())
        return before, after + 4 * len(self.act_scales)

    def report(self, x, labels):
        """Size and top-1 accuracy of the float and the int8 function on ``(x, labels)``."""
        before, after = self.nbytes()
        acc_f = float(np.mean(np.argmax(np.asarray(self.f(self.params, x)), -1) == labels))
        acc_q = float(np.mean(np.argmax(np.asarray(self(x)), -1) == labels))
        return {"float32_bytes": before, "int8_bytes": after, "size_ratio": before / after,
                "float32_accuracy": acc_f, "int8_accuracy": acc_q,
                "quantized_products": len(self.act_scales)}


def quantize(f, params, calibration_x):
    """The int8 ``QuantizedFunction`` of ``f(params, x)`` calibrated on ``calibration_x``."""
    return QuantizedFunction(f, params, calibration_x)
