"""Every primitive's batch rule against the loop, for every way of mapping its operands
(each operand mapped at the front, at the back, or not at all)."""

import itertools

import numpy as np
import pytest
import vmap_testing as vt

import funcjax
from funcjax import lax
from funcjax.ops import fft
from funcjax.ops.random_bits import threefry2x32_p


def f32(*shape):
    return lambda rng: rng.standard_normal(shape).astype(np.float32)


def i32(lo, hi, *shape):
    return lambda rng: rng.integers(lo, hi, shape).astype(np.int32)


def bools(*shape):
    return lambda rng: rng.random(shape) < 0.5


CASES = {
    "sin": (lax.sin, [f32(3, 4)]),
    "conv": (lambda x, w: lax.conv_general_dilated(x, w, (1, 2), "SAME", rhs_dilation=(2, 1)),
             [f32(2, 3, 5, 6), f32(4, 3, 2, 2)]),
    "conv_feature_groups": (lambda x, w: lax.conv_general_dilated(
        x, w, (1,), "VALID", feature_group_count=2), [f32(2, 4, 5), f32(6, 2, 2)]),
    "fft_rfft": (lambda x: lax.fft(x, "RFFT", (6,)), [f32(3, 6)]),
    "fft_irfft": (lambda x: lax.fft(lax.fft(x, "RFFT", (6,)), "IRFFT", (6,)), [f32(2, 6)]),
    "conv_batch_groups": (lambda x, w: lax.conv_general_dilated(
        x, w, (1,), "VALID", batch_group_count=2), [f32(4, 3, 5), f32(6, 3, 2)]),
    "max_pool": (lambda x: lax.reduce_window(x, -np.inf, lax.max, (2, 1, 2), (1, 1, 2), "SAME"),
                 [f32(3, 2, 5)]),
    "min_pool_jvp": (lambda x, t: funcjax.jvp(lambda x: lax.reduce_window(
        x, np.inf, lax.min, (2, 2), (1, 2), "VALID"), (x,), (t,))[1], [f32(3, 5), f32(3, 5)]),
    "max_pool_vjp": (lambda x, ct: funcjax.vjp(lambda x: lax.reduce_window(
        x, -np.inf, lax.max, (2, 2), (1, 2), "VALID"), x)[1](ct)[0], [f32(3, 5), f32(2, 2)]),
    "sum_pool": (lambda x: lax.reduce_window(x, 0.0, lax.add, (2, 3), (2, 1), "VALID",
                                             window_dilation=(1, 2)), [f32(4, 6)]),
    "integer_pow": (lambda x: lax.integer_pow(x, 3), [f32(3)]),
    "round": (lambda x: lax.round(x * 3, 1), [f32(3)]),
    "is_finite": (lax.is_finite, [lambda rng: np.where(rng.random((2, 2)) < 0.3, np.inf,
                                                        rng.random((2, 2))).astype(np.float32)]),
    "neg_int": (lax.neg, [i32(-5, 5, 4)]),
    "not": (lax.bitwise_not, [bools(4)]),
    "add": (lax.add, [f32(3, 4), f32(3, 4)]),
    "max": (lax.max, [f32(2, 3), f32(2, 3)]),
    "lt": (lax.lt, [f32(5), f32(5)]),
    "div_int": (lax.div, [i32(-9, 9, 4), i32(-3, 3, 4)]),
    "shift_left": (lax.shift_left, [i32(0, 9, 4), i32(0, 40, 4)]),
    "pow": (lax.pow, [lambda rng: rng.random(3).astype(np.float32) + 0.5, f32(3)]),
    "scalar_add": (lax.add, [f32(), f32()]),
    "convert": (lambda x: lax.convert_element_type(x * 4, np.int32), [f32(2, 3)]),
    "stop_gradient": (lax.stop_gradient, [f32(3)]),
    "select": (lax.select, [bools(2, 3), f32(2, 3), f32(2, 3)]),
    "select_scalar_pred": (lax.select, [bools(), f32(2, 3), f32(2, 3)]),
    "select_n_int": (lax.select_n, [i32(0, 3, 4), f32(4), f32(4), f32(4)]),
    "broadcast_in_dim": (lambda x: lax.broadcast_in_dim(x, (2, 3, 4), (1, 2)), [f32(3, 1)]),
    "reshape": (lambda x: lax.reshape(x, (2, 6)), [f32(3, 4)]),
    "squeeze": (lambda x: lax.squeeze(x, (1,)), [f32(3, 1, 4)]),
    "expand_dims": (lambda x: lax.expand_dims(x, (0, 2)), [f32(3, 4)]),
    "transpose": (lambda x: lax.transpose(x, (2, 0, 1)), [f32(2, 3, 4)]),
    "concatenate": (lambda x, y: lax.concatenate([x, y, x], 1), [f32(2, 3), f32(2, 1)]),
    "pad": (lambda x, v: lax.pad(x, v, ((1, 2, 1), (0, -1, 0))), [f32(3, 4), f32()]),
    "rev": (lambda x: lax.rev(x, (0, 2)), [f32(2, 3, 4)]),
    "slice": (lambda x: lax.slice(x, (1, 0), (3, 4), (1, 2)), [f32(3, 4)]),
    "iota": (lambda x: x + lax.iota(np.float32, 4), [f32(4)]),
    "dynamic_slice": (lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 3)),
                      [f32(4, 5), i32(-2, 6, ), i32(0, 5)]),
    "dynamic_update_slice": (lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)),
                             [f32(4, 5), f32(2, 3), i32(-2, 6), i32(0, 5)]),
    "gather_clip": (lambda x, i: lax.gather(x, i, axes=(1,)), [f32(4, 5), i32(-2, 7, 3, 1)]),
    "gather_fill": (lambda x, i: lax.gather(x, i, axes=(0, 1), mode="fill"),
                    [f32(4, 5), i32(-1, 6, 2, 3, 2)]),
    "gather_int": (lambda x, i: lax.gather(x, i, axes=(0,)), [i32(0, 9, 3), i32(0, 3, 4, 1)]),
    "scatter": (lambda x, i, u: lax.scatter(x, i, u, axes=(0,)),
                [f32(4, 3), i32(0, 4, 2, 1), f32(2, 3)]),
    "scatter_add": (lambda x, i, u: lax.scatter_add(x, i, u, axes=(1,)),
                    [f32(2, 4), i32(-1, 5, 6, 1), f32(6, 2)]),
    "scatter_mul": (lambda x, i, u: lax.scatter_mul(x, i, u, axes=(0, 1)),
                    [f32(3, 3), i32(0, 3, 4, 2), f32(4)]),
    "scatter_min": (lambda x, i, u: lax.scatter_min(x, i, u, axes=(0,)),
                    [f32(3), i32(0, 3, 5, 1), f32(5)]),
    "scatter_max": (lambda x, i, u: lax.scatter_max(x, i, u, axes=(1,), mode="clip"),
                    [f32(2, 3), i32(-1, 4, 2, 1), f32(2, 2)]),
    "reduce_sum": (lambda x: lax.reduce_sum(x, (0, 2)), [f32(2, 3, 4)]),
    "reduce_prod": (lambda x: lax.reduce_prod(x, (1,)), [f32(2, 3)]),
    "reduce_max": (lambda x: lax.reduce_max(x, (0,)), [f32(3, 2)]),
    "reduce_min": (lambda x: lax.reduce_min(x, (0, 1)), [i32(-9, 9, 3, 2)]),
    "reduce_and": (lambda x: lax.reduce_and(x, (1,)), [bools(3, 2)]),
    "reduce_or": (lambda x: lax.reduce_or(x, (0,)), [bools(3, 2)]),
    "argmax": (lambda x: lax.argmax(x, 1, np.int32), [f32(3, 4)]),
    "argmin": (lambda x: lax.argmin(x, 0, np.int32), [f32(3, 4)]),
    "cumsum": (lambda x: lax.cumsum(x, 0, reverse=True), [f32(3, 4)]),
    "cumprod": (lambda x: lax.cumprod(x, 1), [f32(3, 4)]),
    "cummax": (lambda x: lax.cummax(x, 1), [f32(3, 4)]),
    "cummin": (lambda x: lax.cummin(x, 0, reverse=True), [i32(-5, 5, 4)]),
    "matmul": (lambda a, b: lax.dot(a, b), [f32(2, 3), f32(3, 4)]),
    "vector_dot": (lambda a, b: lax.dot(a, b), [f32(3), f32(3)]),
    "dot_general_batch": (lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
                          [f32(2, 3, 4), f32(2, 4, 5)]),
    "dot_general_outer": (lambda a, b: lax.dot_general(a, b, (((), ()), ((), ()))),
                          [f32(2, 3), f32(4)]),
    "sort": (lambda x: lax.sort(x, 0), [f32(4, 3)]),
    "sort_by_key": (lambda k, v: lax.sort((k, v), 1, num_keys=1), [i32(0, 3, 2, 5), f32(2, 5)]),
    # decompositions (tests/linalg has more): well-conditioned matrices built from the input
    "cholesky": (lambda x: lax.linalg.cholesky(lax.dot(x, x.T) + 3 * np.eye(3, dtype="f")),
                 [f32(3, 3)]),
    "triangular_solve": (lambda a, b: lax.linalg.triangular_solve(
        a + 4 * np.eye(3, dtype="f"), b, left_side=True, lower=True), [f32(3, 3), f32(3, 2)]),
    "lu": (lambda x: lax.linalg.lu(x), [f32(3, 3)]),
    "solve (getrf, getrs)": (lambda a, b: funcjax.numpy.linalg.solve(
        a + 4 * np.eye(3, dtype="f"), b), [f32(3, 3), f32(3, 2)]),
    "lu_pivots_to_permutation": (lambda p: lax.linalg.lu_pivots_to_permutation(p, 5),
                                 [i32(0, 5, 3)]),
    "qr": (lambda x: lax.linalg.qr(x), [f32(4, 3)]),
    "eigh": (lambda x: lax.linalg.eigh(x), [f32(3, 3)]),
    "svd": (lambda x: lax.linalg.svd(x, full_matrices=False), [f32(4, 3)]),
    "eig": (lambda x: lax.linalg.eig(x), [f32(3, 3)]),
    "threefry2x32": (lambda *w: threefry2x32_p.bind(*w),
                     [lambda rng: rng.integers(0, 2 ** 32, (3,), dtype=np.uint32)] * 4),
    "fft": (lambda x: fft.fft(x, "RFFT", (4,)), [f32(3, 4)]),
}


