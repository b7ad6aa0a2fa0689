"""Fixtures shared by the backend tests."""

import pytest

import funcjax
from funcjax.backend.llvm import parallel_loops
from funcjax.interpreters.eval import EvalTrace


@pytest.fixture
def eager_dispatches(monkeypatch):
    """The names of the primitives run eagerly (one Python dispatch each) while it is active."""
    seen = []
    original = EvalTrace.process_primitive

    def counting(self, primitive, args, params):
        seen.append(primitive.name)
        return original(self, primitive, args, params)
    monkeypatch.setattr(EvalTrace, "process_primitive", counting)
    return seen


@pytest.fixture
def threads():
    """Every outlined loop is threaded (no work threshold); restores the settings after."""
    previous_work = parallel_loops.set_min_work(0)
    previous = funcjax.config.read("funcjax_num_threads")

    def use(n):
        funcjax.config.update("funcjax_num_threads", n)
    yield use
    funcjax.config.update("funcjax_num_threads", previous)
    parallel_loops.set_min_work(previous_work)
