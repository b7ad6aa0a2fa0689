"""Fixtures shared by the backend tests."""

import pytest

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
