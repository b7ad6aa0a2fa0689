"""funcjax.random reproduces JAX's bit streams: the published threefry-2x32 test vectors and
values JAX 0.10.2 returned for the same calls (tests/rng/jax_values.py).

Integer outputs (keys, bits, randint, permutations, choices, Poisson counts) must be equal.
Floats built from bits alone (uniform, exponential, ...) are equal too; those that go through
log, tan, erf or erf_inv may differ from XLA's own implementations of them by an ulp or two.
"""

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import random
from funcjax.random._threefry import threefry2x32

from .jax_values import JAX_VALUES

# Random123's known-answer vectors for threefry2x32 with 20 rounds: (key, counter, output).
RANDOM123_KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _u32(v):
    return jnp.asarray(np.array(v, np.uint32))


@pytest.mark.parametrize("key, counter, expected", RANDOM123_KAT)
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_threefry_random123_vectors(key, counter, expected, mode):
    fn = threefry2x32 if mode == "eager" else funcjax.jit(threefry2x32)
    out = fn(_u32(key[0]), _u32(key[1]), _u32([counter[0]]), _u32([counter[1]]))
    assert [int(np.asarray(o)[0]) for o in out] == list(expected)


P = jnp.array([.1, .2, .3, .25, .15])
CALLS = {
    "key_m1": lambda k: random.PRNGKey(-1),
    "key_big": lambda k: random.PRNGKey(2 ** 32 + 5),
    "split": lambda k: random.split(k),
    "split_2x3": lambda k: random.split(k, (2, 3)),
    "fold_in_7": lambda k: random.fold_in(k, 7),
    "fold_in_max": lambda k: random.fold_in(k, 2 ** 32 - 1),
    "bits32": lambda k: random.bits(k, (2, 3)),
    "bits8": lambda k: random.bits(k, (7,), jnp.uint8),
    "bits16": lambda k: random.bits(k, (7,), jnp.uint16),
    "uniform": lambda k: random.uniform(k, (8,)),
    "uniform_range": lambda k: random.uniform(k, (2, 3), minval=-2.,
                                              maxval=jnp.array([1., 2., 3.])),
    "uniform_f16": lambda k: random.uniform(k, (6,), jnp.float16),
    "normal": lambda k: random.normal(k, (64,)),
    "normal_f16": lambda k: random.normal(k, (6,), jnp.float16),
    "randint": lambda k: random.randint(k, (10,), 0, 10),
    "randint_neg": lambda k: random.randint(k, (6,), -100, 1000),
    "randint_u8": lambda k: random.randint(k, (6,), 0, 256, jnp.uint8),
    "randint_i8": lambda k: random.randint(k, (6,), -128, 127, jnp.int8),
    "randint_vec": lambda k: random.randint(k, (2, 3), jnp.array([0, 5, 10]), 20),
    "perm10": lambda k: random.permutation(k, 10),
    "perm2000": lambda k: random.permutation(k, 2000)[:12],  # two sorting rounds
    "perm_arr": lambda k: random.permutation(k, jnp.arange(12.).reshape(4, 3)),
    "perm_arr_ax1": lambda k: random.permutation(k, jnp.arange(12.).reshape(3, 4), axis=1),
    "perm_indep": lambda k: random.permutation(k, jnp.arange(12.).reshape(3, 4), axis=1,
                                               independent=True),
    "choice_repl": lambda k: random.choice(k, 10, (6,)),
    "choice_norepl": lambda k: random.choice(k, 10, (6,), replace=False),
    "choice_p": lambda k: random.choice(k, 5, (6,), p=P),
    "choice_p_norepl": lambda k: random.choice(k, 5, (3,), replace=False, p=P),
    "choice_arr": lambda k: random.choice(k, jnp.arange(20.).reshape(5, 4), (2,), axis=1),
    "gumbel": lambda k: random.gumbel(k, (6,)),
    "categorical": lambda k: random.categorical(k, jnp.log(jnp.array([.1, .2, .3, .4])),
                                                shape=(8,)),
    "categorical_batch": lambda k: random.categorical(
        k, jnp.array([[0., 1., 2.], [2., 1., 0.]]), axis=-1),
    "categorical_norepl": lambda k: random.categorical(k, jnp.array([0., 1., 2., 3., 4.]),
                                                       shape=(3,), replace=False),
    "bernoulli": lambda k: random.bernoulli(k, 0.3, (10,)),
    "exponential": lambda k: random.exponential(k, (6,)),
    "laplace": lambda k: random.laplace(k, (6,)),
    "logistic": lambda k: random.logistic(k, (6,)),
    "cauchy": lambda k: random.cauchy(k, (6,)),
    "truncated_normal": lambda k: random.truncated_normal(k, -1., 2., (6,)),
    "gamma": lambda k: random.gamma(k, jnp.array([0.5, 1., 2., 5., 0.1, 10.])),
    "loggamma": lambda k: random.loggamma(k, jnp.array([0.5, 1., 2., 5.])),
    "beta": lambda k: random.beta(k, 2., 3., (5,)),
    "dirichlet": lambda k: random.dirichlet(k, jnp.array([1., 2., 3.]), (2,)),
    "poisson_small": lambda k: random.poisson(k, 3., (8,)),
    "poisson_large": lambda k: random.poisson(k, 50., (8,)),
    "mvn": lambda k: random.multivariate_normal(k, jnp.array([1., -1.]),
                                                jnp.array([[2., .5], [.5, 1.]]), (3,)),
}
# Floats that must match to the bit (no transcendental function between bits and result).
EXACT_FLOATS = {"uniform", "uniform_f16", "normal_f16", "exponential", "logistic"}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_matches_jax(name):
    dtype, shape, values = JAX_VALUES[name]
    want = np.array(values, dtype=dtype).reshape(shape)
    got = np.asarray(CALLS[name](random.PRNGKey(42)))
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind != "f" or name in EXACT_FLOATS:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=4e-7, atol=1e-7)


