"""Lowered.as_text("fusion") reports the fusion plan: which operations share one loop."""

import funcjax as jax
import funcjax.numpy as jnp
from funcjax.backend.llvm import fusion, lowering


def test_an_elementwise_chain_is_one_group():
    lowered = jax.jit(lambda x: jnp.sin(x) * jnp.exp(-x * x) + 0.5 * jnp.tanh(x)).lower(
        jnp.ones(100))
    (line,) = lowered.as_text("fusion").splitlines()
    assert "f32[100]" in line and "sin" in line and "tanh" in line and "exp" in line


def test_a_matmul_is_its_own_group_and_its_epilogue_fuses():
    closed = jax.make_jaxpr(lambda x, w: jnp.tanh(x @ w + 1.0))(jnp.ones((8, 4)),
                                                                jnp.ones((4, 5)))
    groups = fusion.groups(closed.jaxpr, lowering.rule_of)
    names = [[e.primitive.name for e in g] for g in groups]
    assert names[0] == ["dot_general"]
    assert names[-1][-1] == "tanh" and "add" in names[-1]
    # every live equation is in some group
    assert {id(e) for g in groups for e in g} == {id(e) for e in closed.eqns}
