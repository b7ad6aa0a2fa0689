"""jit composes with the other transformations: ``grad(jit(f))``, ``jvp(jit(f))``,
``hessian(jit(f))``, ``linear_transpose(jit(f))`` give the values of the eager transformations
and of finite differences, and run as compiled programs (counted: compiles stay constant over
repeated calls, eager dispatches do not grow with the program)."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax import lax
from funcjax.backend.llvm import compiler
from funcjax.interpreters.remat import checkpoint_name

S = (2, 3)

UNARY = {
    "sin": lax.sin, "tanh": lax.tanh, "logistic": lax.logistic,
    "exp_tanh": lambda a: lax.exp(lax.tanh(a)),
    "half_square": lambda a: lax.integer_pow(a, 2) * 0.5,
    "rational": lambda a: a / (1.0 + a * a),
    "hypot": lambda a: lax.sqrt(1.0 + a * a),
    "rev": lambda a: lax.rev(a, (1,)),
    "cumsum": lambda a: lax.cumsum(a, 1) * 0.5,
    "sum_bcast": lambda a: lax.broadcast_in_dim(lax.reduce_sum(a, (0,)), S, (1,)),
    "max_bcast": lambda a: lax.broadcast_in_dim(lax.reduce_max(a, (1,)), S, (0,)),
    "transpose_reshape": lambda a: lax.reshape(lax.transpose(a, (1, 0)), S),
    "pad_slice": lambda a: lax.slice(lax.pad(a, 0.5, ((1, 0, 0), (0, 2, 1))), (0, 0), S),
}

BINARY = {
    "add": lax.add, "mul": lax.mul, "sub": lax.sub, "max": lax.max,
    "div": lambda a, b: a / (2.0 + lax.sin(b)),
    "select": lambda a, b: lax.select(lax.lt(a, b), a * 2.0, b),
    "matmul": lambda a, b: lax.tanh(lax.dot(lax.dot_general(a, b, (((1,), (1,)), ((), ()))),
                                            a)),
    "concat_slice": lambda a, b: lax.slice(lax.concatenate([a, b], 1), (0, 2), (2, 5)),
}


@st.composite
def programs(draw):
    """A scalar function of two (2, 3) arrays: each step applies an operation to the latest
    value (and maybe an earlier one); the result weighs every value, so every step matters."""
    steps = []
    for k in range(draw(st.integers(1, 5))):
        latest = k + 1
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(UNARY))), (latest,)))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY))),
                          (latest, draw(st.integers(0, latest)))))

    def program(x, y):
        values = [x, y]
        for name, args in steps:
            op = UNARY.get(name) or BINARY[name]
            values.append(op(*[values[i] for i in args]))
        weights = np.linspace(0.5, 1.5, S[0] * S[1]).reshape(S)
        return sum(lax.reduce_sum(v * weights, (0, 1)) for v in values[2:])

    program.__name__ = "_".join(name for name, _ in steps)
    return program


def arguments(seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, S) for _ in range(2)]


def central_difference_grad(f, args, eps=1e-6):
    """The gradient of a scalar ``f`` with respect to each argument, by central differences."""
    grads = []
    for k, a in enumerate(args):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            shifted = []
            for sign in (1, -1):
                moved = [b.copy() for b in args]
                moved[k][idx] += sign * eps
                shifted.append(float(f(*moved)))
            g[idx] = (shifted[0] - shifted[1]) / (2 * eps)
        grads.append(g)
    return grads


def compiles():
    return compiler.stats["compiled"] + compiler.stats["loaded_from_disk"]


# -- values ----------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(programs(), st.integers(0, 2 ** 16))
def test_random_programs_grad_of_jit_equals_jit_of_grad_and_finite_differences(x64, f, seed):
    args = arguments(seed)
    eager = funcjax.grad(f, argnums=(0, 1))(*args)
    paths = {"grad(jit(f))": funcjax.grad(funcjax.jit(f), argnums=(0, 1))(*args),
             "jit(grad(f))": funcjax.jit(funcjax.grad(f, argnums=(0, 1)))(*args)}
    for what, got in paths.items():
        for g, e in zip(got, eager):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=what)
    for g, d in zip(eager, central_difference_grad(f, args)):
        np.testing.assert_allclose(g, d, rtol=1e-5, atol=1e-6, err_msg="finite differences")


@settings(max_examples=6, deadline=None)
@given(programs(), st.integers(0, 2 ** 16))
def test_random_programs_jvp_of_jit_equals_eager_jvp(x64, f, seed):
    args = arguments(seed)
    tangents = arguments(seed + 1)
    out, tangent = funcjax.jvp(funcjax.jit(f), args, tangents)
    want_out, want_tangent = funcjax.jvp(f, args, tangents)
    np.testing.assert_allclose(out, want_out, rtol=1e-12)
    np.testing.assert_allclose(tangent, want_tangent, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    difference = (f(*[a + eps * t for a, t in zip(args, tangents)]) -
                  f(*[a - eps * t for a, t in zip(args, tangents)])) / (2 * eps)
    np.testing.assert_allclose(tangent, difference, rtol=1e-5, atol=1e-6)


def _quartic(x):
    return jnp.sum(jnp.sin(x) * x) + jnp.dot(x, x) ** 2


def _quartic_hessian(x):
    return (np.diag(2 * np.cos(x) - x * np.sin(x)) + 8 * np.outer(x, x)
            + 4 * np.dot(x, x) * np.eye(len(x)))


def test_hessian_jacfwd_jacrev_of_jit_against_the_analytic_derivatives(x64):
    x = np.array([0.3, -1.2, 0.8])
    f = funcjax.jit(_quartic)
    np.testing.assert_allclose(funcjax.hessian(f)(x), _quartic_hessian(x), rtol=1e-12)
    np.testing.assert_allclose(funcjax.jacfwd(funcjax.grad(f))(x), _quartic_hessian(x),
                               rtol=1e-12)
    np.testing.assert_allclose(funcjax.jit(funcjax.hessian(f))(x), _quartic_hessian(x),
                               rtol=1e-12)
    grad_of_sin = funcjax.jit(lambda v: jnp.sin(v) * v)
    want = np.diag(np.cos(x) * x + np.sin(x))
    np.testing.assert_allclose(funcjax.jacfwd(grad_of_sin)(x), want, rtol=1e-12)
    np.testing.assert_allclose(funcjax.jacrev(grad_of_sin)(x), want, rtol=1e-12)


def test_linearize_and_linear_transpose_of_jit(x64):
    a = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])
    linear = funcjax.jit(lambda v: jnp.dot(a, v) * 2.0)
    ct = np.array([0.7, -0.2])
    (got,) = funcjax.linear_transpose(linear, np.zeros(3))(ct)
    np.testing.assert_allclose(got, 2.0 * a.T @ ct, rtol=1e-14)
    x, v = np.array([0.1, 0.5, -0.9]), np.array([1.0, -2.0, 0.5])
    out, f_jvp = funcjax.linearize(funcjax.jit(lambda u: jnp.exp(u) * u), x)
    np.testing.assert_allclose(out, np.exp(x) * x, rtol=1e-14)
    np.testing.assert_allclose(f_jvp(v), (np.exp(x) * x + np.exp(x)) * v, rtol=1e-14)


def test_grad_of_jit_with_integer_inputs_outputs_and_closed_over_tracers(x64):
    def f(x, n):
        return jnp.sum(x ** 2) * n, n * 2
    x = np.array([1.0, -2.0, 0.5])
    (g, count) = funcjax.grad(funcjax.jit(f), has_aux=True)(x, np.int32(3))
    np.testing.assert_allclose(g, 6 * x) and np.testing.assert_array_equal(count, 6)

    def closes_over(s):  # s reaches the inner jit as a closed-over tracer of grad
        return funcjax.jit(lambda v: jnp.sum(jnp.sin(v * s)))(x)
    np.testing.assert_allclose(funcjax.grad(closes_over)(0.7), np.sum(np.cos(x * 0.7) * x),
                               rtol=1e-14)


def test_jit_of_jit_and_grad_of_nested_jits(x64):
    inner = funcjax.jit(lambda v: jnp.tanh(v) * 3.0)
    outer = funcjax.jit(lambda v: jnp.sum(inner(v) * v))
    x = np.array([0.2, -0.4])
    np.testing.assert_allclose(outer(x), np.sum(np.tanh(x) * 3 * x), rtol=1e-14)
    want = 3 * np.tanh(x) + 3 * x / np.cosh(x) ** 2
    np.testing.assert_allclose(funcjax.grad(outer)(x), want, rtol=1e-13)
    np.testing.assert_allclose(funcjax.jit(funcjax.grad(outer))(x), want, rtol=1e-13)


# -- AD's higher-order primitives compiled ---------------------------------------------------
@funcjax.custom_jvp
def clipped_sin(x):
    return jnp.sin(x)


@clipped_sin.defjvp
def _clipped_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jnp.sin(x), jnp.clip(jnp.cos(x), 0.0, 1.0) * t  # not the true derivative


@funcjax.custom_vjp
def scaled_grad(x):
    return x * 1.0


scaled_grad.defvjp(lambda x: (x * 1.0, None), lambda _, ct: (ct * 10.0,))


def test_custom_jvp_custom_vjp_checkpoint_and_names_compiled(x64):
    x = np.array([0.5, 2.5, -1.0])

    def f(v):
        v = funcjax.checkpoint(lambda u: jnp.tanh(checkpoint_name(jnp.exp(u), "e")))(v)
        return jnp.sum(clipped_sin(v) + scaled_grad(v * v))

    def reference(v):
        e = np.tanh(np.exp(v))
        return np.sum(np.sin(e) + e * e)

    jf = funcjax.jit(f)
    np.testing.assert_allclose(jf(x), reference(x), rtol=1e-14)
    e = np.tanh(np.exp(x))
    de = np.exp(x) / np.cosh(np.exp(x)) ** 2
    want = (np.clip(np.cos(e), 0, 1) + 10 * 2 * e) * de  # the custom rules, not the truth
    for grad in (funcjax.grad(jf), funcjax.jit(funcjax.grad(f)), funcjax.grad(f)):
        np.testing.assert_allclose(grad(x), want, rtol=1e-12, atol=1e-12)


def test_forward_mode_through_custom_vjp_under_jit_is_the_eager_error():
    f = funcjax.jit(lambda v: scaled_grad(v) * 2.0)
    x = np.ones(2, np.float32)
    for fun in (f, lambda v: scaled_grad(v) * 2.0):
        with pytest.raises(TypeError, match="forward-mode differentiation .* to 'scaled_grad'"):
            funcjax.jvp(fun, (x,), (x,))


def test_checkpoint_under_jit_recomputes_in_the_compiled_backward_pass():
    def f(v):
        return jnp.sum(funcjax.checkpoint(lambda u: jnp.sin(jnp.sin(u)))(v))
    x = np.ones(3, np.float32)
    closed = funcjax.make_jaxpr(funcjax.grad(funcjax.jit(f)))(x)
    forward, backward = [e for e in closed.eqns if e.primitive.name == "jit"]
    assert len(forward.outputs) == 1  # the value; the only residual is the input itself
    assert closed.jaxpr.invars[0] in backward.inputs
    assert "sin" in str(backward.params["jaxpr"])  # recomputed when transposing
    np.testing.assert_allclose(funcjax.grad(funcjax.jit(f))(x),
                               np.cos(np.sin(x)) * np.cos(x), rtol=1e-6)


def test_residuals_that_are_inputs_or_outputs_are_passed_on_not_copied():
    def f(x):
        y = jnp.exp(x)
        return y, jnp.sum(y * x)
    x = np.array([0.5, -1.0], np.float32)
    closed = funcjax.make_jaxpr(funcjax.vjp(funcjax.jit(f), x)[1])((np.ones(2, np.float32),
                                                                   np.float32(1)))
    assert [e.primitive.name for e in closed.eqns] == ["jit"]
    (ct,) = funcjax.vjp(funcjax.jit(f), x)[1]((np.ones(2, np.float32), np.float32(2)))
    np.testing.assert_allclose(ct, np.exp(x) + 2 * (np.exp(x) * x + np.exp(x)), rtol=1e-6)
    forward = funcjax.make_jaxpr(lambda v: funcjax.vjp(funcjax.jit(f), v)[0])(x).eqns[0]
    assert len(forward.outputs) == 2  # y is an output and a residual, x an input and one


# -- compiled, not interpreted ---------------------------------------------------------------
def _chain(n):
    def f(x):
        for k in range(n):
            x = jnp.sin(x) * (1.0 + 0.1 * k)
        return jnp.sum(x)
    return f


def test_make_jaxpr_of_grad_of_jit_is_made_of_jits():
    closed = funcjax.make_jaxpr(funcjax.grad(funcjax.jit(_chain(3))))(np.ones(4, np.float32))
    names = [e.params["name"] for e in closed.eqns if e.primitive.name == "jit"]
    assert names == ["jvp(f)", "transpose(jvp(f))"]
    assert [e.primitive.name for e in closed.eqns] == ["jit", "jit"]


@pytest.mark.parametrize("transform", [
    lambda f: funcjax.grad(funcjax.jit(f)),
    lambda f: funcjax.jit(funcjax.grad(f)),
    lambda f: functools.partial(lambda g, x: funcjax.jvp(g, (x,), (x,)), funcjax.jit(f)),
    lambda f: funcjax.jacrev(funcjax.jit(f)),
    lambda f: funcjax.hessian(funcjax.jit(f)),
    lambda f: funcjax.jit(funcjax.jit(f)),
], ids=["grad_jit", "jit_grad", "jvp_jit", "jacrev_jit", "hessian_jit", "jit_jit"])
def test_repeated_calls_compile_nothing_new_and_dispatch_a_constant_number_of_ops(
        transform, eager_dispatches):
    x = np.linspace(0.1, 0.4, 4).astype(np.float32)
    counts = []
    for n in (2, 12):  # a program six times longer
        g = transform(_chain(n))
        g(x)
        before, dispatched = compiles(), len(eager_dispatches)
        for _ in range(3):
            g(x)
        assert compiles() == before, "a repeated call compiled again"
        counts.append((len(eager_dispatches) - dispatched) // 3)
    assert counts[0] == counts[1], f"eager dispatches grew with the program: {counts}"
    assert "sin" not in eager_dispatches


# -- vmap ------------------------------------------------------------------------------------
IN_AXES = st.sampled_from([(0, 0), (0, None), (None, 1), (2, 0)])


def loop(f, in_axes, args):
    """The reference for ``vmap(f, in_axes)(*args)``: call ``f`` on each slice and stack."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    results = [f(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)])
               for i in range(size)]
    return [np.stack([np.asarray(r[k]) for r in results]) for k in range(len(results[0]))]


