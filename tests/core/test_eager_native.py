"""Native eager entries (``backend/llvm/eager_entry.py``): hot elementwise functions and Array
operators run numpy's own inner loop from generated code. They must give exactly the Python
path's results, and must not take any call the Python path would treat differently
(subclasses, layouts, dtypes, weak types, scalars that do not adapt, x64, transformations,
committed arrays), which then take the Python path with all its checks and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcjax
import funcjax.numpy as jnp
from funcjax.config import enable_x64
from funcjax.core import placement
from funcjax.core.array import Array
from funcjax.numpy import _util

pytest.importorskip("llvmlite")
from eager_helpers import python_path  # noqa: E402

from funcjax.backend.llvm import eager_entry  # noqa: E402

if eager_entry._layout() is None:
    pytest.skip("no native entries on this interpreter", allow_module_level=True)

F32 = np.float32
UNARY = ["sin", "cos", "exp", "tanh", "log1p", "sqrt", "negative"]
BINARY = ["add", "subtract", "multiply", "true_divide", "maximum", "minimum"]


def native(name, dtype=F32):
    """The native entry of ``jnp.name``, warmed for ``dtype``."""
    fn = getattr(jnp, name)
    general = fn.__wrapped__
    nin = _util._native_slots[general][1]
    x = jnp.asarray(np.ones(3, dtype))
    for _ in range(_util.NATIVE_AFTER + 1):
        fn(*[x] * nin)
    entry = eager_entry._natives[general]
    assert entry is not None and _util._native_slots[general][0][0] is entry.function
    return entry


def bits(x):
    x = np.asarray(x)
    return x.dtype, x.shape, x.tobytes()


def runs_natively(entry, fn, *args):
    before = entry.calls
    out = fn(*args)
    return out, entry.calls - before


floats = st.floats(width=32)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(UNARY), st.lists(floats, min_size=0, max_size=40),
       st.sampled_from([(-1,), (), "2d"]))
def test_unary_equals_numpy_bitwise(name, values, shape):
    entry = native(name)
    x = np.asarray(values, F32)
    if shape == ():
        x = np.asarray(values[0] if values else 0.5, F32)
    elif shape == "2d" and x.size % 2 == 0:
        x = x.reshape(2, -1)
    out, n = runs_natively(entry, getattr(jnp, name), jnp.asarray(x))
    assert n == 1 and type(out) is Array and not out.weak_type
    with np.errstate(all="ignore"):
        assert bits(out) == bits(getattr(np, name)(x))
    if name == "negative":
        out, n = runs_natively(entry, lambda: -jnp.asarray(x))
        assert n == 1 and bits(out) == bits(-x)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(BINARY), st.lists(st.tuples(floats, floats), min_size=1, max_size=20))
def test_binary_and_operators_equal_numpy_bitwise(name, pairs):
    entry = native(name)
    a, b = (np.asarray(v, F32) for v in zip(*pairs))
    xa, xb = jnp.asarray(a), jnp.asarray(b)
    with np.errstate(all="ignore"):
        expected = bits(getattr(np, name)(a, b))
    out, n = runs_natively(entry, getattr(jnp, name), xa, xb)
    assert n == 1 and bits(out) == expected
    op = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__",
          "true_divide": "__truediv__"}.get(name)
    if op:
        out, n = runs_natively(entry, lambda: getattr(xa, op)(xb))
        assert n == 1 and bits(out) == expected
        assert bits(getattr(Array, op)(xa, xb)) == expected


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["+", "-", "*", "/"]), st.floats() | st.integers(-2**31, 2**31 - 1),
       st.booleans())
def test_python_scalars_adapt_as_on_thepython_path(op, v, left):
    name = {"+": "add", "-": "subtract", "*": "multiply", "/": "true_divide"}[op]
    entry = native(name)
    a = np.linspace(-3, 3, 7).astype(F32)
    x = jnp.asarray(a)
    f = eval(f"lambda x, v: v {op} x" if left else f"lambda x, v: x {op} v")  # noqa: S307
    out, n = runs_natively(entry, f, x, v)
    assert n == 1 and not out.weak_type and out.dtype == F32
    with np.errstate(all="ignore"):
        assert bits(out) == bits(f(a, F32(v)))
    # the Python path (the general function) agrees
    general = getattr(jnp, name).__wrapped__
    args = (v, x) if left else (x, v)
    assert bits(general(*args)) == bits(out)


def test_int32_arrays_and_scalars_wrap_as_numpy():
    entry = native("add", np.int32)
    a = np.asarray([2**31 - 1, -5, 7], np.int32)
    x = jnp.asarray(a)
    out, n = runs_natively(entry, lambda: x + x)
    assert n == 1 and bits(out) == bits(a + a)
    out, n = runs_natively(entry, lambda: x + 3)
    assert n == 1 and bits(out) == bits(a + np.int32(3))
    out, n = runs_natively(entry, lambda: x + 2.5)  # promotes to float: the Python path
    assert n == 0 and out.dtype == F32
    negative = native("negative", np.int32)
    out, n = runs_natively(negative, lambda: -x)
    assert n == 1 and bits(out) == bits(-a)
    divide = native("true_divide")
    for f in (lambda: x / x, lambda: x / 2, lambda: 2 / x):  # promote to float
        out, n = runs_natively(divide, f)
        assert n == 0 and out.dtype == F32
        np.testing.assert_allclose(out, python_path(f))


def _same(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.weak_type == b.weak_type and a.shape == b.shape
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


CASES = {
    "non-contiguous": lambda: (Array(np.arange(16, dtype=F32)[::2]), 1),
    "byte-swapped": lambda: (Array(np.arange(8, dtype=">f4")), jnp.ones(8, F32)),
    "other dtype": lambda: (jnp.ones(8, F32), jnp.ones(8, np.int32)),
    "float16": lambda: (jnp.ones(8, np.float16), 1.5),
    "weak array": lambda: (jnp.ones(8, F32), jnp.asarray(2.0)),
    "0-d strong": lambda: (jnp.asarray(F32(2)), jnp.ones(8, F32)),
    "broadcast": lambda: (jnp.ones((2, 8), F32), jnp.ones(8, F32)),
    "bool scalar": lambda: (jnp.ones(8, F32), True),
    "big int": lambda: (jnp.ones(8, F32), 2**40),
    "numpy scalar": lambda: (jnp.ones(8, F32), np.float32(2)),
    "numpy array": lambda: (jnp.ones(8, F32), np.ones(8, F32)),
    "subclass": lambda: (placement.CommittedArray(np.ones(8, F32)), jnp.ones(8, F32)),
    "large": lambda: (jnp.ones(eager_entry.MAX_SIZE + 1, F32), 1.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("swap", [False, True])
def test_fallbacks_give_the_python_paths_results(case, swap):
    entry = native("multiply")
    x, y = CASES[case]()
    if swap:
        x, y = y, x
    for f in (lambda: x * y, lambda: jnp.multiply(x, y)):
        out, n = runs_natively(entry, _outcome, f)
        assert n == 0
        expected = python_path(_outcome, f)
        if isinstance(out, tuple):  # the same error
            assert out == expected
        else:
            _same(out, expected)


def _outcome(f):
    try:
        return f()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)


def test_x64_keeps_float_scalars_on_thepython_path():
    entry = native("multiply")
    x = jnp.asarray(np.arange(4, dtype=F32))
    i = jnp.asarray(np.arange(4, dtype=np.int32))
    native("multiply", np.int32)
    for _ in range(2):
        with enable_x64():
            out, n = runs_natively(entry, lambda: x * 2.0)
            assert n == 0
            _same(out, python_path(lambda: x * 2.0))
            out, n = runs_natively(entry, lambda: i * 2)
            assert n == 0
            _same(out, python_path(lambda: i * 2))
        out, n = runs_natively(entry, lambda: x * 2.0)
        assert n == 1


def test_transformations_never_take_the_native_path():
    entry = native("add")
    native("sin")
    c = jnp.asarray(np.arange(4, dtype=F32))
    before = entry.calls

    def f(x):
        return jnp.sin(x + c) + (c + c) + c * 2

    jaxpr = funcjax.make_jaxpr(f)(c)
    assert "add" in str(jaxpr) and len(jaxpr.eqns) >= 4
    np.testing.assert_allclose(funcjax.jit(f)(c), f(c), rtol=1e-6)
    g = funcjax.grad(lambda x: jnp.sum(f(x)))(c)
    np.testing.assert_allclose(g, np.cos(2 * np.arange(4, dtype=F32)), rtol=1e-6)
    funcjax.vmap(f)(jnp.ones((2, 4), F32))
    assert entry.calls - before == 4  # the four adds of f(c) run eagerly, nothing else


def test_errors_with_warm_entries():
    native("add")
    native("sin")
    x = jnp.ones(8, F32)
    with pytest.raises(TypeError, match="incompatible shapes"):
        x + jnp.ones(3, F32)
    dead = jnp.ones(8, F32) * 1
    dead.delete()
    with pytest.raises(RuntimeError, match="deleted"):
        dead + x
    with pytest.raises(RuntimeError, match="deleted"):
        jnp.sin(dead)
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError):
        x.__add__()
    with pytest.raises(TypeError):
        jnp.add(x)
    native("negative")
    for wrong in (lambda: x.__neg__(x), lambda: x.__add__(x, x), lambda: x.__add__(x, x, x)):
        with pytest.raises(TypeError, match="positional"):
            wrong()
    unset = object.__new__(Array)  # slots never assigned: the Python path's error, no crash
    with pytest.raises(AttributeError):
        x + unset
    with pytest.raises(AttributeError):
        jnp.sin(unset)


def test_committed_arrays_keep_their_device():
    entry = native("add")
    devices = funcjax.devices()
    x = funcjax.device_put(jnp.ones(4, F32), devices[-1])
    before = entry.calls
    y = x + x
    assert entry.calls == before and y.devices() == {devices[-1]}


def test_results_are_fresh_and_frozen_when_they_leave():
    native("add")
    x = jnp.ones(4, F32)
    y = x + x
    z = x + x
    assert y._value.base is not z._value.base and not np.shares_memory(y._value, z._value)
    assert y._aval == x._aval
    view = np.asarray(y)
    with pytest.raises(ValueError):
        view[0] = 1


def test_eager_equals_jit_after_the_switch():
    for name in BINARY:
        native(name)
    x = jnp.asarray(np.linspace(-2, 2, 6).astype(F32))
    y = jnp.asarray(np.linspace(3, -1, 6).astype(F32))

    def f(a, b):
        return jnp.maximum(a * 2 + 1, b) - jnp.minimum(a, b * b) * jnp.tanh(a)

    np.testing.assert_allclose(f(x, y), funcjax.jit(f)(x, y), rtol=1e-6)
