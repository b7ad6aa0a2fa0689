"""Neural network layers as ``(init_fun, apply_fun)`` pairs, with the API of
``jax.example_libraries.stax``.

``init_fun(rng, input_shape) -> (output_shape, params)`` and ``apply_fun(params, inputs,
**kwargs) -> outputs``; combinators (``serial``, ``parallel``, ``FanOut``, ...) build networks
from layers. ``-1`` in a shape stands for the batch size.
"""

import functools
import operator

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax, nn, random
from funcjax.api import ShapeDtypeStruct, eval_shape
from funcjax.nn.initializers import glorot_normal, he_normal, normal, ones, zeros

__all__ = ["AvgPool", "BatchNorm", "Conv", "Dense", "Dropout", "Elu", "Exp", "FanInConcat",
           "FanInSum", "FanOut", "Flatten", "Gelu", "Identity", "LeakyRelu", "LogSoftmax",
           "MaxPool", "Relu", "Selu", "Sigmoid", "Softmax", "Softplus", "SumPool", "Tanh",
           "elementwise", "parallel", "serial", "shape_dependent"]


def Dense(out_dim, W_init=glorot_normal(), b_init=normal()):  # noqa: N802,N803,B008
    """A fully connected layer: ``inputs @ W + b``."""
    def init_fun(rng, input_shape):
        output_shape = tuple(input_shape[:-1]) + (out_dim,)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, (input_shape[-1], out_dim)), b_init(k2, (out_dim,)))

    def apply_fun(params, inputs, **kwargs):
        W, b = params  # noqa: N806
        return jnp.dot(inputs, W) + b
    return init_fun, apply_fun


def Conv(out_chan, filter_shape, strides=None, padding="VALID", dimension_numbers=None,  # noqa: N802
         W_init=None, b_init=normal(1e-6)):  # noqa: N803,B008
    """A 2-d convolution layer (needs ``lax.conv_general_dilated``)."""
    conv = getattr(lax, "conv_general_dilated", None)
    if conv is None:
        raise NotImplementedError(
            "stax.Conv needs lax.conv_general_dilated, which funcjax does not have yet (it "
            "is being added on the 'conv' branch); use Dense layers until it lands")
    lhs_spec, rhs_spec, out_spec = dimension_numbers or ("NHWC", "HWIO", "NHWC")
    one = (1,) * len(filter_shape)
    strides = strides or one
    W_init = W_init or he_normal(rhs_spec.index("I"), rhs_spec.index("O"))  # noqa: N806

    def init_fun(rng, input_shape):
        filter_shape_iter = iter(filter_shape)
        kernel_shape = [out_chan if c == "O" else input_shape[lhs_spec.index("C")]
                        if c == "I" else next(filter_shape_iter) for c in rhs_spec]
        spatial_in = [input_shape[lhs_spec.index(c)] for c in lhs_spec if c not in "NC"]
        if padding == "SAME":
            spatial_out = [-(-n // s) for n, s in zip(spatial_in, strides)]
        else:
            spatial_out = [(n - f) // s + 1 for n, f, s in zip(spatial_in, filter_shape,
                                                                strides)]
        dims = iter(spatial_out)
        output_shape = tuple(input_shape[lhs_spec.index("N")] if c == "N" else out_chan
                             if c == "C" else next(dims) for c in out_spec)
        bias_shape = tuple(out_chan if c == "C" else 1 for c in out_spec)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, tuple(kernel_shape)), b_init(k2, bias_shape))

    def apply_fun(params, inputs, **kwargs):
        W, b = params  # noqa: N806
        return conv(inputs, W, strides, padding, one, one,
                    (lhs_spec, rhs_spec, out_spec)) + b
    return init_fun, apply_fun


def elementwise(fun, **fun_kwargs):
    """A parameterless layer applying ``fun`` to its inputs."""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return fun(inputs, **fun_kwargs)
    return init_fun, apply_fun


Tanh = elementwise(jnp.tanh)
Relu = elementwise(nn.relu)
Exp = elementwise(jnp.exp)
LogSoftmax = elementwise(nn.log_softmax, axis=-1)
Softmax = elementwise(nn.softmax, axis=-1)
Softplus = elementwise(nn.softplus)
Sigmoid = elementwise(nn.sigmoid)
Elu = elementwise(nn.elu)
LeakyRelu = elementwise(nn.leaky_relu)
Selu = elementwise(nn.selu)
Gelu = elementwise(nn.gelu)


def _flatten_init(rng, input_shape):
    return (input_shape[0], functools.reduce(operator.mul, input_shape[1:], 1)), ()


def _flatten_apply(params, inputs, **kwargs):
    return jnp.reshape(inputs, (inputs.shape[0], -1))


Flatten = (_flatten_init, _flatten_apply)
Identity = (lambda rng, input_shape: (input_shape, ()),
            lambda params, inputs, **kwargs: inputs)


def Dropout(rate, mode="train"):  # noqa: N802
    """Keeps each input with probability ``rate`` (scaled by ``1 / rate``) in ``"train"``
    mode; ``apply_fun`` then needs ``rng=``. (``rate`` is the keep rate, as in JAX's stax.)"""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        if mode != "train":
            return inputs
        rng = kwargs.get("rng", None)
        if rng is None:
            raise ValueError("Dropout layer in mode='train' needs a PRNG key: call apply_fun("
                             "params, inputs, rng=key), or build it with mode='test'")
        keep = random.bernoulli(rng, rate, inputs.shape)
        return jnp.where(keep, inputs / rate, 0)
    return init_fun, apply_fun


