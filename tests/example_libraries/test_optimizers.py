"""optimizers: each update rule against a numpy transcription of its formula, schedules,
gradient clipping, the state as a pytree (jit, pack/unpack round trip), and training an MLP
built with stax to a loss threshold with sgd and with adam."""

import math
import pickle

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import random
from funcjax.example_libraries import optimizers, stax

G = [np.array([0.5, -1.0, 2.0], np.float32), np.array([0.1, 0.0, -0.3], np.float32),
     np.array([-0.2, 0.4, 1.0], np.float32)]
X0 = np.array([1.0, 2.0, -1.0], np.float32)


def _numpy_sgd(lr):
    def run(x, grads):
        for g in grads:
            x = x - lr * g
        return x
    return run


def _numpy_momentum(lr, mass, nesterov=False):
    def run(x, grads):
        v = np.zeros_like(x)
        for g in grads:
            v = mass * v + g
            x = x - lr * (mass * v + g if nesterov else v)
        return x
    return run


def _numpy_adam(lr, b1=0.9, b2=0.999, eps=1e-8):
    def run(x, grads):
        m = v = np.zeros_like(x)
        for i, g in enumerate(grads):
            m = (1 - b1) * g + b1 * m
            v = (1 - b2) * g * g + b2 * v
            mh, vh = m / (1 - b1 ** (i + 1)), v / (1 - b2 ** (i + 1))
            x = x - lr * mh / (np.sqrt(vh) + eps)
        return x
    return run


def _numpy_adamax(lr, b1=0.9, b2=0.999, eps=1e-8):
    def run(x, grads):
        m = u = np.zeros_like(x)
        for i, g in enumerate(grads):
            m = (1 - b1) * g + b1 * m
            u = np.maximum(b2 * u, np.abs(g))
            x = x - lr / (1 - b1 ** (i + 1)) * m / (u + eps)
        return x
    return run


def _numpy_rmsprop(lr, gamma=0.9, eps=1e-8, momentum=None):
    def run(x, grads):
        avg = mom = np.zeros_like(x)
        for g in grads:
            avg = avg * gamma + g * g * (1 - gamma)
            step = lr * g / np.sqrt(avg + eps)
            if momentum is None:
                x = x - step
            else:
                mom = momentum * mom + step
                x = x - mom
        return x
    return run


def _numpy_adagrad(lr, momentum=0.9):
    def run(x, grads):
        gsq = m = np.zeros_like(x)
        for g in grads:
            gsq = gsq + g * g
            inv = np.where(gsq > 0, 1 / np.sqrt(np.where(gsq > 0, gsq, 1)), 0)
            m = (1 - momentum) * g * inv + momentum * m
            x = x - lr * m
        return x
    return run


@pytest.mark.parametrize("opt, reference", [
    (optimizers.sgd(0.1), _numpy_sgd(0.1)),
    (optimizers.momentum(0.1, 0.9), _numpy_momentum(0.1, 0.9)),
    (optimizers.nesterov(0.1, 0.9), _numpy_momentum(0.1, 0.9, nesterov=True)),
    (optimizers.adagrad(0.1), _numpy_adagrad(0.1)),
    (optimizers.rmsprop(0.1), _numpy_rmsprop(0.1)),
    (optimizers.rmsprop_momentum(0.1), _numpy_rmsprop(0.1, momentum=0.9)),
    (optimizers.adam(0.1), _numpy_adam(0.1)),
    (optimizers.adamax(0.1), _numpy_adamax(0.1)),
])
def test_update_rules_match_their_formulas(opt, reference):
    init, update, get_params = opt
    state = init({"w": jnp.asarray(X0)})
    for i, g in enumerate(G):
        state = update(i, {"w": jnp.asarray(g)}, state)
    np.testing.assert_allclose(get_params(state)["w"], reference(X0, G), rtol=1e-5, atol=1e-6)


def test_sm3_matches_its_formula_on_a_matrix():
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(2, 3)).astype(np.float32) for _ in range(3)]
    x, m, v0, v1 = np.ones((2, 3)), np.zeros((2, 3)), np.zeros(2), np.zeros(3)
    for g in grads:  # one accumulator per row and per column, combined by their minimum
        accum = np.minimum(v0[:, None], v1[None, :]) + g * g
        m = 0.1 * g / np.sqrt(accum) + 0.9 * m
        x = x - 0.1 * m
        v0, v1 = accum.max(1), accum.max(0)
    init, update, get_params = optimizers.sm3(0.1)
    state = init(jnp.ones((2, 3)))
    for i, g in enumerate(grads):
        state = update(i, jnp.asarray(g), state)
    np.testing.assert_allclose(get_params(state), x, rtol=1e-5)


