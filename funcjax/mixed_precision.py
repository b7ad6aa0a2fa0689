"""Mixed precision: float32 master parameters, float16 compute, float32 accumulation, and
loss scaling so that small float16 gradients do not flush to zero.

The recipe (Micikevicius et al., "Mixed Precision Training", ICLR 2018):

* keep the parameters in float32 and cast a float16 copy for each step (``Policy``);
* run matmuls and reductions with float32 accumulators (``matmul``, ``sum``, ``mean``)
  and compute the loss in float32 (``Policy.cast_to_output``);
* multiply the loss by a scale before differentiating and divide the gradients after
  (``StaticLossScale``, ``DynamicLossScale``); the dynamic scale halves on a non-finite
  gradient, whose step is then skipped (``all_finite`` + ``select_tree``), and doubles after
  ``period`` finite steps.

Everything is a pure function of pytrees, so a whole training step can be ``jit``-ed.
"""

from typing import NamedTuple

import numpy as np

import funcjax.numpy as jnp
from funcjax.core import dtypes
from funcjax.core.pytree import register_pytree_node, tree_leaves, tree_map

__all__ = ["DynamicLossScale", "NoOpLossScale", "Policy", "StaticLossScale", "all_finite",
           "get_policy", "matmul", "mean", "select_tree", "sum"]

_NAMES = {"float16": dtypes.float16, "f16": dtypes.float16, "half": dtypes.float16,
          "float32": dtypes.float32, "f32": dtypes.float32, "full": dtypes.float32,
          "float64": dtypes.float64, "f64": dtypes.float64}


def _cast_floats(tree, dtype):
    """Casts the floating-point leaves of ``tree`` to ``dtype``; other leaves stay."""
    def cast(x):
        return x.astype(dtype) if dtypes.is_float(jnp.result_type(x)) else x
    return tree_map(cast, tree)


class Policy(NamedTuple):
    """Which dtype parameters are stored in, computed in, and returned in."""
    param_dtype: np.dtype
    compute_dtype: np.dtype
    output_dtype: np.dtype

    def cast_to_param(self, tree):
        return _cast_floats(tree, self.param_dtype)

    def cast_to_compute(self, tree):
        return _cast_floats(tree, self.compute_dtype)

    def cast_to_output(self, tree):
        return _cast_floats(tree, self.output_dtype)


def get_policy(spec):
    """A policy from ``"params=float32,compute=float16,output=float32"`` (missing entries are
    float32; ``"c=f16"`` style abbreviations work too)."""
    fields = {"params": dtypes.float32, "compute": dtypes.float32, "output": dtypes.float32}
    short = {"p": "params", "c": "compute", "o": "output", "param": "params"}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, value = item.partition("=")
        name = short.get(name.strip(), name.strip())
        if name not in fields or value.strip() not in _NAMES:
            raise ValueError(f"get_policy: cannot parse {item!r} in {spec!r}; write e.g. "
                             "'params=float32,compute=float16,output=float32'")
        fields[name] = _NAMES[value.strip()]
    return Policy(fields["params"], fields["compute"], fields["output"])


# -- float32 accumulation --------------------------------------------------------------------
def matmul(a, b):
    """``a @ b`` accumulated in float32 and rounded once to the operands' dtype.

    funcjax's float16 ``dot_general`` already accumulates in float32 (numpy's half-precision
    dot does, and the LLVM backend computes float16 in float32 registers), so this is a plain
    matmul that writes no float32 copy of its operands or result; tests pin the accuracy."""
    return jnp.matmul(a, b)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    """A sum accumulated in (at least) float32, returned in float32."""
    x = jnp.asarray(x)
    return jnp.sum(x.astype(jnp.promote_types(x.dtype, dtypes.float32)), axis,
                   keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    x = jnp.asarray(x)
    return jnp.mean(x.astype(jnp.promote_types(x.dtype, dtypes.float32)), axis,
                    keepdims=keepdims)


# -- loss scaling ----------------------------------------------------------------------------
def all_finite(tree):
    """A boolean scalar: every floating leaf of ``tree`` is free of inf and NaN."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in tree_leaves(tree)
              if dtypes.is_float(jnp.result_type(x))]
    out = jnp.asarray(True)
    for leaf in leaves:
        out = out & leaf
    return out


def select_tree(pred, on_true, on_false):
    """``on_true`` where the scalar ``pred`` holds, else ``on_false``, leaf by leaf (to skip
    an optimiser step without a Python branch, so it works under jit)."""
    return tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class NoOpLossScale:
    """No scaling (for float32 or bfloat16 training)."""
    loss_scale = 1.0

    def scale(self, tree):
        return tree

    def unscale(self, tree):
        return tree

    def adjust(self, grads_finite):
        return self


class StaticLossScale:
    """A constant scale: the loss is multiplied by it, the gradients divided by it."""

    def __init__(self, loss_scale):
        self.loss_scale = jnp.asarray(loss_scale, dtypes.float32)

    def scale(self, tree):
        return tree_map(lambda x: x * self.loss_scale.astype(jnp.result_type(x)), tree)

    def unscale(self, tree):
        inv = 1.0 / self.loss_scale
        return tree_map(lambda x: x * inv.astype(jnp.result_type(x)), tree)

    def adjust(self, grads_finite):
        return self


class DynamicLossScale(StaticLossScale):
    """A scale that halves (down to ``min_loss_scale``) when gradients overflow and doubles
    after ``period`` finite steps in a row. It is a pytree, so it can be jit-ed."""

    def __init__(self, loss_scale=2.0 ** 15, counter=0, period=2000, factor=2,
                 min_loss_scale=1.0):
        super().__init__(loss_scale)
        self.counter = jnp.asarray(counter, dtypes.int32)
        self.period, self.factor, self.min_loss_scale = int(period), factor, min_loss_scale

    def adjust(self, grads_finite):
        """The scale for the next step, given whether this step's gradients were finite."""
        grows = grads_finite & (self.counter == self.period - 1)
        scale = jnp.where(grows, self.loss_scale * self.factor,
                          jnp.where(grads_finite, self.loss_scale,
                                    jnp.maximum(self.loss_scale / self.factor,
                                                self.min_loss_scale)))
        counter = jnp.where(grads_finite & ~grows, self.counter + 1, 0)
        return DynamicLossScale(scale, counter, self.period, self.factor, self.min_loss_scale)

    def __repr__(self):
        return f"DynamicLossScale(loss_scale={self.loss_scale}, counter={self.counter})"


def _rebuild(cls, names, aux_names):
    """Unflattening sets the leaves as they are (they may be tracers or placeholders)."""
    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(names + aux_names, tuple(children) + tuple(aux)):
            setattr(obj, name, value)
        return obj
    return unflatten


_DYNAMIC_AUX = ("period", "factor", "min_loss_scale")
register_pytree_node(
    DynamicLossScale,
    lambda s: ((s.loss_scale, s.counter), tuple(getattr(s, n) for n in _DYNAMIC_AUX)),
    _rebuild(DynamicLossScale, ("loss_scale", "counter"), _DYNAMIC_AUX))
register_pytree_node(StaticLossScale, lambda s: ((s.loss_scale,), ()),
                     _rebuild(StaticLossScale, ("loss_scale",), ()))
register_pytree_node(NoOpLossScale, lambda s: ((), None), lambda aux, children: NoOpLossScale())
