"""Regression tests for the reliability issue: copies own their buffers, 64-bit per-lane
starts under vmap, repeat's total length, custom_vjp's bwd checks, a hardened persistent cache,
deep pytrees, inputs rejected with JAX's exception types, useful messages, big-endian input."""

import copy
import os
import stat
import warnings

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp
from funcjax import config, lax
from funcjax import tree_util as tu
from funcjax.backend.llvm import compiler, disk_cache


# -- 2. copies are new Arrays with their own buffers ------------------------------------------
@pytest.mark.parametrize("make_copy", [
    lambda x: x.copy(), jnp.copy, lambda x: jnp.array(x, copy=True), copy.copy, copy.deepcopy])
def test_copy_survives_donation_of_the_copy(make_copy):
    x = jnp.arange(4.0)
    y = make_copy(x)
    assert y is not x
    step = funcjax.jit(lambda v: v * 2, donate_argnums=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unusable donation only warns
        out = step(y)
    np.testing.assert_array_equal(out, np.arange(4.0) * 2)
    assert not x.is_deleted()
    np.testing.assert_array_equal(x, np.arange(4.0))


# -- 3. int64 per-lane starts are clamped before narrowing ---------------------------------------
def test_vmap_dynamic_slice_int64_starts_match_loop(x64):
    x = jnp.arange(10.0)
    starts = np.array([2**32 + 1, -2**32 + 1, 2**31, 3, -5], np.int64)

    def window(s):
        return lax.dynamic_slice(x, (s,), (3,))

    def update(s):
        return lax.dynamic_update_slice(x, -jnp.ones(3), (s,))
    for f in (window, update):
        loop = np.stack([np.asarray(f(s)) for s in starts])
        np.testing.assert_array_equal(funcjax.vmap(f)(starts), loop)
        np.testing.assert_array_equal(funcjax.jit(funcjax.vmap(f))(starts), loop)
    # a negative start counts from the end, then each start is clamped into [0, 7]
    clamped = np.clip(np.where(starts < 0, starts + 10, starts), 0, 7)
    np.testing.assert_array_equal(funcjax.vmap(window)(starts),
                                  np.stack([np.arange(10.0)[s:s + 3] for s in clamped]))


# -- 4. repeat with total_repeat_length ----------------------------------------------------------
def _numpy_repeat_to(a, repeats, total, axis=0):
    """Reference: numpy's repeat, cut to ``total`` or padded with the last element."""
    a = np.asarray(a)
    out = np.repeat(a, repeats, axis=axis)
    n = out.shape[axis]
    if n >= total:
        return np.take(out, np.arange(total), axis=axis)
    pad = np.take(a, [a.shape[axis] - 1] * (total - n), axis=axis)
    return np.concatenate([out, pad], axis=axis)


@pytest.mark.parametrize("repeats,total", [(3, 5), (3, 12), ([1, 1, 1], 5), ([2, 0, 1], 4),
                                           ([2, 0, 1], 2), ([0, 0, 0], 2), (1, 0)])
def test_repeat_total_repeat_length(repeats, total):
    a = np.arange(3) * 10
    want = _numpy_repeat_to(a, repeats, total) if not (
        np.ndim(repeats) and np.sum(repeats) < total) else None
    got = jnp.repeat(a, np.asarray(repeats), total_repeat_length=total)
    assert got.shape == (total,)
    if want is not None:
        np.testing.assert_array_equal(got, want)
    traced = funcjax.jit(lambda r: jnp.repeat(a, r, total_repeat_length=total))(
        np.asarray(repeats, np.int32))
    np.testing.assert_array_equal(traced, got)


def test_repeat_total_repeat_length_along_an_axis():
    a = np.arange(6).reshape(2, 3)
    got = jnp.repeat(a, np.array([2, 1]), axis=0, total_repeat_length=4)
    np.testing.assert_array_equal(got, np.array([[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]]))
    np.testing.assert_array_equal(jnp.repeat(a, 2, axis=1, total_repeat_length=6),
                                  np.repeat(a, 2, axis=1))


# -- 5. custom_vjp bwd outputs are checked --------------------------------------------------------
def _with_bwd(bwd):
    f = funcjax.custom_vjp(lambda x: x * 2)
    f.defvjp(lambda x: (x * 2, None), bwd)
    return f


@pytest.mark.parametrize("bad,words", [
    (lambda r, g: (jnp.ones(4),), ["f32[4]", "f32[3]", "argument 0"]),
    (lambda r, g: (jnp.ones(3, jnp.int32),), ["i32[3]", "f32[3]", "float dtype"]),
    (lambda r, g: (jnp.ones((3, 1)),), ["f32[3,1]", "f32[3]"]),
])
def test_custom_vjp_bwd_with_wrong_type_raises(bad, words):
    f = _with_bwd(bad)
    with pytest.raises(ValueError) as info:
        funcjax.grad(lambda x: f(x).sum())(jnp.ones(3))
    for w in ["bwd", "custom_vjp", *words]:
        assert w in str(info.value)


def test_custom_vjp_bwd_of_another_float_width_is_cast(x64):
    f = _with_bwd(lambda r, g: ((2 * g).astype(np.float32),))
    g = funcjax.grad(lambda x: f(x).sum())(np.ones(3))
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.full(3, 2.0))


