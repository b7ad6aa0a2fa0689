"""Shared by the eager fast-path tests: running a call on the general Python path."""

from funcjax.backend.llvm import eager_entry
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
    try:
        for slot, _ in _util._native_slots.values():
            slot[0] = None
        for k in methods:
            delattr(Array, k)
        return fn(*args)
    finally:
        for k, (slot, _) in _util._native_slots.items():
            slot[0] = saved[k]
        for k, v in methods.items():
            setattr(Array, k, v)
        _util.native_enabled[0] = _programs.enabled[0] = True
