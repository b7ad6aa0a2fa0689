"""``funcjax.nn``: activation functions and softmax-style reductions with JAX's names.

Each is written for stable values *and* derivatives once autodiff runs over it: branches use
``where`` with both sides finite, and the max subtracted in softmax/logsumexp goes through
``stop_gradient`` (the result does not depend on it, so its derivative must not either).
"""

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax
from funcjax.core import dtypes
from funcjax.core.namespace import public_dir
from funcjax.numpy._util import canonical_axes, canonical_axis, promote_args_inexact

__all__ = ["relu", "relu6", "sigmoid", "log_sigmoid", "silu", "swish", "softplus", "elu",
           "celu", "selu", "leaky_relu", "gelu", "hard_tanh", "hard_sigmoid", "hard_silu",
           "hard_swish", "soft_sign", "glu", "softmax", "log_softmax", "logsumexp",
           "one_hot", "standardize", "tanh", "identity", "mish", "squareplus", "log1mexp",
           "logmeanexp", "sparse_plus", "sparse_sigmoid", "dot_product_attention",
           "initializers"]


def _inexact(x):
    (x,) = promote_args_inexact("nn", x)
    return x


def relu(x):
    """``max(x, 0)`` with derivative 0 at 0 (NaN passes through)."""
    x = jnp.asarray(x)
    return jnp.where(x <= 0, jnp.zeros_like(x), x)


def relu6(x):
    """``min(max(x, 0), 6)`` with derivative 0 at both kinks."""
    x = relu(x)
    return jnp.where(x >= 6, jnp.full_like(x, 6), x)


def sigmoid(x):
    return lax.logistic(_inexact(x))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, finite for large negative ``x``."""
    return jnp.negative(softplus(jnp.negative(_inexact(x))))


def silu(x):
    x = _inexact(x)
    return jnp.multiply(x, sigmoid(x))


swish = silu


def softplus(x):
    """``log(1 + exp(x))`` computed as ``logaddexp(x, 0)`` so it never overflows."""
    return jnp.logaddexp(_inexact(x), 0)


def _negative_part(x, fn):
    """``fn`` applied where ``x <= 0`` only; elsewhere ``fn`` sees 0, so no overflow leaks
    into the derivative through the unused branch."""
    safe = jnp.where(x > 0, jnp.zeros_like(x), x)
    return jnp.where(x > 0, x, fn(safe))


def elu(x, alpha=1.0):
    x = _inexact(x)
    return _negative_part(x, lambda s: jnp.multiply(alpha, jnp.expm1(s)))


def celu(x, alpha=1.0):
    x = _inexact(x)
    return _negative_part(x, lambda s: jnp.multiply(alpha, jnp.expm1(jnp.true_divide(s, alpha))))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    return jnp.multiply(_SELU_SCALE, elu(x, _SELU_ALPHA))


def leaky_relu(x, negative_slope=0.01):
    x = _inexact(x)
    return jnp.where(x >= 0, x, jnp.multiply(negative_slope, x))


def gelu(x, approximate=True):
    """Gaussian error linear unit: the tanh approximation by default, exact via erf."""
    x = _inexact(x)
    if approximate:
        c = float(np.sqrt(2 / np.pi))
        inner = jnp.multiply(c, jnp.add(x, jnp.multiply(0.044715, jnp.power(x, 3))))
        return jnp.multiply(jnp.multiply(0.5, x), jnp.add(1, jnp.tanh(inner)))
    erf = lax.erf(jnp.multiply(x, float(1 / np.sqrt(2))))
    return jnp.multiply(jnp.multiply(0.5, x), jnp.add(1, erf))


def hard_tanh(x):
    return jnp.clip(_inexact(x), -1.0, 1.0)


def hard_sigmoid(x):
    return jnp.true_divide(relu6(jnp.add(_inexact(x), 3.0)), 6.0)


def hard_silu(x):
    x = _inexact(x)
    return jnp.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def soft_sign(x):
    x = _inexact(x)
    return jnp.true_divide(x, jnp.add(jnp.abs(x), 1))


def glu(x, axis=-1):
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second."""
    x = _inexact(x)
    n = x.shape[axis]
    if n % 2:
        raise ValueError(f"glu: axis {axis} must have even size, got shape {x.shape}")
    a, b = jnp.split(x, 2, axis)
    return jnp.multiply(a, sigmoid(b))


def _shifted(x, axis, where):
    """``x - max(x)`` along ``axis``; the max carries no gradient and is 0 if not finite."""
    x = _inexact(x)
    initial = -np.inf if where is not None else None
    top = jnp.max(x, axis, keepdims=True, where=where, initial=initial)
    top = lax.stop_gradient(jnp.where(jnp.isfinite(top), top, jnp.zeros_like(top)))
    return jnp.subtract(x, top)


