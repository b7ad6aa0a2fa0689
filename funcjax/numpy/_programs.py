"""Eager calls of shape, indexing and contraction functions replayed from their checked programs.

``x.reshape(2, 4)``, ``x[0]``, ``x.T``, ``x @ y``, ``jnp.where`` ... spend most of their eager
time on argument handling (canonical shapes, index analysis, promotion) and on one type rule
per primitive they bind, not on numpy. All of that depends only on the types of the array
arguments and the values of the static ones. So the second eager call with the same key
(every Array's type, every other argument's type and value, the x64 flag) traces the general
function once to the primitives it binds; later calls with that key run those primitives'
impls directly on numpy values, in the quiet numpy context and with the result wrapping of
eager binding (``eval.run_quiet``, ``eval.as_value``), without re-running type rules: one
generated function per program (``interpreters/straight_line.py``), whose moves (reshape,
transpose, basic slicing) are numpy views of the input, as their impls return. ``x[i]``,
``x.reshape``, ``x.T`` and ``x @ y`` on an Array dispatch straight to their programs.

Checks are not lost: a program is kept only if tracing raised nothing, warned nothing, and
gave one array made by equations with plain parameters and no effects; otherwise the key is
remembered as refused and the general function runs (and raises or warns) every time. Only
exact ``Array`` arguments with live buffers are keyed, and only when primitives run now
(``eval.runs_now``: no transformation, no open ``default_device`` block; arguments are
exactly ``Array``, never committed or sharded ones) and ``jax_debug_nans`` is off;
tracers, numpy arrays, lists and other values always take the general path.

A warm program of an Array method that is one view of its operand or a plain 2-D product
(``_native_form``) is handed to ``backend/llvm/eager_views.py``, whose native entry then
replays it for the same key without entering Python (``_NativeMoves``).
"""

import ctypes
import functools
import warnings

import numpy as np

from funcjax.config import config
from funcjax.core import type_cache
from funcjax.core.array import Array, ArrayMethods, to_numpy
from funcjax.core.ir import Literal, has_effects
from funcjax.interpreters import straight_line
from funcjax.interpreters.eval import as_value, run_quiet, runs_now
from funcjax.interpreters.staging import trace_to_jaxpr
from funcjax.ops import contractions, conversion, shape

BUILD_AFTER = 2  # a one-off call never pays for tracing
_MAX_ENTRIES = 4096
_programs = {}  # key -> the program's function (compile_program), a count of calls, or _REFUSED
_Function = type(lambda: None)
_REFUSED = object()
# Tests turn it off to compare with the general path (a ctypes flag: native entries read it).
enabled = (ctypes.c_bool * 1)(True)


class _UnkeyedError(Exception):
    pass


_SCALARS = frozenset({int, bool, str, type(None), type(Ellipsis)})


def _key(a, arrays):
    """``a``'s part of the cache key; exact Arrays are appended to ``arrays`` and keyed by
    type. Raises ``_UnkeyedError`` for anything else than Arrays, plain scalars, slices, tuples,
    dtypes and scalar types."""
    t = type(a)
    if t is slice:
        if type(a.start) in _SCALARS and type(a.stop) in _SCALARS and type(a.step) in _SCALARS:
            return t, type(a.start), a.start, type(a.stop), a.stop, type(a.step), a.step
        return t, tuple([_key(e, arrays) for e in (a.start, a.stop, a.step)])
    if t is Array:
        if type(a._value) is not np.ndarray:  # deleted: the general path raises
            raise _UnkeyedError
        arrays.append(a)
        return a._aval
    if t in _SCALARS:
        return t, a
    if t is float:
        return t, a.hex()  # exact: 0.0 and -0.0 differ, nan equals nan
    if t is tuple:
        types = tuple(map(type, a))
        if _SCALARS.issuperset(types):  # a shape, axes, an index of ints
            return types, a
        return t, tuple([_key(e, arrays) for e in a])
    if isinstance(a, (type, np.dtype)):
        return t, a
    raise _UnkeyedError


def _substitute(a, inputs):
    """``a`` with each exact Array replaced by the next of ``inputs`` (as ``_key`` met them)."""
    t = type(a)
    if t is Array:
        return next(inputs)
    if t is tuple:
        return tuple([_substitute(e, inputs) for e in a])
    if t is slice:
        return slice(_substitute(a.start, inputs), _substitute(a.stop, inputs),
                     _substitute(a.step, inputs))
    return a