# -- 6. the persistent compilation cache ---------------------------------------------------------
@pytest.fixture
def cache_dir_setting():
    disk_cache._secrets.clear()
    disk_cache._warned.clear()
    yield lambda d: config.update("jax_compilation_cache_dir", str(d))
    config.update("jax_compilation_cache_dir", None)
    disk_cache._secrets.clear()


def _fresh_program(k):
    return funcjax.jit(lambda x: jnp.sin(x) * k + 0.25)  # k changes the IR: a new entry


@pytest.mark.parametrize("make_bad", [
    lambda tmp: (tmp / "file").write_text("x") and tmp / "file",           # a file in its place
    lambda tmp: (tmp / "f2").write_text("x") and tmp / "f2" / "sub",      # parent is a file
])
def test_unusable_cache_directory_warns_once_and_runs_uncached(tmp_path, cache_dir_setting,
                                                               make_bad):
    cache_dir_setting(make_bad(tmp_path))
    x = np.linspace(0, 1, 5, dtype=np.float32)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for k in (3.0, 4.0):
            np.testing.assert_allclose(_fresh_program(k)(x), np.sin(x) * k + 0.25, rtol=1e-6)
    ours = [w for w in seen if "persistent compilation cache" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in seen]


def test_read_only_cache_directory_warns_and_runs(tmp_path, cache_dir_setting, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir(mode=0o500)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a non-root user
    cache_dir_setting(d)
    with pytest.warns(RuntimeWarning, match="not writable"):
        np.testing.assert_allclose(_fresh_program(5.0)(np.ones(2, np.float32)),
                                   np.sin(1.0) * 5 + 0.25, rtol=1e-6)


def test_cache_directory_is_created_private_with_a_private_key(tmp_path, cache_dir_setting):
    d = tmp_path / "a" / "cache"
    cache_dir_setting(d)
    _fresh_program(6.0)(np.ones(2, np.float32))
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    key = d / disk_cache.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32


@pytest.mark.parametrize("mode", [0o770, 0o777, 0o720])
def test_group_or_world_writable_cache_directory_is_refused(tmp_path, cache_dir_setting, mode):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(mode)
    cache_dir_setting(d)
    with pytest.warns(RuntimeWarning, match="writable by group or others"):
        np.testing.assert_allclose(_fresh_program(7.0)(np.ones(2, np.float32)),
                                   np.sin(1.0) * 7 + 0.25, rtol=1e-6)
    assert not [e for e in os.listdir(d) if e.endswith(".fjo")]


def test_cache_directory_owned_by_another_user_is_refused(tmp_path, cache_dir_setting,
                                                          monkeypatch):
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(d).st_uid + 1)
    cache_dir_setting(d)
    with pytest.warns(RuntimeWarning, match="owned by another user"):
        _fresh_program(8.0)(np.ones(2, np.float32))


def test_planted_entry_without_the_secret_is_rejected_and_recompiled(tmp_path,
                                                                     cache_dir_setting):
    cache_dir_setting(tmp_path)
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    _fresh_program(9.0)(x)
    (entry,) = [p for p in tmp_path.iterdir() if p.suffix == ".fjo"]
    data = entry.read_bytes()
    head = len(disk_cache.MAGIC) + 32
    obj = data[head + 32:]
    # An attacker who can write the file but not read the key: the old unkeyed checksum.
    import hashlib
    entry.write_bytes(data[:head] + hashlib.sha256(obj).digest() + obj)
    before = dict(compiler.stats)
    np.testing.assert_allclose(_fresh_program(9.0)(x), np.sin(x) * 9 + 0.25, rtol=1e-6)
    assert compiler.stats["compiled"] - before["compiled"] == 1
    assert compiler.stats["loaded_from_disk"] == before["loaded_from_disk"]
    # the recompiled entry is keyed again: the next program loads it
    _fresh_program(9.0)(x)
    assert compiler.stats["loaded_from_disk"] - before["loaded_from_disk"] == 1


def test_key_file_readable_by_others_is_refused(tmp_path, cache_dir_setting):
    cache_dir_setting(tmp_path)
    _fresh_program(10.0)(np.ones(2, np.float32))
    (tmp_path / disk_cache.KEY_FILE).chmod(0o644)
    disk_cache._secrets.clear()
    with pytest.warns(RuntimeWarning, match="key file"):
        _fresh_program(11.0)(np.ones(2, np.float32))


