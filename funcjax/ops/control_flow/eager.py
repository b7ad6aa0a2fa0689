"""Eager loops compiled once: a ``scan`` or ``while_loop`` run eagerly hands the whole loop to
the jit backend when interpreting its body per iteration would cost more than compiling it.

Eager code retraces a loop body on every call, so compiled loops are cached under a
*structural* key of the body (primitives, wiring, variable types, literal values, params,
nested jaxprs) plus the operand types: the same loop written again hits the cache. A body with
params that have no structural key (Python callables of custom rules) and a body the backend
cannot lower keep the interpreter, as does ``jax_disable_jit``. The compiled program is a
one-equation jaxpr (the loop itself), checked against its operands like any jit call.
"""

import collections
import os
import sysconfig
import threading
import types

import numpy as np

from funcjax.config import config
from funcjax.core.abstract import ShapedArray
from funcjax.core.array import Array as _Array
from funcjax.core.ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var
from funcjax.core.source_info import _PACKAGE_DIR
from funcjax.core.trace import Tracer, _context
from funcjax.interpreters.eval import EvalTrace
from funcjax.interpreters.tape import TapeTrace

_STDLIB_DIR = os.path.dirname(sysconfig.get_paths()["stdlib"]) + os.sep

# Equation evaluations (body size x iterations) below which interpreting is cheaper than the
# tens of milliseconds a compilation costs.
MIN_WORK = 4000
_CACHE_SIZE = 256
_programs = collections.OrderedDict()  # structural key -> compiled program, or None
_sightings = {}  # structural key -> calls so far, for ``compiled_loop(after=...)``
_lock = threading.Lock()


class _NoKeyError(Exception):
    pass


def _value_key(v):
    arr = np.asarray(v)
    if arr.dtype == object:
        raise _NoKeyError
    return type(v), arr.dtype.str, arr.shape, arr.tobytes()


_SCALAR_TYPES = frozenset({bool, int, float, str, type(None)})


def _param_key(v):
    t = type(v)
    if t in _SCALAR_TYPES:
        return t, v
    if isinstance(v, ClosedJaxpr):
        # An interned jaxpr is its own key (hashed by identity; the key keeps it alive).
        return v if _canonical.get(id(v)) is v else jaxpr_key(v)
    if isinstance(v, (tuple, list)):
        return type(v), tuple(map(_param_key, v))
    if isinstance(v, np.dtype):
        return v
    if isinstance(v, (bool, int, float, str, type(None), np.generic)):
        return type(v), v
    if isinstance(v, np.ndarray):
        return _value_key(v)
    raise _NoKeyError  # functions, trees, ...: no structure to compare


def jaxpr_key(closed):
    """A hashable value equal for two closed jaxprs exactly when they compute the same thing
    the same way (variables numbered by first appearance)."""
    numbers = {}

    def var(v):
        return numbers.setdefault(v, len(numbers)), v.aval

    def atom(a):
        if isinstance(a, Literal):
            return "literal", _value_key(a.val), a.aval
        return var(a)
    jaxpr = closed.jaxpr
    head = (tuple(map(var, jaxpr.constvars)), tuple(map(var, jaxpr.invars)),
            tuple(map(_value_key, closed.consts)))
    eqns = tuple((e.primitive.name, tuple(map(atom, e.inputs)),
                  tuple((k, _param_key(p)) for k, p in e.params.items()),
                  tuple(map(var, e.outputs))) for e in jaxpr.eqns)
    return head, eqns, tuple(map(atom, jaxpr.outvars))


_interned = collections.OrderedDict()  # structural key -> the first closed jaxpr seen
_canonical = {}  # id -> the interned jaxprs themselves (they stay alive while listed)


def intern(closed):
    """A structurally equal closed jaxpr seen before, else ``closed`` itself: a loop body
    retraced by eager code becomes the same object, so memoised transformations and compiled
    programs keyed by identity are found again."""
    if _canonical.get(id(closed)) is closed:
        return closed
    if closed.consts:
        return closed
    try:
        key = jaxpr_key(closed)
        hash(key)
    except (_NoKeyError, TypeError):
        return closed
    with _lock:
        found = _interned.get(key)
        if found is not None:
            _interned.move_to_end(key)
            return found
        _interned[key] = closed
        _canonical[id(closed)] = closed
        if len(_interned) > _CACHE_SIZE:
            dropped = _interned.popitem(last=False)[1]
            _canonical.pop(id(dropped), None)
    return closed


_derived = collections.OrderedDict()  # (id of an interned jaxpr, what, how) -> (it, result)


