"""Public modules list their API only: no imported modules, no internal helpers."""

import importlib
import types

import pytest

PUBLIC = ["funcjax.numpy", "funcjax.numpy.linalg", "funcjax.lax", "funcjax.nn",
          "funcjax.tree_util", "funcjax.debug", "funcjax.experimental", "funcjax.test_util",
          "funcjax.ad_checkpoint", "funcjax.dtypes"]
INTERNAL = ("funcjax.api_util", "funcjax.numpy._util", "funcjax.interpreters.eval",
            "funcjax.core.trace", "funcjax.core.namespace")  # homes of helpers, not of API


@pytest.mark.parametrize("name", PUBLIC)
def test_public_module_lists_no_internals(name):
    module = importlib.import_module(name)
    leaked = []
    for attr in dir(module):
        if attr.startswith("_"):
            continue
        value = getattr(module, attr)
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith(name + "."):
                leaked.append(attr)
        elif isinstance(value, types.FunctionType) and value.__module__.startswith(INTERNAL) \
                and not (name == "funcjax.numpy" and attr == "asarray"):  # jnp's own asarray
            leaked.append(attr)
        elif not attr.isidentifier():
            leaked.append(attr)
    assert leaked == []


def test_the_examples_from_the_issue_are_gone():
    import funcjax.numpy as jnp
    assert not {"np", "lax", "canonical_axes"} & set(dir(jnp.linalg))
    assert {"norm", "matmul", "vector_norm"} <= set(dir(jnp.linalg))
