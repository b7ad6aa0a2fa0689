"""The pool of large output buffers (backend/llvm/output_pool.py): jit outputs of 1 MiB and
more come from freed outputs of the same size, never from memory still in use, within the
configured cap, and are ordinary numpy arrays otherwise."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.backend.llvm import output_pool
from funcjax.config import config

MIB = 1 << 20
get_handler_name = np._core.multiarray.get_handler_name

pytestmark = pytest.mark.skipif(output_pool._pool() is None,
                                reason="no pool on this interpreter (no GIL or other layout)")


@pytest.fixture(autouse=True)
def _empty_pool():
    cap = config.funcjax_output_pool_bytes
    output_pool.release()
    yield
    funcjax.config.update("funcjax_output_pool_bytes", cap)
    output_pool.release()


def _owner(a):
    """The ndarray owning ``a``'s memory."""
    a = np.asarray(a)
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _address(a):
    return np.asarray(a).__array_interface__["data"][0]


def test_large_jit_outputs_are_right_and_come_from_the_pool():
    f = funcjax.jit(lambda v: jnp.sin(v) * 2.0 + v)
    x = np.linspace(-3, 3, 3 * MIB // 4, dtype=np.float32)  # 3 MiB
    y = f(x)
    np.testing.assert_allclose(np.asarray(y), np.sin(x) * 2 + x, rtol=1e-6, atol=1e-6)
    assert get_handler_name(_owner(y)) == "funcjax_output_pool"
    small = f(x[:1000])  # small outputs: numpy's own allocator
    assert get_handler_name(_owner(small)) == "default_allocator"


def test_a_freed_output_is_reused_and_fully_rewritten():
    f = funcjax.jit(lambda v: v * 3.0 + 1.0)
    x = np.arange(MIB // 2, dtype=np.float32)  # 2 MiB
    first = f(x)
    address = _address(first)
    del first
    assert output_pool.held_bytes() == 2 * MIB
    second = f(x + 5)
    assert _address(second) == address and output_pool.held_bytes() == 0
    np.testing.assert_array_equal(np.asarray(second), (x + 5) * 3 + 1)


def test_live_outputs_never_share_memory():
    f = funcjax.jit(lambda v: v + 1.0)
    x = np.zeros(MIB // 2, np.float32)
    outs = [f(x + k) for k in range(4)]
    del outs[1]
    outs += [f(x + 10), f(x + 11)]  # one reuses the freed block, one is fresh
    addresses = [_address(o) for o in outs]
    assert len(set(addresses)) == len(addresses)
    for o, k in zip(outs, [0, 2, 3, 10, 11]):
        np.testing.assert_array_equal(np.asarray(o), x + k + 1)


def test_a_view_keeps_the_block_from_the_pool():
    f = funcjax.jit(lambda v: v * 2.0)
    x = np.ones(MIB // 2, np.float32)
    y = f(x)
    view = np.asarray(y)[10:20]
    del y
    assert output_pool.held_bytes() == 0  # the view still reads it
    z = f(x * 4)
    np.testing.assert_array_equal(view, np.full(10, 2, np.float32))
    del view
    assert output_pool.held_bytes() == 2 * MIB
    np.testing.assert_array_equal(np.asarray(z), x * 8)


def test_cap_zero_turns_the_pool_off_and_clear_caches_empties_it():
    f = funcjax.jit(lambda v: v - 1.0)
    x = np.ones(MIB, np.float32)
    f(x)  # (the output dies at once)
    assert output_pool.held_bytes() == 4 * MIB
    funcjax.clear_caches()
    assert output_pool.held_bytes() == 0
    f(x)
    funcjax.config.update("funcjax_output_pool_bytes", 0)
    assert output_pool.held_bytes() == 0
    y = f(x)
    assert get_handler_name(_owner(y)) == "default_allocator"
    del y
    assert output_pool.held_bytes() == 0


@pytest.mark.parametrize("value", [-1, 1.5, "1GB", None])
def test_bad_cap_is_refused_with_a_message(value):
    with pytest.raises(ValueError, match="funcjax_output_pool_bytes"):
        funcjax.config.update("funcjax_output_pool_bytes", value)
    assert config.funcjax_output_pool_bytes == 256 << 20


def test_donating_a_pooled_output_writes_in_place():
    make = funcjax.jit(lambda v: v * 2.0)
    step = funcjax.jit(lambda v: v + 1.0, donate_argnums=0)
    x = np.arange(MIB // 2, dtype=np.float32)
    y = make(x)
    address = _address(y)
    z = step(y)
    assert _address(z) == address
    np.testing.assert_array_equal(np.asarray(z), x * 2 + 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 7)),
                                   max_size=30))
def test_pool_matches_a_model(cap_mib, operations):
    """Allocate / free sequences against a Python model of the pool: newest freed block of the
    exact size reused, oldest freed evicted to stay within the cap, larger-than-cap blocks
    never kept."""
    funcjax.config.update("funcjax_output_pool_bytes", cap_mib * MIB)
    output_pool.release()  # (the fixture runs once for all examples)
    live, free = [], []  # free: (size, address), oldest first
    for allocate, size_mib, pick in operations:
        size = (size_mib + 1) * MIB // 2 + MIB // 2  # 1, 1.5, 2, 2.5 MiB
        if allocate or not live:
            a = output_pool.empty((size,), np.uint8)
            same = [k for k, (s, _) in enumerate(free) if s == size]
            if same:
                assert _address(a) == free.pop(same[-1])[1]
            else:
                assert _address(a) not in [addr for _, addr in free]
            a[:] = 7
            live.append(a)
        else:
            a = live.pop(pick % len(live))
            entry = (a.nbytes, _address(a))
            del a
            if entry[0] <= cap_mib * MIB:
                while sum(s for s, _ in free) + entry[0] > cap_mib * MIB:
                    free.pop(0)
                free.append(entry)
        assert output_pool.held_bytes() == sum(s for s, _ in free)
        assert all((a == 7).all() for a in live)


def test_more_freed_blocks_than_slots_evicts_the_oldest():
    funcjax.config.update("funcjax_output_pool_bytes", 1 << 30)
    blocks = [output_pool.empty((MIB + k * 4096,), np.uint8) for k in range(output_pool.SLOTS + 5)]
    sizes = [b.nbytes for b in blocks]
    while blocks:  # freed in order, first to last
        del blocks[0]
    assert output_pool.held_bytes() == sum(sizes[-output_pool.SLOTS:])


def test_pooled_arrays_alive_at_exit_do_not_crash_the_interpreter():
    code = ("import numpy as np, funcjax, funcjax.numpy as jnp\n"
            "f = funcjax.jit(lambda v: v * 2.0)\n"
            "kept = [f(np.ones(1 << 19, np.float32)) for _ in range(3)]\n"
            "f(np.ones(1 << 19, np.float32))\n"
            "print(float(kept[0][5]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0"
