"""Weak types through differentiation: a derivative takes the weak type JAX gives it.

The expected weak types were obtained by running each case under JAX 0.10.2. A derivative
with respect to a Python scalar stays weakly typed (it is a cotangent or tangent of the
primal's type), and closed-over scalars keep their weak type inside control flow."""

import numpy as np
import pytest

import funcjax as fj
import funcjax.numpy as jnp
from funcjax import lax


def _scan_closure(x):
    return lax.scan(lambda c, _: (c * x, None), 1.0, None, length=5)[0]


def _while_closure(x):
    return lax.while_loop(lambda c: c < 10, lambda c: c * x, 1.0)


# (name, thunk, weak types of the result's leaves under JAX 0.10.2)
CASES = [
    ("grad_mul", lambda: fj.grad(lambda x: x * 2.0)(0.7), [True]),
    ("grad_strong_input", lambda: fj.grad(lambda x: x * 2.0)(jnp.float32(0.7)), [False]),
    ("grad_through_promotion", lambda: fj.grad(lambda x: (x * jnp.ones(3)).sum())(0.7),
     [True]),
    ("grad_argnums_mixed", lambda: fj.grad(lambda x, y: x * y, argnums=(0, 1))(
        0.7, jnp.float32(2)), [True, False]),
    ("vjp_strong_ct", lambda: fj.vjp(lambda x: x * 2.0, 0.7)[1](jnp.float32(1.0)), [False]),
    ("grad_where", lambda: fj.grad(lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.))(1.0), [True]),
    ("grad_cond", lambda: fj.grad(lambda x: lax.cond(x > 0, lambda y: y ** 2, lambda y: -y,
                                                     x))(2.0), [True]),
    ("grad_cond_closure", lambda: fj.grad(lambda x: lax.cond(True, lambda: x * 2,
                                                             lambda: x))(1.2), [True]),
    ("grad_fori", lambda: fj.grad(lambda x: lax.fori_loop(0, 5, lambda i, c: c * x + i,
                                                          1.0))(1.2), [True]),
    ("grad_scan_closure", lambda: fj.grad(_scan_closure)(1.2), [True]),
    ("jvp_scan_closure", lambda: fj.jvp(_scan_closure, (1.2,), (1.0,)), [True, True]),
    ("jvp_while_closure", lambda: fj.jvp(_while_closure, (1.2,), (1.0,)), [True, True]),
    ("jit_cond_closure", lambda: fj.jit(lambda x: lax.cond(x > 0, lambda: x * 2,
                                                           lambda: x))(1.0), [True]),
    ("ggg", lambda: fj.grad(fj.grad(fj.grad(lambda x: jnp.sin(x) * x ** 3)))(0.7), [True]),
    ("jacrev_scalar", lambda: fj.jacrev(jnp.sin)(1.0), [True]),
    ("jacfwd_vector", lambda: fj.jacfwd(lambda x: x * 2.0)(jnp.ones(2)), [False]),
    ("hessian_scalar", lambda: fj.hessian(jnp.sin)(1.0), [True]),
    ("value_and_grad", lambda: fj.value_and_grad(lambda x: x * 2.0)(1.0), [True, True]),
]


@pytest.mark.parametrize("name,thunk,weak", CASES, ids=[c[0] for c in CASES])
def test_weak_type_of_derivatives(name, thunk, weak):
    leaves = fj.tree_util.tree_leaves(thunk())
    assert [bool(leaf.weak_type) for leaf in leaves] == weak
    assert all(np.asarray(leaf).dtype == np.float32 for leaf in leaves)
