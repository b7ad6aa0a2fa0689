"""Mixed precision: float16 training with float32 master weights and dynamic loss scaling
reaches float32's loss; loss scaling rescues gradients that underflow in float16; the dynamic
scale halves on overflow (skipping that step) and grows after a period of finite steps."""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import mixed_precision as mp
from funcjax import nn, random
from funcjax.example_libraries import optimizers

F32 = mp.get_policy("params=float32,compute=float32,output=float32")
F16 = mp.get_policy("params=float32,compute=float16,output=float32")


def _data():
    kx, kw = random.split(random.PRNGKey(0))
    x = random.normal(kx, (256, 8))
    labels = jnp.argmax(x @ random.normal(kw, (8, 3)), axis=1)
    return x, jnp.eye(3)[labels]


def _init():
    k1, k2 = random.split(random.PRNGKey(1))
    return {"w1": nn.initializers.he_normal()(k1, (8, 32)), "b1": jnp.zeros(32),
            "w2": nn.initializers.glorot_normal()(k2, (32, 3)), "b2": jnp.zeros(3)}


def _loss(policy, params, x, targets):
    p, x = policy.cast_to_compute(params), policy.cast_to_compute(x)
    h = nn.relu(mp.matmul(x, p["w1"]) + p["b1"])
    logits = policy.cast_to_output(mp.matmul(h, p["w2"]) + p["b2"])
    return -mp.mean(jnp.sum(nn.log_softmax(logits) * targets, axis=-1))


def _train(policy, loss_scale, steps=120):
    x, targets = _data()
    opt_init, opt_update, get_params = optimizers.adam(1e-2)

    @funcjax.jit
    def step(i, state, scale):
        params = get_params(state)
        grads = funcjax.grad(lambda p: scale.scale(_loss(policy, p, x, targets)))(params)
        grads = scale.unscale(grads)
        finite = mp.all_finite(grads)
        new_state = mp.select_tree(finite, opt_update(i, grads, state), state)
        return new_state, scale.adjust(finite)

    state, scale = opt_init(_init()), loss_scale
    for i in range(steps):
        state, scale = step(i, state, scale)
    params = get_params(state)
    assert all(p.dtype == np.float32 for p in funcjax.tree_util.tree_leaves(params))
    return float(_loss(F32, params, x, targets)), scale


def test_float16_training_reaches_float32_loss():
    loss32, _ = _train(F32, mp.NoOpLossScale())
    loss16, scale = _train(F16, mp.DynamicLossScale(2.0 ** 15, period=50))
    assert loss32 < 0.1
    assert abs(loss16 - loss32) < 0.005 + 0.1 * loss32
    assert float(scale.loss_scale) >= 1.0


def test_static_loss_scale_training():
    loss32, _ = _train(F32, mp.NoOpLossScale(), steps=60)
    loss16, _ = _train(F16, mp.StaticLossScale(256.0), steps=60)
    assert abs(loss16 - loss32) < 0.02 + 0.25 * loss32


def test_loss_scaling_rescues_gradients_that_underflow_in_float16():
    w = jnp.ones(4)

    def loss(w):  # a gradient of 1e-8 per weight: below float16's smallest subnormal
        return jnp.sum(F16.cast_to_compute(w) * jnp.float16(1e-4) * jnp.float16(1e-4))
    assert np.all(np.asarray(funcjax.grad(loss)(w)) == 0)
    scale = mp.StaticLossScale(2.0 ** 14)
    rescued = scale.unscale(funcjax.grad(lambda w: scale.scale(loss(w)))(w))
    np.testing.assert_allclose(rescued, np.full(4, 1e-8), rtol=2e-2)


def test_dynamic_loss_scale_rules():
    s = mp.DynamicLossScale(1024.0, period=3, factor=2, min_loss_scale=1.0)
    s = s.adjust(jnp.asarray(False))
    assert float(s.loss_scale) == 512.0 and int(s.counter) == 0
    for _ in range(2):
        s = s.adjust(jnp.asarray(True))
    assert float(s.loss_scale) == 512.0 and int(s.counter) == 2
    s = s.adjust(jnp.asarray(True))
    assert float(s.loss_scale) == 1024.0 and int(s.counter) == 0
    low = mp.DynamicLossScale(1.0).adjust(jnp.asarray(False))
    assert float(low.loss_scale) == 1.0


def test_non_finite_step_is_skipped():
    init, update, get_params = optimizers.sgd(0.1)
    state = init({"w": jnp.ones(3)})
    grads = {"w": jnp.array([1.0, np.inf, 0.0])}
    finite = mp.all_finite(grads)
    assert not bool(finite)
    kept = mp.select_tree(finite, update(0, grads, state), state)
    np.testing.assert_array_equal(get_params(kept)["w"], np.ones(3))


def test_matmul_and_sum_accumulate_in_float32():
    a = jnp.full((1, 4096), 0.1, jnp.float16)
    b = jnp.ones((4096, 1), jnp.float16)
    exact = 4096 * float(np.float16(0.1))
    for out in (mp.matmul(a, b), funcjax.jit(mp.matmul)(a, b)):
        assert out.dtype == np.float16
        assert abs(float(out[0, 0]) - exact) <= 0.5 * float(np.spacing(np.float16(exact)))
    chain = np.float16(0)
    for _ in range(4096):  # a float16 accumulator drifts by far more
        chain = np.float16(chain + np.float16(0.1))
    assert abs(float(chain) - exact) > 10
    s = mp.sum(jnp.full(4096, 0.1, jnp.float16))
    assert s.dtype == np.float32 and abs(float(s) - exact) < 1e-2


def test_policy_parsing_and_casts():
    p = mp.get_policy("p=f32,c=f16,o=f32")
    assert p == F16
    tree = {"w": jnp.ones(2), "step": jnp.asarray(3)}
    cast = p.cast_to_compute(tree)
    assert cast["w"].dtype == np.float16 and cast["step"].dtype == np.int32
    with pytest.raises(ValueError, match="cannot parse"):
        mp.get_policy("compute=float8")


def test_gradient_of_a_float32_accumulating_matmul_of_float16_operands():
    rng = np.random.default_rng(0)
    a, b = (rng.normal(size=s).astype(np.float16) for s in ((3, 5), (5, 2)))
    c = rng.normal(size=(3, 2)).astype(np.float32)

    def f(a, b):
        out = funcjax.lax.dot(a, b, preferred_element_type=jnp.float32)
        return jnp.sum(out * c)
    ga, gb = funcjax.grad(f, argnums=(0, 1))(jnp.asarray(a), jnp.asarray(b))
    assert ga.dtype == gb.dtype == np.float16
    np.testing.assert_allclose(ga, c @ b.astype(np.float32).T, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(gb, a.astype(np.float32).T @ c, rtol=2e-3, atol=2e-3)