def test_known_answers_cover_every_entry():
    assert set(CALLS) == set(JAX_VALUES)


@pytest.mark.parametrize("seed, expected", [(0, [0, 0]), (1, [0, 1]), (42, [0, 42]),
                                            (2 ** 31 - 1, [0, 2 ** 31 - 1]),
                                            (2 ** 40, [0, 0])])
def test_prngkey_layout(seed, expected):
    key = random.PRNGKey(seed)
    assert key.dtype == np.uint32 and key.shape == (2,)
    assert np.asarray(key).tolist() == expected


def test_prngkey_x64_keeps_high_word(x64):
    assert np.asarray(random.PRNGKey(2 ** 40 + 3)).tolist() == [256, 3]


def test_typed_keys_share_the_legacy_stream():
    typed, legacy = random.key(42), random.PRNGKey(42)
    assert typed.shape == () and str(typed.dtype) == "key<fry>"
    np.testing.assert_array_equal(random.key_data(typed), legacy)
    k1, k2 = random.split(typed)
    np.testing.assert_array_equal(random.key_data(k2), random.split(legacy)[1])
    np.testing.assert_array_equal(random.uniform(k1, (4,)),
                                  random.uniform(random.split(legacy)[0], (4,)))
    wrapped = random.wrap_key_data(np.asarray(legacy))
    np.testing.assert_array_equal(random.normal(wrapped, (3,)), random.normal(legacy, (3,)))


def test_threefry_primitive_eager_jit_and_vmap_agree_on_random_words():
    from funcjax.ops.random_bits import threefry2x32_p
    words = [_u32(np.random.default_rng(i).integers(0, 2 ** 32, size=(3, 5), dtype=np.uint32))
             for i in range(4)]
    eager = threefry2x32_p.bind(*words)
    jitted = funcjax.jit(lambda *w: threefry2x32_p.bind(*w))(*words)
    batched = funcjax.vmap(lambda k1, x1: threefry2x32_p.bind(k1, words[1][0], x1, words[3][0]),
                           in_axes=(0, 0))(words[0], words[2])
    for e, j in zip(eager, jitted):
        np.testing.assert_array_equal(e, j)
    for row in range(3):
        single = threefry2x32_p.bind(words[0][row], words[1][0], words[2][row], words[3][0])
        for b, s in zip(batched, single):
            np.testing.assert_array_equal(b[row], s)
    jaxpr = funcjax.make_jaxpr(lambda k: random.normal(k, (4,)))(random.PRNGKey(0))
    assert str(jaxpr).count("threefry2x32") == 1


def test_typed_key_arrays_index_like_arrays_of_keys():
    keys = random.split(random.key(0), 4).reshape(2, 2)
    assert keys.shape == (2, 2) and keys[1].shape == (2,) and keys[..., 0].shape == (2,)
    assert keys[jnp.array([0, 1]), 1].shape == (2,) and keys[1:].shape == (1, 2)
    assert [k.shape for k in keys[0]] == [(), ()]
    np.testing.assert_array_equal(random.key_data(keys[1, 0]),
                                  random.split(random.PRNGKey(0), 4)[2])