def test_schedules():
    assert optimizers.constant(0.3)(17) == 0.3
    np.testing.assert_allclose(optimizers.exponential_decay(1.0, 10, 0.5)(20), 0.25)
    np.testing.assert_allclose(optimizers.inverse_time_decay(1.0, 10, 1.0)(5), 1 / 1.5)
    np.testing.assert_allclose(optimizers.inverse_time_decay(1.0, 10, 1.0, True)(15), 0.5)
    np.testing.assert_allclose(optimizers.polynomial_decay(1.0, 10, 0.1)(5), 0.55)
    np.testing.assert_allclose(optimizers.polynomial_decay(1.0, 10, 0.1)(50), 0.1)
    pc = optimizers.piecewise_constant([10, 20], [1.0, 0.5, 0.1])
    np.testing.assert_allclose([pc(i) for i in (0, 10, 11, 20, 21)],
                               [1.0, 1.0, 0.5, 0.5, 0.1])
    with pytest.raises(ValueError, match="one more entry"):
        optimizers.piecewise_constant([1, 2], [1.0, 2.0])
    with pytest.raises(TypeError, match="step size"):
        optimizers.sgd([0.1, 0.2])
    init, update, get_params = optimizers.sgd(optimizers.exponential_decay(1.0, 1, 0.5))
    state = update(2, jnp.ones(2), init(jnp.zeros(2)))
    np.testing.assert_allclose(get_params(state), [-0.25, -0.25])


def test_l2_norm_and_clip_grads():
    tree = {"a": jnp.array([3.0, 0.0]), "b": [jnp.array([[4.0]])]}
    np.testing.assert_allclose(optimizers.l2_norm(tree), 5.0)
    clipped = optimizers.clip_grads(tree, 1.0)
    np.testing.assert_allclose(optimizers.l2_norm(clipped), 1.0, rtol=1e-6)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0], rtol=1e-6)
    same = optimizers.clip_grads(tree, 10.0)
    np.testing.assert_allclose(same["b"][0], [[4.0]])


def test_state_is_a_pytree_through_jit_and_pack_unpack_round_trips():
    init, update, get_params = optimizers.adam(0.05)
    params = {"w": jnp.ones((2, 2)), "b": (jnp.zeros(2), jnp.array(1.0))}
    state = init(params)
    step = funcjax.jit(update)
    grads = funcjax.tree_util.tree_map(jnp.ones_like, params)
    for i in range(3):
        state = step(i, grads, state)
    eager = init(params)
    for i in range(3):
        eager = update(i, grads, eager)
    for a, b in zip(funcjax.tree_util.tree_leaves(state), funcjax.tree_util.tree_leaves(eager)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    plain = optimizers.unpack_optimizer_state(state)
    restored = optimizers.pack_optimizer_state(pickle.loads(pickle.dumps(plain)))
    assert restored.tree_def == state.tree_def and restored.subtree_defs == state.subtree_defs
    for a, b in zip(funcjax.tree_util.tree_leaves(restored),
                    funcjax.tree_util.tree_leaves(state)):
        np.testing.assert_array_equal(a, b)
    after = update(3, grads, restored)
    np.testing.assert_allclose(get_params(after)["w"], get_params(update(3, grads, state))["w"])


def test_mismatched_gradient_tree_is_an_error():
    init, update, _ = optimizers.sgd(0.1)
    with pytest.raises(TypeError, match="does not match"):
        update(0, [jnp.ones(2)], init({"w": jnp.ones(2)}))


def _task(n=256, d=10, classes=3):
    key = random.PRNGKey(0)
    kx, kw = random.split(key)
    x = random.normal(kx, (n, d))
    labels = jnp.argmax(x @ random.normal(kw, (d, classes)), axis=1)
    return x, labels, jnp.eye(classes)[labels]


@pytest.mark.parametrize("opt, steps, threshold", [(optimizers.sgd(0.5), 150, 0.25),
                                                   (optimizers.adam(0.01), 150, 0.1)])
def test_stax_mlp_trains_below_a_loss_threshold(opt, steps, threshold):
    x, labels, targets = _task()
    init_fn, apply_fn = stax.serial(stax.Dense(32), stax.Relu, stax.Dense(3), stax.LogSoftmax)
    _, params = init_fn(random.PRNGKey(1), (-1, 10))

    def loss(p):
        return -jnp.mean(jnp.sum(apply_fn(p, x) * targets, axis=-1))
    opt_init, opt_update, get_params = opt

    @funcjax.jit
    def update(i, state):
        value, grads = funcjax.value_and_grad(loss)(get_params(state))
        return opt_update(i, grads, state), value
    state = opt_init(params)
    first = None
    for i in range(steps):
        state, value = update(i, state)
        first = float(value) if first is None else first
    final = float(loss(get_params(state)))
    assert first > math.log(3) * 0.8 and final < threshold
    accuracy = np.mean(np.argmax(apply_fn(get_params(state), x), 1) == np.asarray(labels))
    assert accuracy > 0.95
