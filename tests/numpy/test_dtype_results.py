"""funcjax.numpy's result dtypes, weak types and error kinds against tables made with JAX."""

import jax_tables
import numpy as np
import pytest
from jnp_helpers import x64

import funcjax.numpy as jnp
from funcjax.core import dtypes

LONG = {"b": "bool", "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
        "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "f16": "float16",
        "f32": "float32", "f64": "float64"}


def parse(table):
    """``"a,b=out*"`` entries as ``{("a", "b"): "out*"}``."""
    out = {}
    for entry in "".join(table).split():
        args, result = entry.split("=")
        out[tuple(args.split(","))] = result
    return out


def arg(name):
    if name == "int":
        return 2
    if name == "float":
        return 2.0
    return jnp.ones((3,), LONG[name])


def outcome(fn, *args):
    try:
        r = fn(*args)
    except Exception as e:  # noqa: BLE001 - the error kind is what is compared
        return "!" + type(e).__name__
    return dtypes.short_name(r.dtype).replace("bool", "b") + ("*" if r.weak_type else "")


def type_arg(name):
    return {"int": int, "float": float}.get(name) or np.dtype(LONG[name])


@pytest.mark.parametrize("mode", ["x32", "x64"])
def test_result_type_matches_jax_promotion_table(mode):
    table = parse(jax_tables.PROMOTION[mode])
    with x64(mode == "x64"):
        for (a, b), expected in table.items():
            dt, weak = jnp.result_type(type_arg(a), type_arg(b), return_weak_type_flag=True)
            got = dtypes.short_name(dt).replace("bool", "b") + ("*" if weak else "")
            assert got == expected, (a, b, got, expected)
            if a not in ("int", "float") and b not in ("int", "float"):
                assert jnp.promote_types(LONG[a], LONG[b]) == np.dtype(LONG[expected.rstrip("*")])


@pytest.mark.parametrize("name", sorted(jax_tables.UNARY))
def test_unary_result_dtypes_match_jax(name):
    fn = getattr(jnp, name)
    for (d,), expected in parse(jax_tables.UNARY[name]).items():
        got = outcome(fn, arg(d))
        # Error kinds must match; an error in one only is a dtype mismatch too.
        assert got == expected, f"jnp.{name}({LONG[d]}): got {got}, JAX gives {expected}"


# JAX's weak flag for these comes from how its implementation builds the result (e.g. a
# strongly typed literal inside), not from the promotion rules; only their dtypes must match.
WEAK_FLAG_QUIRKS = {"hypot", "heaviside", "power"}
# jnp.dot of a small int array with a Python int is a TypeError in JAX (an implementation
# limit, not a rule); funcjax multiplies as numpy does.
SKIP = {("dot", "u8", "int"), ("dot", "i8", "int"), ("dot", "int", "u8"), ("dot", "int", "i8")}


@pytest.mark.parametrize("name", sorted(jax_tables.BINARY))
def test_binary_result_dtypes_match_jax(name):
    fn = getattr(jnp, name)
    for (a, b), expected in parse(jax_tables.BINARY[name]).items():
        if (name, a, b) in SKIP:
            continue
        got = outcome(fn, arg(a), arg(b))
        if name in WEAK_FLAG_QUIRKS:
            got, expected = got.rstrip("*"), expected.rstrip("*")
        assert got == expected, f"jnp.{name}({a}, {b}): got {got}, JAX gives {expected}"


# Printed by JAX 0.10.2 with x64: sums widen to 64 bits, but floats made from integers
# follow the integer's width (int32 -> float32), only 64-bit integers give float64.
X64_REDUCTION_DTYPES = {
    "int8": ("int64", "float32"), "int32": ("int64", "float32"), "uint8": ("uint64", "float32"),
    "uint32": ("uint64", "float32"), "bool": ("int64", "float32"),
    "int64": ("int64", "float64"), "float16": ("float16", "float16"),
}


def test_x64_reduction_and_inexact_dtypes_match_jax(enable_x64):
    for name, (summed, inexact) in X64_REDUCTION_DTYPES.items():
        x = np.arange(3).astype(name)
        for fn in (jnp.sum, jnp.prod):
            assert fn(x).dtype == summed, (fn.__name__, name)
        for fn in (jnp.mean, jnp.var, jnp.std, jnp.median, jnp.average, jnp.sin,
                   jnp.linalg.norm):
            assert fn(x).dtype == inexact, (fn.__name__, name)
        assert jnp.average(x, weights=x).dtype == inexact
        assert jnp.quantile(x, 0.5).dtype == inexact
