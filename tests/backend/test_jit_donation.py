"""``donate_argnums``: outputs written into donated buffers (no new allocation), donated Arrays
deleted (any later use raises), unusable donations warned about, and no aliasing bugs when
the donated memory is visible elsewhere (numpy arguments, an Array passed twice, views)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings

import funcjax
import funcjax.numpy as jnp
from funcjax import lax

from .helpers import RECIPES, run_recipe


def address(x):
    return np.asarray(x).__array_interface__["data"][0]


def fresh(values, dtype=np.float32):
    """A private Array (its buffer seen by nobody else): what donation can reuse."""
    return jnp.asarray(np.array(values, dtype)) * 1


def step(p, x):
    return p - 0.1 * (p * x)


def test_output_is_written_into_the_donated_buffer():
    f = funcjax.jit(step, donate_argnums=0)
    p, x = fresh(np.arange(5)), fresh(np.ones(5))
    where = address(p)
    out = f(p, x)
    assert p.is_deleted() and not x.is_deleted()
    assert address(out) == where
    np.testing.assert_allclose(out, np.arange(5) * 0.9, rtol=1e-6)
    again = f(out, x)                                # the output is private too: reused again
    assert address(again) == where and out.is_deleted()
    mem = f.lower(again, x).compile().memory_analysis()
    assert (mem.output_size_in_bytes, mem.alias_size_in_bytes, mem.temp_size_in_bytes) == (
        20, 20, 0)


def test_any_use_of_a_deleted_array_raises():
    f = funcjax.jit(step, donate_argnums=0)
    p, x = fresh([1, 2, 3]), fresh([1, 1, 1])
    f(p, x)
    message = r"Array has been deleted with shape=f32\[3\]: it was donated to jit\(step\)"
    uses = [lambda: p + 1, lambda: np.asarray(p), lambda: str(p), lambda: repr(p),
            lambda: print(p), lambda: f"{p}", lambda: jnp.sin(p), lambda: p.sum(),
            lambda: float(p[0]), lambda: bool(p[0] > 0), lambda: p.tolist(),
            lambda: funcjax.jit(jnp.cos)(p), lambda: funcjax.grad(lambda v: v.sum())(p)]
    for use in uses:
        with pytest.raises(RuntimeError, match=message):
            use()
    with pytest.raises(RuntimeError, match="'p': Array has been deleted"):
        f(p, x)                                      # names the argument
    assert p.shape == (3,) and p.dtype == np.float32  # metadata stays readable, as in JAX


def test_array_delete():
    x = fresh([1, 2])
    assert not x.is_deleted()
    x.delete()
    x.delete()                                       # idempotent
    assert x.is_deleted()
    with pytest.raises(RuntimeError, match=r"deleted with Array.delete\(\)"):
        x * 2


def test_training_loop_matches_the_non_donated_version():
    def loss(params, x):
        return jnp.sum(jnp.tanh(x @ params["w"] + params["b"]) ** 2)

    def train_step(params, x):
        grads = funcjax.grad(loss)(params, x)
        return funcjax.tree_util.tree_map(lambda p, g: p - 0.05 * g, params, grads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    init = {"w": rng.standard_normal((4, 4)).astype(np.float32), "b": np.zeros(4, np.float32)}
    plain, donating = funcjax.jit(train_step), funcjax.jit(train_step, donate_argnums=0)
    a = plain(init, x)
    b = donating({k: fresh(v) for k, v in init.items()}, x)
    where = {k: address(v) for k, v in b.items()}
    for _ in range(5):
        old = b
        a, b = plain(a, x), donating(b, x)
        assert all(v.is_deleted() for v in old.values())
        assert {k: address(v) for k, v in b.items()} == where  # no new buffers
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert donating.cache_info().traces == 1


def test_unusable_donation_warns_and_keeps_the_argument():
    f = funcjax.jit(lambda p, q: (p.sum(), q * 2), donate_argnums=(0, 1))
    p, q = fresh([1, 2, 3]), fresh([4, 5])
    with pytest.warns(UserWarning, match=r"jit\(<lambda>\): Some donated buffers were not "
                                         r"usable: 'p' \(f32\[3\]\)"):
        total, doubled = f(p, q)
    assert not p.is_deleted() and q.is_deleted()
    assert float(total) == 6 and doubled.tolist() == [8, 10]


def test_donated_numpy_arrays_and_scalars_are_never_written():
    f = funcjax.jit(lambda p, s: p * s, donate_argnums=(0, 1))
    user = np.arange(4, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # the scalar has no matching output
        out = f(user, 3.0)
    np.testing.assert_array_equal(user, np.arange(4))
    np.testing.assert_array_equal(out, np.arange(4) * 3)
    assert address(out) != address(user)


def test_an_array_passed_twice_is_copied_before_it_is_overwritten():
    f = funcjax.jit(lambda a, b: a + jnp.flip(b), donate_argnums=0)
    x = fresh([1, 2, 3, 4])
    out = f(x, x)                                    # b reads the memory a donates
    np.testing.assert_array_equal(out, [5, 5, 5, 5])
    g = funcjax.jit(lambda a, b: (a * 2, b[::-1] + 0), donate_argnums=(0, 1))
    y = fresh([1, 2, 3])
    doubled, flipped = g(y, y)                       # donated twice: one of them is copied
    assert doubled.tolist() == [2, 4, 6] and flipped.tolist() == [3, 2, 1]


def test_memory_seen_by_views_is_not_overwritten():
    f = funcjax.jit(lambda p: p + 1, donate_argnums=0)
    x = fresh(np.arange(6))
    view = x.reshape(2, 3)                           # eager reshape: shares x's memory
    held = np.asarray(x)                             # a numpy view the user keeps
    assert np.shares_memory(np.asarray(view), held)
    out = f(x)
    np.testing.assert_array_equal(view, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(held, np.arange(6))
    np.testing.assert_array_equal(out, np.arange(6) + 1)


HAZARDS = {
    "transpose": lambda a: a.T,
    "reverse": lambda a: jnp.flip(a, 0),
    "matmul": lambda a: a @ a,
    "cumsum": lambda a: jnp.cumsum(a, axis=1),
    "read after write": lambda a: (a * 2, a.sum() + a),
    "passthrough and more": lambda a: (a + 1, a, a.T),
    "broadcast row": lambda a: a + a[0],
    "loop": lambda a: lax.fori_loop(0, 3, lambda i, v: v @ a, a),
}


@pytest.mark.parametrize("name", HAZARDS)
def test_outputs_that_reread_the_donated_input_are_correct(name):
    fun = HAZARDS[name]
    values = np.arange(9, dtype=np.float32).reshape(3, 3) / 9
    want = fun(jnp.asarray(values))
    got = funcjax.jit(fun, donate_argnums=0)(fresh(values))
    for w, g in zip(*(funcjax.tree_util.tree_leaves(t) for t in (want, got))):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_pointwise_outputs_are_computed_in_place_and_others_through_the_workspace():
    x = fresh(np.ones((4, 4)))
    elementwise = funcjax.jit(lambda a, b: jnp.where(a > 0, a * b, -a), donate_argnums=0)
    transposed = funcjax.jit(lambda a: a.T * 2, donate_argnums=0)
    assert elementwise.lower(x, x).compile().memory_analysis().temp_size_in_bytes == 0
    assert transposed.lower(x).compile().memory_analysis().temp_size_in_bytes == 64
    swap = funcjax.jit(lambda a, b: (b, a), donate_argnums=(0, 1))
    a, b = fresh([1, 2]), fresh([3, 4])
    where = address(a), address(b)
    c, d = swap(a, b)                                # each output is its own input: free
    assert (address(d), address(c)) == where and c.tolist() == [3, 4]


def test_compiled_objects_donate_and_transformations_ignore_donation():
    f = funcjax.jit(step, donate_argnums=0)
    p, x = fresh([1, 2]), fresh([1, 1])
    compiled = f.lower(p, x).compile()
    out = compiled(p, x)
    assert p.is_deleted() and out.tolist() == pytest.approx([0.9, 1.8])
    q = fresh([1, 2])
    grad = funcjax.grad(lambda v: f(v, x).sum())(q)  # staged: no buffers to donate
    assert not q.is_deleted() and grad.tolist() == pytest.approx([0.9, 0.9])


def test_static_and_donated_argument_is_an_error():
    with pytest.raises(ValueError, match=r"jit\(step\): arguments \[1\] are both static and "
                                         "donated"):
        funcjax.jit(step, static_argnums=1, donate_argnums=1)


@settings(max_examples=10, deadline=None)
@given(RECIPES)
def test_random_programs_with_both_arguments_donated_equal_eager(recipe):
    def program(x, y):
        pool = run_recipe(recipe, x, y)
        return pool[2:] + pool[-2:]
    rng = np.random.default_rng(len(recipe))
    x, y = (rng.uniform(-1, 1, (3, 3)).astype(np.float32) for _ in range(2))
    with np.errstate(all="ignore"):
        want = program(jnp.asarray(x), jnp.asarray(y))
        got = funcjax.jit(program, donate_argnums=(0, 1))(fresh(x), fresh(y))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-5, equal_nan=True)
