"""Every notebook in notebooks/ executes from top to bottom without an error (nbclient and
ipykernel come with the dev extra). The notebooks hold their own value checks (asserts)."""

import os

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]' brings nbformat")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]' brings nbclient")

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(os.path.dirname(HERE), "notebooks")
PATHS = sorted(f for f in os.listdir(NOTEBOOKS) if f.endswith(".ipynb"))


def test_there_are_notebooks():
    assert len(PATHS) >= 2


@pytest.mark.parametrize("name", PATHS)
def test_notebook_executes(name, monkeypatch):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), \
        f"{name} is committed with outputs; clear them"
    env_root = os.path.dirname(NOTEBOOKS)
    monkeypatch.setenv("PYTHONPATH", env_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