_RELABELS = frozenset({shape.reshape_p, shape.squeeze_p, shape.expand_dims_p})
# Primitives that only move elements: they raise no floating-point warnings, so programs made
# of them run without entering the quiet numpy context.
_MOVES = _RELABELS | {shape.transpose_p, shape.slice_p, shape.rev_p, shape.broadcast_in_dim_p,
                      conversion.select_n_p}


def _view_expression(eqn, operand, constant):
    """numpy source for ``eqn`` (a move) applied to ``operand``: a view of the same elements,
    as its impl makes it (``constant(value)`` names a fixed value in the generated code), or
    None for moves that are not a single view."""
    prim, params, aval = eqn.primitive, eqn.params, eqn.outputs[0].aval
    if prim in _RELABELS:  # the same C-order elements in the known shape
        return f"{operand}.reshape({constant(aval.shape)})"
    if prim is shape.transpose_p:  # np.transpose
        return f"{operand}.transpose({constant(tuple(params['permutation']))})"
    if prim is shape.slice_p:
        strides = params.get("strides") or (1,) * len(aval.shape)
        index = tuple(map(slice, params["start_indices"], params["limit_indices"], strides))
        return f"{operand}[{constant(index)}]"
    if prim is shape.rev_p:  # np.flip
        flipped = set(params["dimensions"])
        index = tuple(slice(None, None, -1) if d in flipped else slice(None)
                      for d in range(len(aval.shape)))
        return f"{operand}[{constant(index)}]"
    return None


def _direct_call(eqn):
    """A numpy function computing ``eqn`` as its impl does for these input types, without the
    impl's own dispatch, or None. (A 2-D product of one non-bool dtype is ``np.matmul`` in
    ``dot_general``'s impl.)"""
    if eqn.primitive is contractions.dot_general_p:
        lhs, rhs = (a.aval for a in eqn.inputs)
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        if lhs.ndim == rhs.ndim == 2 and tuple(lc) == (1,) and tuple(rc) == (0,) and \
                not lb and not rb and lhs.dtype == rhs.dtype != np.dtype(bool) and \
                eqn.params.get("preferred_element_type") in (None, lhs.dtype):
            return np.matmul
    return None


def _frozen(value):
    """``value`` as eager binding reads it (``to_numpy``), read-only (a view: whoever owns
    the buffer keeps their flags)."""
    value = to_numpy(value)
    if value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


