"""Cost rules: every primitive has one, and they count what XLA's cost analysis counts."""

import funcjax as jax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.core.cost import jaxpr_cost
from funcjax.core.ir import Jaxpr
from funcjax.core.primitive import coverage


def test_every_primitive_has_a_cost_rule():
    assert coverage().missing("cost") == []


def cost(f, *args):
    return jaxpr_cost(jax.make_jaxpr(f)(*args))


def test_products_elementwise_and_data_movement():
    c = cost(lambda a, b: a @ b, jnp.ones((5, 4)), jnp.ones((4, 3)))
    assert (c.flops, c.transcendentals) == (2 * 5 * 3 * 4, 0)
    c = cost(lambda x: jnp.tanh(x) * 2.0 + jnp.exp(x), jnp.ones((2, 3)))
    assert (c.flops, c.transcendentals) == (12, 12)  # mul and add; tanh and exp
    c = cost(lambda x: jnp.transpose(x).reshape(-1)[::2], jnp.ones((2, 3)))
    assert (c.flops, c.transcendentals) == (0, 0)
    assert cost(lambda x: jnp.sum(x, axis=0), jnp.ones((4, 6))).flops == 24


def test_control_flow_costs_from_their_bodies():
    body_flops = 2 * 8  # one mul and one add over f32[8] per step
    c = cost(lambda x: lax.scan(lambda c, _: (c * 0.5 + 1.0, None), x, None, length=7)[0],
             jnp.ones(8))
    assert c.flops == 7 * body_flops
    closed = jax.make_jaxpr(lambda p, x: lax.cond(p, lambda x: jnp.sin(x) * x,
                                                  lambda x: x + 1.0, x))(True, jnp.ones(8))
    (eqn,) = [e for e in closed.eqns if e.primitive.name == "cond"]
    c = jaxpr_cost(Jaxpr([], [], [eqn], []))
    assert (c.flops, c.transcendentals) == (8, 8)  # the dearer branch's counts, each the max
    grad_cost = cost(jax.grad(lambda x: jnp.sum(jnp.sin(x) ** 2)), jnp.ones(8))
    assert grad_cost.transcendentals == 16  # sin forward, cos for its derivative


def test_memory_traffic_hand_counted():
    # tanh reads and writes 24 bytes; broadcasting the literal 2.0 reads 4 and writes 24; the
    # mul reads 48 and writes 24; exp 24/24; the add 48/24.
    c = cost(lambda x: jnp.tanh(x) * 2.0 + jnp.exp(x), jnp.ones((2, 3)))
    assert (c.bytes_read, c.bytes_written) == (24 + 4 + 48 + 24 + 48, 5 * 24)
    c = cost(lambda a, b: a @ b, jnp.ones((5, 4)), jnp.ones((4, 3)))
    assert (c.bytes_read, c.bytes_written, c.bytes_accessed) == (4 * (20 + 12), 4 * 15, 188)


def test_loop_bytes_scale_with_the_trip_count_and_while_is_flagged():
    step = cost(lambda c: c * 0.5 + 1.0, jnp.ones(8))
    c = cost(lambda x: lax.scan(lambda c, _: (c * 0.5 + 1.0, None), x, None, length=7)[0],
             jnp.ones(8))
    assert (c.bytes_read, c.bytes_written, c.unknown_trip_counts) == (
        7 * step.bytes_read, 7 * step.bytes_written, 0)
    c = cost(lambda x: lax.while_loop(lambda c: c[0] < 3.0, lambda c: c * 2.0, x), jnp.ones(8))
    assert c.unknown_trip_counts == 1


def test_compiled_cost_analysis_schema():
    report = jax.jit(lambda a, b: jnp.tanh(a @ b)).lower(
        jnp.ones((5, 4)), jnp.ones((4, 3))).compile().cost_analysis()
    assert set(report) == {"flops", "transcendentals", "bytes read", "bytes written",
                           "bytes accessed", "unknown trip counts",
                           "bytes accessed at the boundary"}
    assert report["flops"] == 2 * 5 * 3 * 4 and report["transcendentals"] == 15
    assert report["bytes accessed at the boundary"] == 4 * (20 + 12 + 15)
    assert report["bytes accessed"] == report["bytes read"] + report["bytes written"]
