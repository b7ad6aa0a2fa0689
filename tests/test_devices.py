"""Virtual devices (count from config, env or XLA_FLAGS), device_put, jax.tree names,
block_until_ready and disable_jit."""

import os
import subprocess
import sys

import numpy as np
import pytest

import funcjax
import funcjax.numpy as jnp


def count_in_fresh_process(env_updates, prelude=""):
    env = {k: v for k, v in os.environ.items()
           if k not in ("FUNCJAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    env.update(env_updates)
    code = "\n".join(["import funcjax", prelude, "print(funcjax.device_count())"])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip(), out.stderr


def test_device_count_sources_in_order_of_precedence():
    assert count_in_fresh_process({"FUNCJAX_NUM_CPU_DEVICES": "3"})[0] == "3"
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    assert count_in_fresh_process(flags)[0] == "4"
    config_first = "funcjax.config.update('jax_num_cpu_devices', 5)"
    assert count_in_fresh_process({"FUNCJAX_NUM_CPU_DEVICES": "3"}, config_first)[0] == "5"
    assert count_in_fresh_process({})[0] == str(os.cpu_count())
    _, err = count_in_fresh_process({"FUNCJAX_NUM_CPU_DEVICES": "zero"})
    assert "FUNCJAX_NUM_CPU_DEVICES must be a positive integer number of devices" in err


def test_count_cannot_change_after_first_use():
    n = funcjax.device_count()
    with pytest.raises(RuntimeError, match="before the first use"):
        funcjax.config.update("jax_num_cpu_devices", n + 1)
    assert funcjax.config.jax_num_cpu_devices is None  # the refused value was not kept


def test_device_put_copies_onto_the_device_and_keeps_structure():
    host = np.arange(3.0, dtype=np.float32)
    device = funcjax.devices()[-1]
    placed = funcjax.device_put({"a": host, "b": [1.0]}, device)
    host[0] = 99.0  # the copy does not see later writes
    np.testing.assert_array_equal(placed["a"], [0.0, 1.0, 2.0])
    assert placed["a"].devices() == {device} and placed["b"][0].weak_type
    with pytest.raises(ValueError, match="not one of funcjax.devices"):
        funcjax.device_put(host, funcjax.core.array.Device(10**6))


def test_tree_namespace_and_block_until_ready():
    tree = {"w": jnp.ones(2), "b": (1.0, 2.0)}
    doubled = funcjax.tree.leaves(funcjax.tree.map(lambda x: x * 2, tree))  # keys sorted: b, w
    assert doubled[:2] == [2.0, 4.0] and np.array_equal(doubled[2], [2.0, 2.0])
    assert funcjax.block_until_ready(tree) is tree


def test_disable_jit_runs_the_python_function_every_call():
    calls = []

    @funcjax.jit
    def f(x):
        calls.append(1)
        return x + 1

    f(1.0), f(2.0)
    assert len(calls) == 1
    with funcjax.disable_jit():
        assert float(f(3.0)) == 4.0 and float(f(4.0)) == 5.0
    assert len(calls) == 3 and not funcjax.config.jax_disable_jit
