"""Hypothesis: random programs of primitives, mapped with random in_axes/out_axes, equal the
loop; nested vmaps of random programs equal the double loop.

A program is a list of steps over values of one per-example shape (2, 3); each step applies
an operation to earlier values, so batched and unbatched operands mix freely.
"""

import numpy as np
import vmap_testing as vt
from hypothesis import given
from hypothesis import strategies as st

from funcjax import lax, vmap

S = (2, 3)
I32 = np.int32


def _row_index(b):
    """A per-example scalar index computed from data (so it is batched when ``b`` is)."""
    return lax.argmax(lax.reduce_sum(b, (1,)), 0, I32)


def _gather_argmax(a, b):
    rows = lax.broadcasted_iota(I32, (2, 1), 0)
    cols = lax.expand_dims(lax.argmax(b, 1, I32), (1,))
    return lax.broadcast_in_dim(lax.gather(a, lax.concatenate([rows, cols], 1), (0, 1)), S, (0,))


UNARY = {
    "sin": lax.sin, "tanh": lax.tanh, "neg": lax.neg, "abs": lax.abs,
    "square": lambda a: lax.tanh(lax.integer_pow(a, 2)),
    "rev": lambda a: lax.rev(a, (1,)),
    "cumsum": lambda a: lax.cumsum(a, 0),
    "cummax": lambda a: lax.cummax(a, 1, reverse=True),
    "sort": lambda a: lax.sort(a, 1),
    "sum_bcast": lambda a: lax.broadcast_in_dim(lax.reduce_sum(a, (0,)), S, (1,)),
    "max_bcast": lambda a: lax.broadcast_in_dim(lax.reduce_max(a, (1,)), S, (0,)),
    "total": lambda a: lax.broadcast_in_dim(lax.reduce_sum(a, (0, 1)), S, ()),
    "transpose_reshape": lambda a: lax.reshape(lax.transpose(a, (1, 0)), S),
    "pad_slice": lambda a: lax.slice(lax.pad(a, 0.5, ((1, 0, 0), (0, 2, 1))), (0, 0), S),
    "expand_squeeze": lambda a: lax.squeeze(lax.expand_dims(a, (1,)), (1,)),
    "convert": lambda a: lax.convert_element_type(
        lax.convert_element_type(lax.mul(a, 4.0), I32), np.float32),
    "iota": lambda a: lax.add(a, lax.broadcasted_iota(np.float32, S, 1)),
}

BINARY = {
    "add": lax.add, "mul": lax.mul, "max": lax.max, "sub": lax.sub,
    "select": lambda a, b: lax.select(lax.lt(a, b), a, b),
    "select_scalar": lambda a, b: lax.select(lax.gt(lax.reduce_sum(b, (0, 1)), 0.0), a, b),
    "matmul": lambda a, b: lax.tanh(lax.dot(lax.dot_general(a, b, (((1,), (1,)), ((), ()))),
                                            a)),
    "concat_slice": lambda a, b: lax.slice(lax.concatenate([a, b], 1), (0, 2), (2, 5)),
    "pad_value": lambda a, b: lax.pad(a, lax.reduce_max(b, (0, 1)), ((1, -1, 0), (0, 0, 0))),
    "gather": _gather_argmax,
    "dynamic_slice": lambda a, b: lax.broadcast_in_dim(
        lax.dynamic_slice(a, (_row_index(b), 0), (1, 3)), S, (0, 1)),
    "dynamic_update": lambda a, b: lax.dynamic_update_slice(
        a, lax.slice(b, (0, 0), (1, 2)),
        (_row_index(b), lax.argmin(lax.reduce_min(b, (0,)), 0, I32))),
    "scatter_add": lambda a, b: lax.scatter_add(
        a, lax.expand_dims(lax.argmax(b, 1, I32), (1,)), lax.slice(a, (0, 0), (2, 2)), (1,)),
}


@st.composite
def programs(draw):
    """Each step applies an operation to the latest value (and, for binary operations, to any
    earlier one), and the latest value is an output: every step matters."""
    n_inputs = draw(st.integers(1, 3))
    steps = []
    for k in range(draw(st.integers(1, 6))):
        latest = n_inputs + k - 1
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(UNARY))), (latest,)))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY))),
                          (latest, draw(st.integers(0, latest)))))
    n_values = n_inputs + len(steps)
    others = draw(st.lists(st.integers(0, n_values - 1), max_size=1))
    return n_inputs, steps, [n_values - 1] + others


def run(program, *inputs):
    _, steps, outputs = program
    values = list(inputs)
    for name, operands in steps:
        op = UNARY.get(name) or BINARY[name]
        values.append(op(*(values[i] for i in operands)))
    return tuple(values[i] for i in outputs)


def per_example(rng):
    return rng.uniform(-2, 2, S).astype(np.float32)


@given(programs(), st.data(), st.integers(0, 2 ** 32 - 1))
def test_random_program_matches_loop(program, data, seed):
    n_inputs, _, outputs = program
    rng = np.random.default_rng(seed)
    in_axes = data.draw(st.lists(st.sampled_from([0, 1, 2, -1, None]), min_size=n_inputs,
                                 max_size=n_inputs).filter(lambda a: a != [None] * n_inputs))
    out_axes = tuple(data.draw(st.sampled_from([0, 1, 2, -1, -3])) for _ in outputs)
    args = [vt.batched(per_example, ax, rng) for ax in in_axes]

    def f(*xs):
        return run(program, *xs)
    expected = vt.loop_vmap(f, in_axes, args, out_axes)
    actual = vmap(f, tuple(in_axes), out_axes)(*args)
    vt.assert_trees_equal(actual, expected, rtol=1e-4, atol=1e-4)


@given(programs(), st.sampled_from([0, 1]), st.sampled_from([0, -1]),
       st.integers(0, 2 ** 32 - 1))
def test_nested_random_program_matches_double_loop(program, inner_axis, outer_axis, seed):
    n_inputs = program[0]
    rng = np.random.default_rng(seed)
    # The first input is mapped by both vmaps, the others only by the outer one.
    inner_axes = (inner_axis,) + (None,) * (n_inputs - 1)
    args = [vt.batched(lambda r, ax=ax: vt.batched(per_example, ax, r, size=2), outer_axis, rng)
            for ax in inner_axes]

    def f(*xs):
        return run(program, *xs)

    def inner_loop(*xs):
        return vt.loop_vmap(f, inner_axes, xs, out_axes=1)
    expected = vt.loop_vmap(inner_loop, (outer_axis,) * n_inputs, args)
    actual = vmap(vmap(f, inner_axes, 1), outer_axis)(*args)
    vt.assert_trees_equal(actual, expected, rtol=1e-4, atol=1e-4)
