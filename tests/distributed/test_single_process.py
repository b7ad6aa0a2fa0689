"""Without ``distributed.initialize`` everything is one process (no MPI involved)."""

import numpy as np
import pytest

import funcjax as jax
from funcjax.experimental import multihost_utils as mh


def test_one_process_by_default():
    assert (jax.process_index(), jax.process_count()) == (0, 1)
    assert jax.devices() == jax.local_devices()
    assert [d.process_index for d in jax.devices()] == [0] * jax.device_count()
    assert jax.local_device_count() == jax.device_count()
    assert not jax.distributed.is_initialized()


def test_multihost_utils_with_one_process():
    tree = {"a": np.arange(3.0), "b": 7}
    gathered = mh.process_allgather(tree)
    np.testing.assert_array_equal(gathered["a"], np.arange(3.0)[None])
    np.testing.assert_array_equal(gathered["b"], [7])
    np.testing.assert_array_equal(mh.process_allgather(np.arange(4), tiled=True), np.arange(4))
    np.testing.assert_array_equal(mh.broadcast_one_to_all(np.ones(2)), np.ones(2))
    mh.sync_global_devices("here")


def test_multihost_utils_bad_input():
    with pytest.raises(TypeError, match="sync_global_devices: name must be a str"):
        mh.sync_global_devices(3)
    with pytest.raises(ValueError, match="tiled=True"):
        mh.process_allgather(np.float32(1), tiled=True)
    with pytest.raises(TypeError, match="process_allgather: the leaves"):
        mh.process_allgather(["text"])
