"""Shared by the eager fast-path tests: running a call on the general Python path."""

import numpy as np
import pytest

from funcjax.backend.llvm import eager_entry, eager_views
from funcjax.core.array import Array
from funcjax.numpy import _programs, _util


def python_path(fn, *args, programs=True):
    """``fn(*args)`` with every native eager entry off, and the eager programs too unless
    ``programs`` (the path every fast route must agree with)."""
    _util.native_enabled[0] = False
    if not programs:
        _programs.enabled[0] = False
    saved = {k: slot[0] for k, (slot, _) in _util._native_slots.items()}
    methods = {k: Array.__dict__[k] for k in eager_entry.installed_methods()}
    moves = eager_views.installed()  # (a native entry of a move, and its Python version)
    try:
        for slot, _ in _util._native_slots.values():
            slot[0] = None
        for k in methods:
            delattr(Array, k)
        for k, (_, python) in moves.items():
            setattr(Array, k, python)
        return fn(*args)
    finally:
        for k, (slot, _) in _util._native_slots.items():
            slot[0] = saved[k]
        for k, v in methods.items():
            setattr(Array, k, v)
        for k, (native, _) in moves.items():
            setattr(Array, k, native)
        _util.native_enabled[0] = _programs.enabled[0] = True


def without_programs(fn, *args):
    """``fn(*args)`` on the general eager path, without programs."""
    _programs.enabled[0] = False
    try:
        return fn(*args)
    finally:
        _programs.enabled[0] = True


def warm(fn, *args, **kwargs):
    """``fn``'s result after enough calls that the last one replays a program."""
    for _ in range(_programs.BUILD_AFTER + 1):
        out = fn(*args, **kwargs)
    return out


def bits(x):
    a = np.asarray(x)
    return a.dtype, a.shape, a.tobytes(), getattr(x, "weak_type", None)


def assert_same_error(fn, general_path):
    """``fn()`` raises exactly what ``general_path(fn)`` raises (type and message)."""
    with pytest.raises(Exception) as raised:
        fn()
    with pytest.raises(Exception) as expected:
        general_path(fn)
    assert type(raised.value) is type(expected.value)
    assert str(raised.value) == str(expected.value)
