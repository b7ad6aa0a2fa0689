"""vmap composed with the other transformations: vmap of grad/jvp/vjp, grad of vmap, Jacobians
as one batched pass over a function traced once, collectives under grad, the higher-order
primitives of autodiff (custom_jvp, custom_vjp, checkpoint) and jit under vmap."""

import numpy as np
import vmap_testing as vt

import funcjax
import funcjax.numpy as jnp
from funcjax import grad, jacfwd, jacrev, jvp, lax, vjp, vmap

rng = np.random.default_rng(0)


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def loss(params, x, y):
    pred = jnp.tanh(jnp.matmul(params["w"], x) + params["b"])
    return jnp.sum((pred - y) ** 2)


def test_per_example_gradients():
    params = {"w": normal(2, 3), "b": normal(2)}
    xs, ys = normal(5, 3), normal(5, 2)
    per_example = vmap(grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    ref = vt.loop_vmap(lambda x, y: grad(loss)(params, x, y), (0, 0), [xs, ys])
    vt.assert_trees_equal(per_example, ref)


def test_grad_of_vmap_is_the_sum_of_per_example_gradients():
    params = {"w": normal(2, 3), "b": normal(2)}
    xs, ys = normal(5, 3), normal(5, 2)
    total = grad(lambda p: jnp.sum(vmap(loss, (None, 0, 0))(p, xs, ys)))(params)
    per_example = vt.loop_vmap(lambda x, y: grad(loss)(params, x, y), (0, 0), [xs, ys])
    vt.assert_trees_equal(total, {k: v.sum(0) for k, v in per_example.items()})


def test_vmap_of_jvp_and_vjp():
    def f(x):
        return jnp.sin(x) * jnp.sum(x ** 2)

    xs, ts = normal(4, 3), normal(4, 3)
    pushed = vmap(lambda x, t: jvp(f, (x,), (t,)))(xs, ts)
    vt.assert_trees_equal(pushed, vt.loop_vmap(lambda x, t: jvp(f, (x,), (t,)), (0, 0),
                                               [xs, ts]))
    pulled = vmap(lambda x, ct: vjp(f, x)[1](ct), in_axes=(0, 1))(xs, ts.T)
    vt.assert_trees_equal(pulled, vt.loop_vmap(lambda x, ct: vjp(f, x)[1](ct), (0, 1),
                                               [xs, ts.T]))


def test_jacobians_trace_the_function_once_and_run_batched():
    calls = []

    def f(x, y):
        calls.append(None)
        return jnp.sin(x) * y[0] + jnp.cumsum(x)

    for jacobian in (jacfwd, jacrev):
        sizes = {}
        for n in (3, 12):
            x, y = normal(n), normal(2)
            calls.clear()
            jac = jacobian(f)(x, y)
            assert len(calls) == 1
            expected = np.diag(np.cos(x) * y[0]) + np.tril(np.ones((n, n), np.float32))
            vt.assert_trees_equal(jac, expected)
            sizes[n] = len(funcjax.make_jaxpr(jacobian(f))(x, y).jaxpr.eqns)
        # One batched pass: the program does not grow with the number of basis vectors.
        assert sizes[3] == sizes[12]


def test_jacfwd_equals_jacrev_on_pytrees_with_integer_leaves():
    def f(p, k):
        return {"a": jnp.tanh(p["u"] @ p["v"]) * k, "b": jnp.sum(p["u"] ** 3, axis=0)}

    p, k = {"u": normal(2, 3), "v": normal(3)}, np.int32(2)
    vt.assert_trees_equal(jacfwd(f)(p, k), jacrev(f)(p, k))


def test_hessian_is_forward_over_reverse():
    def g(x):
        return jnp.sum(jnp.sin(x) * x[0])

    x = normal(3)
    vt.assert_trees_equal(funcjax.hessian(g)(x), jacfwd(jacfwd(g))(x))


def test_collectives_under_grad_match_jax():
    xs = np.arange(1.0, 4.0, dtype=np.float32)
    # Reference values computed with JAX 0.10 (pmap semantics: psum transposes to psum).
    vt.assert_trees_equal(vmap(grad(lambda x: x * lax.psum(x, "i")), axis_name="i")(xs),
                          np.full(3, 12.0, np.float32))
    vt.assert_trees_equal(vmap(grad(lambda x: lax.psum(x * x, "i")), axis_name="i")(xs),
                          np.array([6.0, 12.0, 18.0], np.float32))
    total = grad(lambda v: jnp.sum(vmap(lambda x: x * lax.psum(x, "i"), axis_name="i")(v)))
    vt.assert_trees_equal(total(xs), np.full(3, 12.0, np.float32))
    gathered = vmap(grad(lambda x: jnp.sum(lax.all_gather(x, "i") ** 2)), axis_name="i")
    vt.assert_trees_equal(gathered(xs), np.array([6.0, 12.0, 18.0], np.float32))


def test_custom_jvp_under_vmap():
    @funcjax.custom_jvp
    def soft(x):
        return jnp.log1p(jnp.exp(x))

    @soft.defjvp
    def soft_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return soft(x), t * 2.0  # a deliberately wrong rule, to see that it is used

    xs, ts = normal(4), normal(4)
    vt.assert_trees_equal(vmap(soft)(xs), np.log1p(np.exp(xs)))
    vt.assert_trees_equal(vmap(lambda x, t: jvp(soft, (x,), (t,))[1])(xs, ts), 2.0 * ts)
    vt.assert_trees_equal(vmap(grad(soft))(xs), np.full(4, 2.0, np.float32))
    vt.assert_trees_equal(grad(lambda v: jnp.sum(vmap(soft)(v)))(xs),
                          np.full(4, 2.0, np.float32))


def test_custom_vjp_under_vmap():
    @funcjax.custom_vjp
    def clip_grad(x, scale):
        return x * scale

    clip_grad.defvjp(lambda x, scale: (x * scale, scale),
                     lambda scale, ct: (jnp.clip(ct * scale, -1.0, 1.0), None))
    xs, scales = normal(4), np.abs(normal(4)) * 3
    expected = np.clip(scales, -1.0, 1.0)
    vt.assert_trees_equal(vmap(grad(clip_grad))(xs, scales), expected)
    summed = grad(lambda v: jnp.sum(vmap(clip_grad)(v, scales)))(xs)
    vt.assert_trees_equal(summed, expected)


def test_checkpoint_under_vmap_and_jacfwd():
    f = funcjax.checkpoint(lambda x: jnp.sin(jnp.sin(x)) * x)
    xs = normal(4, 3)
    per_example = vmap(grad(lambda x: jnp.sum(f(x))))(xs)
    vt.assert_trees_equal(per_example, vt.loop_vmap(grad(lambda x: jnp.sum(f(x))), (0,),
                                                    [xs]))
    vt.assert_trees_equal(jacfwd(f)(xs[0]), jacrev(f)(xs[0]))


def test_vmap_of_jit_is_one_call_of_a_batched_program():
    f = funcjax.jit(lambda x, y: jnp.sin(x) @ y + lax.psum(y, "i")[0])
    xs, y = normal(4, 2, 3), normal(3)
    batched = vmap(f, (0, None), axis_name="i")
    vt.assert_trees_equal(batched(xs, y), np.stack([np.sin(x) @ y + 4 * y[0] for x in xs]),
                          rtol=1e-4)
    (eqn,) = funcjax.make_jaxpr(batched)(xs, y).jaxpr.eqns
    assert eqn.primitive.name == "jit"
    assert eqn.params["jaxpr"].in_avals[0].shape == (4, 2, 3)
    # The batched program is memoised, so jit compiles it once.
    again = funcjax.make_jaxpr(batched)(xs, y).jaxpr.eqns[0]
    assert again.params["jaxpr"] is eqn.params["jaxpr"]


def test_jit_of_vmap():
    f = funcjax.jit(vmap(lambda x: jnp.sum(jnp.cos(x) * x)))
    xs = normal(3, 5)
    vt.assert_trees_equal(f(xs), (np.cos(xs) * xs).sum(1), rtol=1e-4)