def derived(closed, how, build):
    """``build()``, a jaxpr rearranged from ``closed`` as ``how`` says, remembered per
    ``closed`` (by identity; the entry keeps it alive): the rules of a retraced loop ask for the
    same rearrangement of the same interned or memoised jaxpr every time, and interning the
    result anew would rehash its whole structure."""
    if closed.consts:
        return build()
    try:
        key = (id(closed), how)
        hash(key)
    except TypeError:
        return build()
    with _lock:
        entry = _derived.get(key)
        if entry is not None and entry[0] is closed:
            _derived.move_to_end(key)
            return entry[1]
    out = build()
    with _lock:
        _derived[key] = (closed, out)
        if len(_derived) > _CACHE_SIZE:
            _derived.popitem(last=False)
    return out


# -- retraced loop bodies -----------------------------------------------------------------------
# Eager code passes ``scan``/``while_loop``/``cond`` a body that is a new closure on every call
# (it is defined inside the function that loops), so staging it again costs more than running
# the compiled loop. What staging a Python function produces depends on its code, the values it
# closes over, the globals it reads and its defaults (and the input types and flags, keyed by
# the caller). ``function_key`` is a hashable value of exactly those, when they are plain:
# scalars, strings, modules, classes, library functions and small funcjax Arrays (immutable;
# kept by identity), tuples of these, and user functions (recursively). Anything mutable or opaque
# (lists, dicts, numpy arrays, objects, tracers) gives no key, and the body is staged as before.
class _Same:
    """An object inside a key, compared by identity (the key keeps it alive)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return type(other) is _Same and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


_PLAIN = frozenset({bool, int, float, complex, str, bytes, type(None)})
_MAX_KEPT_SIZE = 4096  # elements of an Array a key may hold (parameters change every step)
_global_names = {}  # code object -> the global names it (and the code nested in it) may read


def _names_of(code):
    names = _global_names.get(code)
    if names is None:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(_names_of(const))
        if len(_global_names) > 4096:
            _global_names.clear()
        names = _global_names[code] = tuple(sorted(found))
    return names


def function_key(fn):
    """A hashable value that is equal for two functions that stage the same program, or
    None where the function reads something that cannot be compared."""
    try:
        key = _function_key(fn, set())
        hash(key)
    except (_NoKeyError, TypeError, ValueError):  # ValueError: an empty closure cell
        return None
    return key


def _function_key(fn, seen):
    if type(fn) is not types.FunctionType:  # a jitted function, a partial, a callable object
        raise _NoKeyError
    if id(fn) in seen:  # recursion through a global or closure
        return "recursive", fn.__code__
    seen.add(id(fn))
    code = fn.__code__
    closure = () if fn.__closure__ is None else \
        tuple(_object_key(c.cell_contents, seen) for c in fn.__closure__)
    env = fn.__globals__
    reads = tuple((n, _object_key(env[n], seen)) for n in _names_of(code) if n in env)
    defaults = _object_key(fn.__defaults__, seen)
    kwdefaults = tuple((k, _object_key(v, seen)) for k, v in sorted((fn.__kwdefaults__ or
                                                                    {}).items()))
    return code, closure, reads, defaults, kwdefaults


def _object_key(v, seen):
    t = type(v)
    if t in _PLAIN:
        return t, v
    if t is tuple:
        return t, tuple(_object_key(x, seen) for x in v)
    if t is types.FunctionType:
        if _library_code(v.__code__):
            return _Same(v)  # defined once, at import
        return _function_key(v, seen)
    if t is types.ModuleType or t is types.BuiltinFunctionType or isinstance(v, type) or \
            t is np.ufunc:
        return _Same(v)
    if t is _Array and v.size <= _MAX_KEPT_SIZE:
        return _Same(v)  # small: a stale entry keeps little alive (large ones: no key)
    if isinstance(v, np.generic):
        return t, v.tobytes()
    raise _NoKeyError


def _library_code(code):
    name = code.co_filename
    return name.startswith(_PACKAGE_DIR) or "site-packages" in name or \
        name.startswith(_STDLIB_DIR)


_staged = collections.OrderedDict()  # (function key, input structure, flags) -> staged body


def staged_body(fn, key, stage):
    """``stage()`` (a staged body of ``fn``), or the one staged before for an equal
    ``function_key(fn)`` and ``key`` (input structure and types). Only where operations run
    now (eager code and eager grad), so no transformation's context is baked in; results
    holding tracers are never kept."""
    trace = _context.trace
    fkey = function_key(fn) if trace is None or type(trace) in (EvalTrace, TapeTrace) \
        else None
    if fkey is None:
        return stage()
    full = (fkey, key, config.jax_enable_x64, config.jax_disable_jit, config.jax_debug_nans)
    try:
        hash(full)
    except TypeError:
        return stage()
    with _lock:
        found = _staged.get(full)
        if found is not None:
            _staged.move_to_end(full)
            return found
    out = stage()
    if any(isinstance(c, Tracer) for c in out[1]):
        return out
    with _lock:
        _staged[full] = out
        if len(_staged) > _CACHE_SIZE:
            _staged.popitem(last=False)
    return out


def body_size(closed):
    return len(closed.jaxpr.eqns)


def compiled_loop(primitive, args, params, work, after=1):
    """The compiled program that runs ``primitive(*args, **params)``, or None to interpret
    (too little ``work``, jit disabled, no structural key, or not lowerable). ``after``: the
    number of calls with these types before one compiles (a one-off call never waits for a
    compilation)."""
    if work < MIN_WORK or config.jax_disable_jit:
        return None
    types_ = tuple(map(_operand_type, args))
    try:
        key = (primitive.name, types_, tuple((k, _param_key(p)) for k, p in params.items()))
        hash(key)
    except (_NoKeyError, TypeError):
        return None
    with _lock:
        if key in _programs:
            _programs.move_to_end(key)
            return _programs[key]
        if after > 1:
            if len(_sightings) > _CACHE_SIZE * 16:
                _sightings.clear()
            seen = _sightings[key] = _sightings.get(key, 0) + 1
            if seen < after:
                return None
    program = _compile(primitive, [ShapedArray(*t) for t in types_], params)
    if program is not None:
        # The entry holds the GIL while the loop runs: only loops of known, modest length.
        program = CompiledLoop(program, native=primitive.name != "while"
                               and work <= NATIVE_MAX_WORK)
    with _lock:
        _programs[key] = program
        if len(_programs) > _CACHE_SIZE:
            _programs.popitem(last=False)
    return program


def _operand_type(a):
    """(shape, dtype) of an operand: compared in C, unlike a ShapedArray (a loop with 15
    operands spent 20 us per call building and comparing its key from ShapedArrays)."""
    if type(a) is np.ndarray:
        return a.shape, a.dtype
    if type(a) is _Array:
        return a._aval.shape, a._aval.dtype
    a = np.asarray(a)
    return a.shape, a.dtype


class CompiledLoop:
    """A compiled loop program that gets its generated native entry (``fast_call``) once it
    has run ``NATIVE_AFTER`` times: the entry reads buffer addresses and allocates outputs in
    native code, where the Python path spent ~1.5 us per operand (20-30 us for a scan's
    backward pass with its residuals). Calls return the program's outputs as numpy arrays;
    arguments the entry was not built for (and debug_nans) take the checked Python path."""

    __slots__ = ("program", "entry", "calls")

    def __init__(self, program, native=True):
        self.program, self.entry, self.calls = program, None if native else False, 0

    def __call__(self, *args):
        if not config.jax_debug_nans:  # debug_nans checks every output in Python
            entry = self.entry
            if entry is None:
                self.calls += 1
                if self.calls >= NATIVE_AFTER:
                    entry = self.entry = _native_entry(self.program)
            if entry:
                out = entry.function(*args)
                if out is not NotImplemented:
                    return [o._value for o in out]
        return self.program(*args)

NATIVE_AFTER = 4
NATIVE_MAX_WORK = 1 << 17  # equation evaluations (a while loop's trip count is unknown)


def _native_entry(program):
    """The program's native entry, or False. Programs that call BLAS keep the Python path,
    which sets the BLAS thread count for each call (a program without code has no
    ``uses_blas`` and no entry)."""
    from funcjax.backend.llvm import fast_call
    if getattr(program, "uses_blas", True):
        return False
    return fast_call.build(program, [], "tuple") or False


def _compile(primitive, avals, params):
    from funcjax.backend.llvm import program_for  # the backend loads on first compilation
    invars = [Var(a) for a in avals]
    out_avals = primitive.abstract_eval_rule(*avals, **params)
    if not primitive.multiple_results:
        out_avals = [out_avals]
    outvars = [Var(a) for a in out_avals]
    jaxpr = Jaxpr([], invars, [Eqn(primitive, invars, params, outvars, None)], outvars)
    try:
        return program_for(ClosedJaxpr(jaxpr, []), f"eager_{primitive.name}")
    except Exception:  # noqa: BLE001 - a body the backend cannot lower is interpreted instead
        return None