def batched_arguments(in_axes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, S) if ax is None else
            np.moveaxis(rng.uniform(-1, 1, (4,) + S), 0, ax) for ax in in_axes]


@settings(max_examples=8, deadline=None)
@given(programs(), IN_AXES, st.integers(0, 2 ** 16))
def test_random_programs_vmap_of_jit_equals_jit_of_vmap_equals_loop(x64, f, in_axes, seed):
    args = batched_arguments(in_axes, seed)

    def value_and_grads(x, y):
        return [f(x, y), *funcjax.grad(f, argnums=(0, 1))(x, y)]
    want = loop(value_and_grads, in_axes, args)
    paths = {
        "vmap(jit(f))": funcjax.vmap(funcjax.jit(value_and_grads), in_axes)(*args),
        "jit(vmap(f))": funcjax.jit(funcjax.vmap(value_and_grads, in_axes))(*args),
        "vmap(grad(jit(f)))": [funcjax.vmap(funcjax.jit(f), in_axes)(*args), *funcjax.vmap(
            funcjax.grad(funcjax.jit(f), argnums=(0, 1)), in_axes)(*args)],
    }
    for what, got in paths.items():
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=what)


def test_vmap_of_jit_compiles_one_batched_jit_once(eager_dispatches):
    f = funcjax.jit(_chain(5))
    xs = np.linspace(0.1, 0.9, 12).reshape(3, 4).astype(np.float32)
    closed = funcjax.make_jaxpr(funcjax.vmap(f))(xs)
    assert [e.primitive.name for e in closed.eqns] == ["jit"]
    assert closed.eqns[0].params["jaxpr"].in_avals[0].shape == (3, 4)
    batched = funcjax.vmap(f)
    np.testing.assert_allclose(batched(xs), [f(x) for x in xs], rtol=1e-6)
    before, dispatched = compiles(), len(eager_dispatches)
    batched(xs)
    assert compiles() == before and eager_dispatches[dispatched:] == ["jit"]


def test_jit_using_a_named_axis_is_batched_even_when_its_inputs_are_not():
    xs = np.arange(3.0, dtype=np.float32)
    for wrap in (funcjax.jit, funcjax.checkpoint):
        def f(x, wrap=wrap):
            return wrap(lambda y: lax.psum(y, "i"))(np.float32(1)) + x
        np.testing.assert_array_equal(funcjax.vmap(f, axis_name="i")(xs), xs + 3)


def test_a_collective_that_reaches_the_compiler_is_the_eager_unbound_axis_error():
    from funcjax.backend.llvm import program_for
    found = []

    def capture(x):
        found.append(funcjax.make_jaxpr(lambda y: lax.psum(y, "i"))(np.float32(1)))
        return x
    funcjax.vmap(capture, axis_name="i")(np.zeros(2, np.float32))
    with pytest.raises(NameError, match="unbound axis name 'i'"):
        program_for(found[0], "leaked_psum")