def axis_choices(rank):
    return [0, None] if rank == 0 else [0, -1, None]


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_rule_matches_loop(name):
    fun, samplers = CASES[name]
    rng = np.random.default_rng(0)
    ranks = [np.ndim(s(rng)) for s in samplers]
    for in_axes in itertools.product(*map(axis_choices, ranks)):
        if all(ax is None for ax in in_axes):
            continue
        args = [vt.batched(s, ax, rng) for s, ax in zip(samplers, in_axes)]
        for out_axes in (0, -1):
            expected = vt.loop_vmap(fun, in_axes, args, out_axes)
            actual = funcjax.vmap(fun, in_axes, out_axes)(*args)
            vt.assert_trees_equal(actual, expected)


def shipped_primitives():
    """The primitives of funcjax.ops (tests elsewhere may register their own)."""
    import types

    import funcjax.ops
    from funcjax.core.primitive import Primitive
    modules = [m for m in vars(funcjax.ops).values() if isinstance(m, types.ModuleType)]
    return {p.name: p for module in modules for p in vars(module).values()
            if isinstance(p, Primitive)}


def test_every_primitive_has_a_case():
    """A new primitive needs a case here, unless it shares the elementwise rule (tested through
    the representatives above), is a collective (test_vmap_collectives.py) or is a
    higher-order primitive (test_vmap_compose.py)."""
    from funcjax.ops import collectives
    tested = set()
    for fun, samplers in CASES.values():
        rng = np.random.default_rng(0)
        args = [s(rng) for s in samplers]
        tested |= {e.primitive.name for e in funcjax.make_jaxpr(fun)(*args).jaxpr.eqns}
    primitives = shipped_primitives()
    shared = {name for name, p in primitives.items()
              if getattr(p.rules["batch"], "__qualname__", "").startswith("elementwise_batch_rule")}
    collective = {name for name, p in primitives.items() if vars(collectives).get(
        name + "_p") is p}
    higher_order = {"custom_jvp_call", "custom_vjp_call", "custom_lin", "jit",
                    "cond", "while", "scan",  # control flow: tests/control_flow/test_vmap.py
                    "pmap",  # tests/pmap/test_pmap_compose.py
                    "callback"}  # host callbacks: tests/debug/test_callbacks.py
    assert set(primitives) - shared - collective - higher_order - tested == set()


def test_every_primitive_has_a_batch_rule():
    missing = set(funcjax.core.primitive.coverage().missing("batch"))
    assert missing & set(shipped_primitives()) == set()
