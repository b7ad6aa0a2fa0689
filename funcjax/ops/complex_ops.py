"""Complex-number primitives: real, imag, conj, complex, and abs of complex values.

Derivatives follow JAX's convention: a complex tangent is an ordinary tangent of the pair
(re, im), and transposition is the plain (not conjugated) transpose of an R-linear map, so
``grad`` of a real function of ``z`` gives ``df/dx - i df/dy`` (the conjugate of the
Wirtinger-style gradient some libraries return) and holomorphic functions differentiate as
``f'(z)``. That makes ``imag``'s transpose ``-i ct`` and ``conj``'s ``conj(ct)``.
"""

import numpy as np

from funcjax.core import cost, dtypes
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import define_primitive
from funcjax.interpreters.batching import elementwise_batch_rule
from funcjax.interpreters.jvp import defjvp, deflinear
from funcjax.ops import elementwise as ew
from funcjax.ops.lazy import lax
from funcjax.ops.typing import check_kinds, describe, elementwise_type


def _to_real(name):
    def rule(x):
        check_kinds(name, [x], "c")
        return ShapedArray(x.shape, dtypes.real_dtype(x.dtype), x.weak_type)
    return rule


def _unary(name, impl, type_rule):
    prim = define_primitive(name, impl, type_rule)
    prim.def_batch(elementwise_batch_rule(prim))
    prim.def_cost(cost.elementwise)
    return prim


real_p = _unary("real", np.real, _to_real("real"))
deflinear(real_p)
real_p.def_transpose(lambda ct, x: [lax.complex(ct, lax.full(ct.shape, 0, ct.dtype))])
imag_p = _unary("imag", np.imag, _to_real("imag"))
deflinear(imag_p)
imag_p.def_transpose(lambda ct, x: [lax.complex(lax.full(ct.shape, 0, ct.dtype), lax.neg(ct))])
conj_p = _unary("conj", np.conjugate, lambda x: elementwise_type("conj", x, kinds="c"))
deflinear(conj_p)
conj_p.def_transpose(lambda ct, x: [conj_p.bind(ct)])


def _complex(x, y):
    return (x + 1j * y).astype(dtypes.complex_dtype(x.dtype))


def _complex_type(x, y):
    elementwise_type("complex", x, y, kinds="f")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeError(f"complex needs float32 or float64 parts, got {describe([x, y])}")
    return ShapedArray(x.shape, dtypes.complex_dtype(x.dtype), x.weak_type and y.weak_type)


complex_p = define_primitive("complex", _complex, _complex_type)
deflinear(complex_p)
complex_p.def_transpose(lambda ct, x, y: [real_p.bind(ct), lax.neg(imag_p.bind(ct))])
complex_p.def_batch(elementwise_batch_rule(complex_p))
complex_p.def_cost(cost.elementwise)


# -- abs of complex values: a real result ----------------------------------------------------
def _abs_type(x):
    out = elementwise_type("abs", x, kinds="fiuc")
    return out.update(dtype=dtypes.real_dtype(x.dtype)) if dtypes.is_complex(x.dtype) else out


def _abs_jvp(t, x):
    if not dtypes.is_complex(x.dtype):
        return lax.select(lax.ge(x, 0.0), t, lax.neg(t))
    # d|z| = Re(conj(z) dz) / |z|, taken as 0 at z = 0 (as JAX).
    mag = ew.abs_p.bind(x)
    zero = lax.eq(mag, lax.full(mag.shape, 0, mag.dtype))
    safe = lax.select(zero, lax.full(mag.shape, 1, mag.dtype), mag)
    out = lax.div(real_p.bind(lax.mul(conj_p.bind(x), t)), safe)
    return lax.select(zero, lax.full(mag.shape, 0, mag.dtype), out)


ew.abs_p.def_abstract_eval(_abs_type)
defjvp(ew.abs_p, _abs_jvp)
