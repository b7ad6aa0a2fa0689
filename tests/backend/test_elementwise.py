"""Every elementwise primitive, for every dtype it accepts: jit against eager on values that
include the edges (zeros of both signs, infinities, NaN, extremes, over-wide shifts, division
by zero). One compiled function per dtype holds all the primitives, so hypothesis varies
values at no compile cost."""

import numpy as np
import pytest
from hypothesis import given, settings

import funcjax
from funcjax.backend.llvm.transcendental import PRIMITIVES as TRANSCENDENTAL
from funcjax.config import enable_x64
from funcjax.core.abstract import ShapedArray
from funcjax.core.primitive import Primitive
from funcjax.ops import conversion, elementwise
from funcjax.ops.calls import jit_p  # noqa: F401

from .helpers import DTYPES, arrays, assert_matches, needs_x64

SHAPE = (24,)
_PRIMS = [p for p in vars(elementwise).values() if isinstance(p, Primitive)]
_INEXACT = set(TRANSCENDENTAL) | {elementwise.pow_p, elementwise.integer_pow_p}
_BINARY = {"add", "sub", "mul", "div", "rem", "pow", "max", "min", "atan2", "nextafter", "eq",
           "ne", "lt", "le", "gt", "ge", "and", "or", "xor", "shift_left", "shift_right_logical",
           "shift_right_arithmetic"}
_PARAMS = {"integer_pow": [{"y": 0}, {"y": 3}, {"y": -2}],
           "round": [{"rounding_method": 0}, {"rounding_method": 1}]}


def _accepts(prim, nargs, dtype, params):
    try:
        prim.abstract_eval_rule(*[ShapedArray(SHAPE, dtype)] * nargs, **params)
        return True
    except TypeError:
        return False


def _program(dtype):
    """``{label: (function of (x, y), exact?)}`` for everything defined on ``dtype``."""
    cases = {}
    for prim in _PRIMS:
        for params in _PARAMS.get(prim.name, [{}]):
            nargs = 2 if prim.name in _BINARY else 1
            if _accepts(prim, nargs, dtype, params):
                label = prim.name + "".join(f"_{v}" for v in params.values())
                cases[label] = (lambda x, y, p=prim, n=nargs, kw=params:
                                p.bind(*(x, y)[:n], **kw), prim not in _INEXACT)
    for target in map(np.dtype, DTYPES):
        if needs_x64(target) == needs_x64(dtype) or not needs_x64(target):
            cases[f"convert_{target.name}"] = (
                lambda x, y, t=target: conversion.convert_element_type_p.bind(
                    x, new_dtype=t), True)
    cases["select_bool"] = (lambda x, y: conversion.select_n_p.bind(
        elementwise.lt_p.bind(x, y), x, y), True)
    return cases


_JITTED = {}


def _compiled(dtype):
    key = np.dtype(dtype)
    if key not in _JITTED:
        cases = _program(dtype)
        fun = lambda x, y: {k: f(x, y) for k, (f, _) in cases.items()}  # noqa: E731
        _JITTED[key] = (cases, fun, funcjax.jit(fun))
    return _JITTED[key]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_elementwise_primitive_matches_eager(dtype):
    @settings(max_examples=25, deadline=None)
    @given(arrays(dtype, SHAPE), arrays(dtype, SHAPE))
    def check(x, y):
        with enable_x64(needs_x64(dtype)):
            cases, fun, jitted = _compiled(dtype)
            with np.errstate(all="ignore"):
                want = fun(x, y)
            got = jitted(x, y)
            for label, (_, exact) in cases.items():
                assert_matches(got[label], want[label], exact, f"{label} on {x} and {y}")
    check()


def test_every_dtype_exercised_every_elementwise_primitive():
    covered = set()
    for dtype in DTYPES:
        with enable_x64(needs_x64(dtype)):
            covered |= {label.split("_")[0] for label in _program(dtype)}
    missing = [p.name for p in _PRIMS if p.name.split("_")[0] not in covered]
    assert not missing