def _fixed_and_plan(closed):
    """``(fixed, plan, reads)``: values that are the same on every call (constants, literals,
    results of equations of fixed values, computed once here), the remaining equations that
    the result needs, and the variables each of them reads."""
    jaxpr = closed.jaxpr
    fixed = dict(zip(jaxpr.constvars, map(_frozen, closed.consts)))
    plan = []
    for eqn in jaxpr.eqns:
        for atom in eqn.inputs:
            if type(atom) is Literal:
                fixed[atom] = _frozen(atom.val)
        if all(atom in fixed for atom in eqn.inputs):
            outs = run_quiet(eqn.primitive.impl, *[fixed[a] for a in eqn.inputs], **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
            for var, out in zip(eqn.outputs, outs):
                fixed[var] = _frozen(as_value(out, var.aval))
        else:
            plan.append(eqn)
    (out,) = jaxpr.outvars
    if out in fixed:
        raise ValueError("a constant result")  # refused: each call must get its own
    # A reshape of a reshape reads the first one's input (the same C-order elements);
    # equations whose results nothing reads then drop out.
    reads, source = {}, {}
    for eqn in plan:
        reads[eqn] = eqn.inputs
        if eqn.primitive in _RELABELS:
            reads[eqn] = [source.get(eqn.inputs[0], eqn.inputs[0])]
            source[eqn.outputs[0]] = reads[eqn][0]
    needed = {out}
    for eqn in reversed(plan):
        if needed.intersection(eqn.outputs):
            needed.update(reads[eqn])
    return fixed, [eqn for eqn in plan if needed.intersection(eqn.outputs)], reads


def compile_program(closed):
    """The equations of one traced call as one generated function of the argument Arrays
    returning the result Array (``straight_line.generate``). Moves become numpy views
    (``reshape``, ``transpose``, basic indexing: what their impls return) and a plain 2-D
    product ``np.matmul`` (``_direct_call``); fixed values are computed once. A program made
    of moves only runs outside the quiet numpy context."""
    jaxpr = closed.jaxpr
    fixed, plan, reads = _fixed_and_plan(closed)

    def direct(eqn, ins, constant):
        call = _direct_call(eqn)
        return None if call is None else f"{constant(call)}({', '.join(ins)})"
    run = straight_line.generate(
        jaxpr.invars, jaxpr.outvars, plan, reads, fixed, expression=_view_expression, direct=direct,
        quiet=any(eqn.primitive not in _MOVES for eqn in plan), single=True)
    run.form = _native_form(jaxpr, plan, reads, fixed)
    return run


def _native_form(jaxpr, plan, reads, fixed):
    """What a native entry can replay of a program (``backend/llvm/eager_views.py``):
    ``("view",)`` for moves of its one input that numpy makes as one view; ``("matmul",
    (i, shape), (j, shape))`` for ``np.matmul`` of inputs ``i`` and ``j`` (each reshaped to
    the 2-D ``shape``), possibly reshaped; else None."""
    if fixed or not plan:
        return None
    expressions = [_view_expression(eqn, "v", repr) for eqn in plan]
    if len(jaxpr.invars) == 1 and None not in expressions:
        return ("view",)
    products = [eqn for eqn in plan if _direct_call(eqn) is np.matmul]
    if len(jaxpr.invars) != 2 or len(products) != 1 or \
            any(eqn.primitive not in _RELABELS for eqn in plan if eqn is not products[0]):
        return None
    (product,) = products
    made_by = {eqn.outputs[0]: eqn for eqn in plan}
    operands = []
    for atom in product.inputs:
        source = atom if atom in jaxpr.invars else reads[made_by[atom]][0]
        if source not in jaxpr.invars:
            return None
        operands.append((jaxpr.invars.index(source), tuple(atom.aval.shape)))
    (out,) = jaxpr.outvars
    if out is not product.outputs[0] and reads[made_by[out]][0] is not product.outputs[0]:
        return None
    return ("matmul", *operands)


def _build(general, args, kwargs, arrays):
    """The program of ``general(*args, **kwargs)`` for these types (``compile_program``), or
    ``_REFUSED``."""
    def flat(*tracers):
        inputs = iter(tracers)
        return [general(*_substitute(args, inputs),
                        **{k: _substitute(v, inputs) for k, v in kwargs.items()})]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            closed = trace_to_jaxpr(flat, [a._aval for a in arrays], "eager program")
    except Exception:  # noqa: BLE001 - the general path raises it again, with its message
        return _REFUSED
    jaxpr = closed.jaxpr
    if caught or len(jaxpr.outvars) != 1 or type(jaxpr.outvars[0]) is Literal or \
            jaxpr.outvars[0] in jaxpr.constvars:
        return _REFUSED
    for eqn in jaxpr.eqns:
        if eqn.primitive.impl is None or has_effects(eqn) or type_cache.key(
                eqn.primitive, [a.aval for a in eqn.inputs], eqn.params) is None:
            return _REFUSED
    try:
        return compile_program(closed)
    except Exception:  # noqa: BLE001 - e.g. a constant result; the general path runs
        return _REFUSED


def eager_program(general=None, *, native=None):
    """``general`` (a function of arrays and static arguments returning one array) with its
    eager calls replayed from their checked programs. ``native(run, args, arrays, out)`` is
    told of each replay (``_util.static_native``; ``@eager_program(native=...)``): ``run``
    runs the program (``run.program``, of ``_native_form`` ``run.form``) on a list of Arrays
    of the types of ``arrays``; ``out`` is its result."""
    if general is None:
        return lambda general: eager_program(general, native=native)
    @functools.wraps(general)
    def fn(*args, **kwargs):
        if not runs_now() or config.jax_debug_nans or not enabled[0]:
            return general(*args, **kwargs)
        if not kwargs and native is None:  # ``x.T``, ``x @ y``: the loop's key, directly
            n = len(args)
            if n == 1:
                (a,) = args
                if type(a) is Array and type(a._value) is np.ndarray:
                    entry = _programs.get((general, config.jax_enable_x64, a._aval))
                    if type(entry) is _Function:
                        return entry(a)
            elif n == 2:
                a, b = args
                if type(a) is Array and type(b) is Array and type(a._value) is np.ndarray \
                        and type(b._value) is np.ndarray:
                    entry = _programs.get((general, config.jax_enable_x64, a._aval, b._aval))
                    if type(entry) is _Function:
                        return entry(a, b)
        arrays = []
        key = [general, config.jax_enable_x64]
        try:
            for a in args:  # (``_key``, with the common cases inline)
                t = type(a)
                if t is Array and type(a._value) is np.ndarray:
                    arrays.append(a)
                    key.append(a._aval)
                elif t in _SCALARS:
                    key.append((t, a))
                elif t is slice and type(a.start) in _SCALARS and type(a.stop) in _SCALARS \
                        and type(a.step) in _SCALARS:  # (as ``_key`` keys it)
                    key.append((t, type(a.start), a.start, type(a.stop), a.stop, type(a.step),
                                a.step))
                else:
                    key.append(_key(a, arrays))
            if kwargs:
                for name, a in kwargs.items():
                    t = type(a)
                    key.append((name, t, a) if t in _SCALARS else (name, _key(a, arrays)))
            key = tuple(key)
            entry = _programs.get(key, 0)
        except (_UnkeyedError, TypeError):  # TypeError: an unhashable value
            return general(*args, **kwargs)
        if type(entry) is _Function:
            out = entry(*arrays)
            if native is not None:
                def run(inputs):
                    return entry(*inputs)
                run.program, run.form = entry, getattr(entry, "form", None)
                native(run, args, arrays, out)
            return out
        if entry is not _REFUSED and arrays:
            if entry + 1 < BUILD_AFTER:
                entry += 1
            else:
                entry = _build(general, args, kwargs, arrays)
            if len(_programs) >= _MAX_ENTRIES:
                _programs.clear()
            _programs[key] = entry
            if type(entry) is _Function:
                return entry(*arrays)
        return general(*args, **kwargs)
    return fn


class _NativeMoves:
    """The ``eager_program`` hook of the Array attribute ``attr`` (``attribute``, the Python
    version): a program of form ``kind`` (``_native_form``) replayed ``NATIVE_AFTER`` times
    for operands of the same strides (again after its table entry was replaced by others)
    gets a native entry for that key (``backend/llvm/eager_views.py``, which replaces
    ``attribute`` on ``Array`` and calls it for anything it does not take)."""

    NATIVE_AFTER = 32

    def __init__(self, attr, kind):
        self.attr, self.kind, self.attribute, self.hits = attr, kind, None, {}

    def __call__(self, run, args, arrays, out):
        form = getattr(run, "form", None)
        if form is None or form[0] != self.kind or any(out is a for a in arrays):
            return
        key = (run.program, *[a._value.strides for a in arrays])
        n = self.hits.get(key, 0)
        if n is None:  # refused
            return
        if len(self.hits) >= _MAX_ENTRIES:
            self.hits.clear()
        self.hits[key] = n = n + 1
        if n < self.NATIVE_AFTER:
            return
        from funcjax.backend.llvm import eager_views  # the backend loads for hot code only
        moves = eager_views.moves_for(self.attr, self.attribute, self.kind, enabled)
        x64 = config.jax_enable_x64
        if moves is None:
            done = False
        elif self.kind == "view":
            done = moves.enable_view(arrays[0], args[1:], x64, out)
        else:  # (the entry's left operand is ``self``)
            (i, a2d), (j, b2d) = form[1:]
            done = (i, j) == (0, 1) and moves.enable_matmul(*arrays, a2d, b2d, x64, out)
        # counted again if its table entry is replaced by others'; never again if refused
        self.hits[key] = 0 if done else None


# ``x[i]``, ``x.reshape(...)``, ``x.T`` and ``x @ y`` on an Array are eager programs of the
# methods themselves (which forward to funcjax.numpy): a warm call goes from the operator
# straight to its program. Committed and sharded arrays (subclasses), and tracers (which
# only share ``ArrayMethods``), take the methods unchanged.
# Those of one kind of ``_native_form`` get native entries when warm.
_NATIVE_KINDS = {"__getitem__": "view", "reshape": "view", "transpose": "view", "swapaxes": "view",
                 "squeeze": "view", "T": "view", "mT": "view", "__matmul__": "matmul"}
for _name in ("__getitem__", "reshape", "transpose", "__matmul__", "__rmatmul__", "swapaxes",
              "squeeze", "T", "mT"):
    _hook = _NativeMoves(_name, _NATIVE_KINDS[_name]) if _name in _NATIVE_KINDS else None
    _method = getattr(ArrayMethods, _name)
    if type(_method) is property:
        _attribute = property(eager_program(_method.fget, native=_hook))
    else:
        _attribute = eager_program(_method, native=_hook)
    if _hook is not None:
        _hook.attribute = _attribute
    setattr(Array, _name, _attribute)
