"""The rest of numpy's namespace that JAX mirrors: window functions, printing and file I/O
(through numpy, on concrete arrays), scalar-type aliases and small predicates."""


import numpy as np

from funcjax import numpy as jnp
from funcjax.core.trace import Tracer
from funcjax.numpy._bessel import i0
from funcjax.numpy._util import asarray

__all__ = ["bartlett", "blackman", "hamming", "hanning", "kaiser", "isscalar", "iterable",
           "array_repr", "array_str", "get_printoptions", "set_printoptions", "printoptions",
           "load", "save", "savez", "fromfile", "fromiter", "fromstring", "from_dlpack",
           "einsum_path", "single", "double", "character", "flexible", "object_",
           "ComplexWarning"]

single, double = jnp.float32, jnp.float64
character, flexible, object_ = np.character, np.flexible, np.object_
ComplexWarning = np.exceptions.ComplexWarning
get_printoptions, set_printoptions, printoptions = (np.get_printoptions, np.set_printoptions,
                                                    np.printoptions)


# -- windows --------------------------------------------------------------------------------
def _window(M, fn):  # noqa: N803 - numpy's name
    M = int(M)  # noqa: N806
    if M < 1:
        return jnp.zeros((0,), jnp.float32)
    if M == 1:
        return jnp.ones((1,), jnp.float32)
    n = jnp.arange(M).astype(jnp.float32)
    return fn(n, M)


def bartlett(M):  # noqa: N803
    return _window(M, lambda n, m: 1 - jnp.abs(2 * n / (m - 1) - 1))


def blackman(M):  # noqa: N803
    return _window(M, lambda n, m: 0.42 - 0.5 * jnp.cos(2 * np.pi * n / (m - 1))
                   + 0.08 * jnp.cos(4 * np.pi * n / (m - 1)))


def hamming(M):  # noqa: N803
    return _window(M, lambda n, m: 0.54 - 0.46 * jnp.cos(2 * np.pi * n / (m - 1)))


def hanning(M):  # noqa: N803
    return _window(M, lambda n, m: 0.5 - 0.5 * jnp.cos(2 * np.pi * n / (m - 1)))


def kaiser(M, beta):  # noqa: N803
    beta = jnp.asarray(beta, jnp.float32)
    return _window(M, lambda n, m: i0(beta * jnp.sqrt(1 - (2 * n / (m - 1) - 1) ** 2))
                   / i0(beta))


# -- predicates -----------------------------------------------------------------------------
def isscalar(element):
    """True for Python/numpy scalars and 0-d funcjax arrays (as JAX)."""
    if isinstance(element, (jnp.ndarray, Tracer)):
        return element.ndim == 0
    return np.isscalar(element)


def iterable(y):
    try:
        iter(y)
    except TypeError:
        return False
    return True


# -- printing and I/O through numpy -----------------------------------------------------------
def _concrete(name, x):
    if isinstance(x, Tracer):
        raise TypeError(f"{name}: needs a concrete array, got the traced {x.aval.str_short()}")
    return np.asarray(x)


def array_repr(arr, max_line_width=None, precision=None, suppress_small=None):
    return np.array_repr(_concrete("array_repr", arr), max_line_width, precision,
                         suppress_small).replace("array(", "Array(", 1)


def array_str(a, max_line_width=None, precision=None, suppress_small=None):
    return np.array_str(_concrete("array_str", a), max_line_width, precision, suppress_small)


def load(file, *args, **kwargs):
    """``numpy.load``; arrays come back as funcjax arrays (an .npz stays numpy's NpzFile)."""
    out = np.load(file, *args, **kwargs)
    return asarray(out) if isinstance(out, np.ndarray) else out


def save(file, arr, allow_pickle=True):
    np.save(file, _concrete("save", arr), allow_pickle=allow_pickle)


def savez(file, *args, **kwds):
    np.savez(file, *[_concrete("savez", a) for a in args],
             **{k: _concrete("savez", v) for k, v in kwds.items()})


def fromfile(*args, **kwargs):
    return asarray(np.fromfile(*args, **kwargs))


def fromiter(*args, **kwargs):
    return asarray(np.fromiter(*args, **kwargs))


def fromstring(string, dtype=float, count=-1, *, sep):
    return asarray(np.fromstring(string, dtype, count, sep=sep))


def from_dlpack(x, /, *, device=None, copy=None):
    return asarray(np.from_dlpack(x))


def einsum_path(subscripts, *operands, optimize="greedy"):
    """numpy's contraction-order report for operands of these shapes (values unused)."""
    shaped = [np.empty(np.shape(o), np.result_type(getattr(o, "dtype", float)))
              for o in operands]
    return np.einsum_path(subscripts, *shaped, optimize=optimize)


