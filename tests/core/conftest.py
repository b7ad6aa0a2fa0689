import pytest

from funcjax.core.array import Array
from funcjax.numpy import _programs


@pytest.fixture
def replays(monkeypatch):
    """A list that records every eager program replay (every program is built anew)."""
    seen = []
    compile_program = _programs.compile_program

    def counting(closed):
        run = compile_program(closed)

        def counted(*arrays):
            seen.append(run)
            return run(*arrays)
        return counted
    monkeypatch.setattr(_programs, "compile_program", counting)
    monkeypatch.setattr(_programs, "_programs", {})
    try:  # native entries of moves replay programs without them: off (their programs
        from funcjax.backend.llvm import eager_views  # have no ``form``, so none is made)
    except ImportError:
        return seen
    for attr, (_, python) in eager_views.installed().items():
        monkeypatch.setattr(Array, attr, python)
    return seen