def softmax(x, axis=-1, where=None):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the max so exp cannot overflow."""
    unnormalized = jnp.exp(_shifted(x, axis, where))
    if where is not None:
        unnormalized = jnp.where(where, unnormalized, jnp.zeros_like(unnormalized))
    return jnp.true_divide(unnormalized, jnp.sum(unnormalized, axis, keepdims=True))


def log_softmax(x, axis=-1, where=None):
    """``x - logsumexp(x)`` along ``axis``."""
    shifted = _shifted(x, axis, where)
    exp = jnp.exp(shifted)
    if where is not None:
        exp = jnp.where(where, exp, jnp.zeros_like(exp))
    out = jnp.subtract(shifted, jnp.log(jnp.sum(exp, axis, keepdims=True)))
    return out if where is None else jnp.where(where, out, jnp.full_like(out, -np.inf))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """``log(sum(b * exp(a)))`` along ``axis`` without overflow; with ``return_sign`` the
    sign of the sum is returned too (``b`` may make it negative)."""
    a = _inexact(a)
    initial = -np.inf if where is not None else None
    top = jnp.max(a, axis, keepdims=True, where=where, initial=initial)
    top = lax.stop_gradient(jnp.where(jnp.isfinite(top), top, jnp.zeros_like(top)))
    exp = jnp.exp(jnp.subtract(a, top))
    if b is not None:
        exp = jnp.multiply(b, exp)
    if where is not None:
        exp = jnp.where(where, exp, jnp.zeros_like(exp))
    total = jnp.sum(exp, axis, keepdims=True)
    sign = jnp.sign(total)
    out = jnp.add(jnp.log(jnp.abs(total)), top)
    if not keepdims:
        axes = canonical_axes("logsumexp", axis, a.ndim)
        out, sign = jnp.squeeze(out, axes), jnp.squeeze(sign, axes)
    if return_sign:
        return out, sign
    return out if b is None else jnp.where(sign < 0, jnp.full_like(out, np.nan), out)


def one_hot(x, num_classes, *, dtype=None, axis=-1):
    """``x[..., None] == arange(num_classes)``, with the class axis at ``axis``."""
    x = jnp.asarray(x)
    dtype = dtypes.default_float() if dtype is None else dtypes.canonicalize(dtype)
    out_ndim = x.ndim + 1
    axis = canonical_axis("one_hot", axis, out_ndim)
    shape = x.shape[:axis] + (int(num_classes),) + x.shape[axis:]
    classes = lax.broadcasted_iota(x.dtype if x.dtype.kind in "iu" else dtypes.default_int(),
                                   shape, axis)
    values = lax.broadcast_in_dim(x, shape, [d for d in range(out_ndim) if d != axis])
    return lax.convert_element_type(jnp.equal(values, classes), dtype)


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5):
    """``(x - mean) / sqrt(variance + epsilon)`` with the moments taken along ``axis``."""
    x = _inexact(x)
    if mean is None:
        mean = jnp.mean(x, axis, keepdims=True)
    if variance is None:
        variance = jnp.var(x, axis, keepdims=True)
    return jnp.multiply(jnp.subtract(x, mean), lax.rsqrt(jnp.add(variance, epsilon)))


def identity(x):
    return jnp.asarray(x)


def tanh(x):
    return jnp.tanh(_inexact(x))


def mish(x):
    """``x * tanh(softplus(x))``."""
    x = _inexact(x)
    return jnp.multiply(x, jnp.tanh(softplus(x)))


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``: a smooth ReLU with only algebraic operations."""
    x = _inexact(x)
    return jnp.true_divide(jnp.add(x, jnp.sqrt(jnp.add(jnp.square(x), b))), 2)


def log1mexp(x):
    """``log(1 - exp(-x))`` for ``x > 0``, switching at ``log 2`` between ``log1p(-exp(-x))``
    and ``log(-expm1(-x))`` so neither loses precision (Maechler, 2012)."""
    x = _inexact(x)
    c = float(np.log(2.0))
    return jnp.where(x > c, jnp.log1p(-jnp.exp(-x)), jnp.log(-jnp.expm1(-x)))


def logmeanexp(x, axis=None, where=None, keepdims=False):
    """``log(mean(exp(x)))`` without overflow."""
    x = _inexact(x)
    count = jnp.sum(jnp.ones_like(x) if where is None else
                    jnp.where(where, jnp.ones_like(x), jnp.zeros_like(x)), axis,
                    keepdims=keepdims)
    return jnp.subtract(logsumexp(x, axis, keepdims=keepdims, where=where), jnp.log(count))


def sparse_plus(x):
    """0 below -1, ``(x + 1)**2 / 4`` on [-1, 1], ``x`` above 1: a softplus with exact
    zeros."""
    x = _inexact(x)
    return jnp.where(x <= -1.0, jnp.zeros_like(x),
                     jnp.where(x >= 1.0, x, jnp.square(jnp.add(x, 1)) / 4))


def sparse_sigmoid(x):
    """The derivative of ``sparse_plus``: ``clip((x + 1) / 2, 0, 1)``."""
    return jnp.clip(jnp.true_divide(jnp.add(_inexact(x), 1), 2), 0.0, 1.0)


from funcjax.nn import initializers  # noqa: E402,F401  (jax.nn.initializers)
from funcjax.nn._attention import dot_product_attention  # noqa: E402,F401

__dir__ = public_dir(globals())