# -- 7. deep pytrees ----------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [600, 3000])
def test_deep_pytrees_flatten_unflatten_and_transform(depth):
    tree = 1.0
    for i in range(depth):
        tree = [tree, {"a": (float(i),)}] if i % 2 else (tree, [float(i)])
    leaves, treedef = tu.tree_flatten(tree)
    assert len(leaves) == depth + 1 and leaves[0] == 1.0
    assert tu.tree_structure(tu.tree_unflatten(treedef, leaves)) == treedef
    assert hash(tu.tree_structure(tree)) == hash(treedef)
    doubled = tu.tree_map(lambda v: v * 2, tree)
    assert tu.tree_leaves(doubled) == [2 * v for v in leaves]
    assert len(tu.tree_flatten_with_path(tree)[0]) == depth + 1
    assert repr(treedef).startswith("PyTreeDef(")
    if depth <= 600:
        g = funcjax.grad(lambda t: tu.tree_leaves(t)[0] ** 2 + tu.tree_leaves(t)[-1])(tree)
        assert tu.tree_structure(g) == treedef
        assert tu.tree_leaves(g)[0] == 2.0 and tu.tree_leaves(g)[-1] == 1.0


# -- 8. inputs rejected as JAX rejects them; narrow index arrays work ----------------------------
def test_empty_axis_indexed_with_an_array_scalar_raises_index_error():
    for index in (0, jnp.int32(0), np.int32(0)):
        with pytest.raises(IndexError, match="size 0"):
            jnp.zeros(0)[index]
    with pytest.raises(IndexError, match="size 0"):
        funcjax.jit(lambda i: jnp.zeros(0)[i])(0)
    # as in JAX: updates at a scalar index raise too, at an index array they are dropped
    for index in (0, jnp.int32(0)):
        with pytest.raises(IndexError, match="size 0"):
            jnp.zeros(0).at[index].set(1.0)
    assert jnp.zeros(0).at[jnp.array([0])].set(1.0).shape == (0,)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16])
def test_narrow_index_arrays_into_long_axes_work_as_in_numpy(dtype):
    x = np.arange(300.0, dtype=np.float32)
    info = np.iinfo(dtype)
    idx = np.array([v for v in (-1, 100, -100, 127, -128, 0, 255, 5) if
                    info.min <= v <= info.max], dtype)
    want = x[idx]
    np.testing.assert_array_equal(jnp.asarray(x)[idx], want)
    np.testing.assert_array_equal(jnp.asarray(x)[jnp.asarray(idx)], want)
    np.testing.assert_array_equal(funcjax.jit(lambda a, i: a[i])(x, idx), want)
    np.testing.assert_array_equal(funcjax.jit(lambda a, i: a[i[0]])(x, idx), want[0])
    expect = x.copy()
    expect[idx] = -5
    np.testing.assert_array_equal(jnp.asarray(x).at[idx].set(-5), expect)
    np.testing.assert_array_equal(funcjax.jit(lambda a, i: a.at[i].set(-5))(x, idx), expect)


# -- 9. big-endian inputs are accepted -------------------------------------------------------
@pytest.mark.parametrize("dtype", [">f4", ">i4", ">f8", ">i8", ">u2"])
def test_big_endian_inputs_are_converted(dtype):
    a = np.arange(1, 5).astype(dtype)
    native = a.astype(np.dtype(dtype).newbyteorder("="))
    assert jnp.asarray(a).dtype.isnative
    np.testing.assert_array_equal(jnp.asarray(a) * 2, jnp.asarray(native) * 2)
    np.testing.assert_array_equal(funcjax.jit(lambda v: v * 2 + 1)(a),
                                  funcjax.jit(lambda v: v * 2 + 1)(native))
    np.testing.assert_array_equal(jnp.sum(a), np.sum(native).astype(jnp.sum(native).dtype))


# -- found by the fuzzer ------------------------------------------------------------------------
def test_f64_to_f16_rounding_and_abs_in_one_jit_function(x64):
    """The exact double->half rounding declared llvm.fabs.f64 itself; a later abs declared it
    again and lowering failed with DuplicatedNameError (fuzz seed 84, mode values64)."""
    x = np.array([1.0, -2.5, 1e-3, 70000.0, -0.0])

    def f(a):
        return jnp.log1p(jnp.abs(a.astype(jnp.float16).astype(a.dtype)))
    want = np.log1p(np.abs(x.astype(np.float16).astype(np.float64)))
    np.testing.assert_allclose(funcjax.jit(f)(x), want, rtol=1e-14)
    np.testing.assert_allclose(f(x), want, rtol=1e-14)