def BatchNorm(axis=(0, 1, 2), epsilon=1e-5, center=True, scale=True,  # noqa: N802
              beta_init=zeros, gamma_init=ones):
    """Normalises over ``axis`` with the batch's own statistics, then scales and shifts."""
    axis = (axis,) if np.isscalar(axis) else tuple(axis)

    def init_fun(rng, input_shape):
        shape = tuple(d for i, d in enumerate(input_shape) if i not in axis)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, shape) if center else ()
        gamma = gamma_init(k2, shape) if scale else ()
        return input_shape, (beta, gamma)

    def apply_fun(params, x, **kwargs):
        beta, gamma = params
        ed = tuple(None if i in axis else slice(None) for i in range(jnp.ndim(x)))
        z = nn.standardize(x, axis, epsilon=epsilon)
        if center and scale:
            return gamma[ed] * z + beta[ed]
        if center:
            return z + beta[ed]
        if scale:
            return gamma[ed] * z
        return z
    return init_fun, apply_fun


def _pooling(name, computation, init_value, average=False):
    """A pooling layer over the spatial axes: every axis but the batch (``N``) and channel
    (``C``) axes of ``spec`` (default: batch first, channels last, as JAX's stax)."""
    def layer(window_shape, strides=None, padding="VALID", spec=None):
        window_shape = tuple(window_shape)
        strides = tuple(strides) if strides is not None else (1,) * len(window_shape)
        batch, channel = (0, len(window_shape) + 1) if spec is None else (
            spec.index("N"), spec.index("C"))
        window, step = list(window_shape), list(strides)
        for axis in sorted((batch, channel)):
            window.insert(axis, 1)
            step.insert(axis, 1)

        def pool(x):
            return lax.reduce_window(x, init_value, computation, window, step, padding)

        def apply_fun(params, inputs, **kwargs):
            out = pool(inputs)
            if not average:
                return out
            # Each output divided by the number of inputs its window covered (padding
            # excluded), as JAX's AvgPool does.
            return out / pool(jnp.ones(inputs.shape, inputs.dtype))

        def init_fun(rng, input_shape):
            concrete = tuple(1 if d == -1 else d for d in input_shape)
            out = eval_shape(lambda x: apply_fun((), x),
                             ShapeDtypeStruct(concrete, jnp.float32)).shape
            return tuple(-1 if d == -1 else o for d, o in zip(input_shape, out)), ()
        return init_fun, apply_fun
    layer.__name__ = name
    return layer


MaxPool = _pooling("MaxPool", lax.max, -np.inf)
SumPool = _pooling("SumPool", lax.add, 0.0)
AvgPool = _pooling("AvgPool", lax.add, 0.0, average=True)


# -- combinators -----------------------------------------------------------------------------
def _rngs(kwargs, n):
    """Per-layer keys: the ``rng`` keyword (removed from ``kwargs``) split ``n`` ways, or
    None for every layer."""
    rng = kwargs.pop("rng", None)
    return random.split(rng, n) if rng is not None else (None,) * n


def serial(*layers):
    """Layers applied one after another."""
    init_funs, apply_funs = zip(*layers)

    def init_fun(rng, input_shape):
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params, inputs, **kwargs):
        rngs = _rngs(kwargs, len(apply_funs))
        for fun, param, rng in zip(apply_funs, params, rngs):
            inputs = fun(param, inputs, rng=rng, **kwargs)
        return inputs
    return init_fun, apply_fun


def parallel(*layers):
    """Layers applied to the matching members of a tuple of inputs."""
    init_funs, apply_funs = zip(*layers)

    def init_fun(rng, input_shape):
        rngs = random.split(rng, len(init_funs))
        pairs = [init(r, shape) for init, r, shape in zip(init_funs, rngs, input_shape)]
        return [shape for shape, _ in pairs], [param for _, param in pairs]

    def apply_fun(params, inputs, **kwargs):
        rngs = _rngs(kwargs, len(apply_funs))
        return [f(p, x, rng=r, **kwargs) for f, p, x, r in zip(apply_funs, params, inputs,
                                                                rngs)]
    return init_fun, apply_fun


def FanOut(num):  # noqa: N802
    """Copies its input to ``num`` outputs."""
    return (lambda rng, input_shape: ([input_shape] * num, ()),
            lambda params, inputs, **kwargs: [inputs] * num)


def _fan_in_sum_init(rng, input_shape):
    return input_shape[0], ()


FanInSum = (_fan_in_sum_init, lambda params, inputs, **kwargs: sum(inputs[1:], inputs[0]))


def FanInConcat(axis=-1):  # noqa: N802
    """Concatenates a list of inputs along ``axis``."""
    def init_fun(rng, input_shape):
        ax = axis % len(input_shape[0])
        concat_size = sum(shape[ax] for shape in input_shape)
        out_shape = input_shape[0][:ax] + (concat_size,) + input_shape[0][ax + 1:]
        return out_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return jnp.concatenate(inputs, axis)
    return init_fun, apply_fun


def shape_dependent(make_layer):
    """A layer whose construction depends on the input shape."""
    def init_fun(rng, input_shape):
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        return make_layer(inputs.shape)[1](params, inputs, **kwargs)
    return init_fun, apply_fun
