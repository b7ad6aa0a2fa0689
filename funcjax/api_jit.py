"""``jit``: stage a function once per abstract signature, compile it with the LLVM backend and
call the native code; with the AOT stages ``lower`` and ``compile`` for inspection."""

import functools
import html
import inspect
import logging
import threading
import time
import weakref

import numpy as np

from funcjax.api import ShapeDtypeStruct, _value_and_grad, trace_pytree_function
from funcjax.api_util import (
    abstractify_arguments,
    argument_names,
    check_callable,
    flat_argument_names,
    fun_name,
)
from funcjax.config import config
from funcjax.core import dtypes, gc_pause, placement
from funcjax.core.array import Array
from funcjax.core.ir import ClosedJaxpr, Jaxpr
from funcjax.core.pytree import matching_leaves, tree_flatten, tree_unflatten
from funcjax.core.trace import Tracer, current_trace
from funcjax.interpreters.eval import EvalTrace
from funcjax.ops.calls import jit_p

logger = logging.getLogger("funcjax")


def jit(fun=None, static_argnums=(), static_argnames=(), donate_argnums=()):
    """Compiles ``fun`` to native code, once per abstract signature of its arguments.

    Without ``fun`` it returns a decorator: ``@jit(static_argnames="n")`` (as in JAX).

    ``static_argnums``/``static_argnames`` name arguments passed by value (hashable; a new
    value compiles again). ``donate_argnums`` name arguments whose buffers outputs of the same
    shape and dtype reuse: a donated Array is deleted by the call (as in JAX; donation only
    applies to calls outside other transformations).
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, donate_argnums=donate_argnums)
    check_callable(fun, "jit")
    return JitFunction(fun, static_argnums, static_argnames, donate_argnums)


def clear_caches():
    """Forgets every traced and compiled jit entry (as ``jax.clear_caches``)."""
    with _caches_lock:
        caches = [c for per_options in _caches.values() for c in per_options.values()]
    for cache in caches:
        with cache.lock:
            cache.entries.clear()
            cache.fast.clear()
            cache.native = None
            cache.staged.clear()


def _fast_key(args):
    """The signature of positional arguments that are all arrays (no pytree to flatten: the
    avals, or shapes and dtypes of numpy arrays, decide the cache entry), else None. The
    call still goes through the program's complete argument checks."""
    key = [dtypes.x64_enabled()]
    for a in args:
        kind = type(a)
        if kind is Array:
            key.append(a.aval)
        elif kind is np.ndarray:
            key.append((a.shape, a.dtype))
        else:
            return None
    return tuple(key)


def _as_tuple(x, kind):
    if isinstance(x, kind):
        return (x,)
    return tuple(x)


class _Entry:
    """One cache entry: the closure-converted jaxpr of one signature and its program."""

    __slots__ = ("closed", "consts", "out_tree", "names", "name", "signature", "donated",
                 "input_names", "program", "out_weak", "native", "calls")

    def __init__(self, closed, consts, out_tree, names, name, signature, donated):
        self.closed, self.consts, self.out_tree = closed, consts, out_tree
        self.names, self.name, self.signature = names, name, signature
        self.donated = donated  # (input index, argument name) pairs
        self.input_names = ["(closed-over constant)"] * len(consts) + names
        self.program = None
        self.native = None  # (fast_call.NativeEntry, out tree) once hot; False: not eligible
        self.calls = 0  # calls through the Python path (NATIVE_AFTER_CALLS makes it hot)
        self.out_weak = [a.weak_type for a in closed.out_avals]


class CacheInfo(tuple):
    """``(hits, misses, traces, compiles, size)`` of a jitted function's cache."""

    __slots__ = ()
    _fields = ("hits", "misses", "traces", "compiles", "size")

    def __new__(cls, *values):
        return super().__new__(cls, values)

    def __getattr__(self, name):
        return self[self._fields.index(name)]

    def __repr__(self):
        return "CacheInfo(" + ", ".join(f"{f}={v}" for f, v in zip(self._fields, self)) + ")"


class _Cache:
    """The traced entries of one function under one set of jit options, with counters."""

    def __init__(self):
        self.entries = {}
        self.fast = {}  # _fast_key of plain array arguments -> the same entry (cleared along)
        # ``(function, in_tree, out_tree)`` of the generated entry of the entry called last
        # (``_use_native``), set in one assignment so threads never mix two entries: the
        # input pytree its leaves come from (None: the positional arguments are its inputs)
        # and the output pytree it returns flat (None: it returns the result itself).
        self.native = None
        self.counts = {"hits": 0, "misses": 0, "traces": 0}
        self.staged = {}  # staged_value_and_grad's jitted gradients, by their options
        self.lock = threading.Lock()


# fun -> {options: _Cache}. Like JAX, ``jit(f)`` re-created for the same function and options
# reuses the traces and programs of earlier wrappers; weak keys let dead functions (and the
# constants and code of their entries) be collected.
_caches = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


# Building a generated entry costs a small LLVM compile (~10-50 ms): a signature gets one after
# this many calls through the Python path (~50 us each), when it has shown it is called often.
NATIVE_AFTER_CALLS = 32


def _forget_native(name, value):
    """Any flag change drops every generated entry (they are built under fixed flags: x64,
    disable_jit, debug_nans, BLAS threads); the Python path rebuilds them."""
    with _caches_lock:
        caches = [c for per_options in _caches.values() for c in per_options.values()]
    for cache in caches:
        cache.native = None


config.on_update(_forget_native)


def _native_for(entry):
    """The generated C-API entry of a compiled entry (``backend/llvm/fast_call.py``) and the
    output tree to rebuild from its flat tuple (None when it returns the result itself); None
    when the program is not eligible."""
    from funcjax.backend.llvm import fast_call
    n = len(entry.closed.out_avals)
    probe = tree_unflatten(entry.out_tree, list(range(n)))
    if n == 1 and type(probe) is int:
        mode, tree = "leaf", None
    else:
        mode = "tuple"
        tree = None if type(probe) is tuple and probe == tuple(range(n)) else entry.out_tree
    native = fast_call.build(entry.program, entry.consts, mode)
    return (native, tree) if native is not None else False


def _cache_for(fun, options):
    """The cache shared by every ``jit(fun, **options)``; a private one when ``fun`` cannot be
    a weak dictionary key (unhashable, or without weak references)."""
    with _caches_lock:
        try:
            per_options = _caches.setdefault(fun, {})
        except TypeError:
            return _Cache()
        return per_options.setdefault(options, _Cache())


def _check_static_against_signature(fun, signature, static_nums, static_argnames):
    """As JAX: static_argnums beyond the positional parameters, or static_argnames that are
    not parameters, are errors (unless the function takes ``*args`` / ``**kwargs``)."""
    kinds = [p.kind for p in signature]
    if not kinds:
        return
    P = inspect.Parameter
    if P.VAR_POSITIONAL not in kinds:
        npos = sum(k in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD) for k in kinds)
        bad = [n for n in static_nums if not -npos <= n < npos]
        if bad:
            raise ValueError(f"jit({fun_name(fun)}): static_argnums={tuple(static_nums)}, but "
                             f"the function only accepts {npos} positional arguments; use "
                             f"numbers in range({npos}) or static_argnames")
    if P.VAR_KEYWORD not in kinds:
        names = {p.name for p in signature if p.kind != P.POSITIONAL_ONLY}
        bad = sorted(set(_as_tuple(static_argnames, str)) - names)
        if bad:
            raise ValueError(f"jit({fun_name(fun)}): static_argnames {bad} are not parameters "
                             "of the function")


class JitFunction:
    """What ``jit(f)`` returns: call it, ``lower`` it, or inspect its cache."""

    def __init__(self, fun, static_argnums, static_argnames, donate_argnums):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._static_nums = _as_tuple(static_argnums, int)
        self._static_names = set(_as_tuple(static_argnames, str))
        self._donate = _as_tuple(donate_argnums, int)
        both = sorted(set(self._donate) & set(self._static_nums))
        if both:
            raise ValueError(f"jit({fun_name(fun)}): arguments {both} are both static and "
                             "donated; a static argument has no buffer to donate, remove it "
                             "from donate_argnums")
        try:
            signature = inspect.signature(fun).parameters.values()
        except (TypeError, ValueError):
            signature = []
        params = [p.name for p in signature]
        _check_static_against_signature(fun, signature, self._static_nums, static_argnames)
        for i in self._static_nums:  # a static argument may be passed by name too
            if 0 <= i < len(params):
                self._static_names.add(params[i])
        self._param_names = params
        self._static_pos = {}  # number of positional arguments -> static positions
        self._store = _cache_for(fun, (self._static_nums, frozenset(self._static_names),
                                       self._donate))
        self._cache = self._store.entries
        self.last_miss_reason = None

    def __repr__(self):
        return f"<jit-compiled function {fun_name(self._fun)}>"

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    # -- signature and cache --------------------------------------------------------------
    def _static_positions(self, nargs):
        found = self._static_pos.get(nargs)
        if found is None:
            found = {n % nargs for n in self._static_nums if -nargs <= n < nargs}
            found |= {i for i, p in enumerate(self._param_names[:nargs])
                      if p in self._static_names}
            found = self._static_pos[nargs] = tuple(sorted(found))
        return found

    def _split(self, args, kwargs):
        static_pos = self._static_positions(len(args))
        static_kw = [k for k in kwargs if k in self._static_names] if kwargs else []
        statics = tuple((i, args[i]) for i in static_pos)
        statics += tuple((k, kwargs[k]) for k in sorted(static_kw))
        return static_pos, static_kw, statics

    def _unhashable_static(self, args, kwargs, statics):
        names = argument_names(self._fun, args, kwargs)
        for where, value in statics:
            try:
                hash(value)
            except TypeError:
                label = names[where] if isinstance(where, int) else where
                return ValueError(
                    f"jit({fun_name(self._fun)}): static argument '{label}' has unhashable "
                    f"type {type(value).__name__}. Static arguments are cache keys and must be "
                    "hashable: pass a tuple instead of a list, or make the argument "
                    "non-static.")
        return None

    def _entry(self, args, kwargs):
        """The cache entry for this call (tracing on a miss) and the flat dynamic leaves."""
        static_pos, static_kw, statics = self._split(args, kwargs)
        dyn_args = [a for i, a in enumerate(args) if i not in static_pos] if static_pos else args
        dyn_kw = {k: v for k, v in kwargs.items() if k not in static_kw} if static_kw else kwargs
        leaves, tree = tree_flatten((tuple(dyn_args), dyn_kw))
        avals = tuple(abstractify_arguments(f"jit({fun_name(self._fun)})", self._fun, dyn_args,
                                            dyn_kw, leaves, static_fix=True))
        key = (tree, avals, statics, dtypes.x64_enabled())
        try:
            entry = self._cache.get(key)
        except TypeError:
            error = self._unhashable_static(args, kwargs, statics)
            if error is None:
                raise
            raise error from None
        with self._store.lock:
            self._store.counts["hits" if entry is not None else "misses"] += 1
        if entry is None:
            entry = self._trace(args, kwargs, static_pos, static_kw, key)
        return entry, leaves

    def _trace(self, args, kwargs, static_pos, static_kw, key):
        fun, bound = self._fun, {k: kwargs[k] for k in static_kw}

        @functools.wraps(fun)
        def with_static_kwargs(*a, **kw):
            return fun(*a, **kw, **bound)

        dyn_kw = {k: v for k, v in kwargs.items() if k not in static_kw}
        names = argument_names(fun, args, dyn_kw)
        dyn_names = [n for i, n in enumerate(names[:len(args)]) if i not in static_pos]
        flat_names = flat_argument_names(dyn_names + list(dyn_kw), [
            a for i, a in enumerate(args) if i not in static_pos] + list(dyn_kw.values()))
        self._explain_miss(key, flat_names)
        start = time.perf_counter()
        with gc_pause.paused():
            closed, _, out_tree = trace_pytree_function(with_static_kwargs, args, dyn_kw, "jit",
                                                        static_pos)
        with self._store.lock:
            self._store.counts["traces"] += 1
        if config.jax_log_compiles:
            logger.warning("Finished tracing %s for jit in %.3f s", fun_name(fun),
                           time.perf_counter() - start)
        # Closure conversion: consts (arrays, or tracers of enclosing transformations)
        # become leading inputs, so the jit equation shows every value it reads.
        jaxpr = closed.jaxpr
        converted = ClosedJaxpr(Jaxpr([], jaxpr.constvars + jaxpr.invars, jaxpr.eqns,
                                      jaxpr.outvars), [])
        donated = self._donated_inputs(args, static_pos, len(closed.consts), flat_names)
        entry = _Entry(converted, list(closed.consts), out_tree, flat_names, fun_name(fun),
                       key, donated)
        if not any(isinstance(c, Tracer) for c in closed.consts):
            self._cache[key] = entry
        return entry

    def _donated_inputs(self, args, static_pos, num_consts, flat_names):
        """``(input index, name)`` of the leaves of the donated positional arguments (inputs
        start with the ``num_consts`` closed-over constants)."""
        nargs, start = len(args), num_consts
        outside = [d for d in self._donate if not -nargs <= d < nargs]
        if outside:
            raise ValueError(f"jit({fun_name(self._fun)}): donate_argnums={self._donate} names "
                             f"argument(s) {outside}, but the call passes {nargs} positional "
                             "argument(s); donate_argnums counts positional arguments only: fix "
                             "the numbers or pass the donated arrays positionally")
        donated = {d % nargs for d in self._donate}
        found = []
        for i, arg in enumerate(args):
            if i in static_pos:
                continue
            count = len(tree_flatten(arg)[0])
            if i in donated:
                found += [(start + k, flat_names[start - num_consts + k]) for k in range(count)]
            start += count
        return tuple(found)

    def _explain_miss(self, key, flat_names):
        if not self._cache:
            self.last_miss_reason = "first call: nothing cached yet"
        else:
            self.last_miss_reason = _explain_difference(list(self._cache), key, flat_names)
        if config.jax_explain_cache_misses:
            logger.warning("jit(%s) cache miss: %s", fun_name(self._fun), self.last_miss_reason)

    def cache_info(self):
        compiles = sum(e.program is not None for e in self._cache.values())
        c = self._store.counts
        native_hits = sum(e.native[0].calls for e in self._cache.values() if e.native)
        return CacheInfo(c["hits"] + native_hits, c["misses"], c["traces"], compiles,
                         len(self._cache))

    def clear_cache(self):
        self._cache.clear()
        self._store.fast.clear()
        self._store.native = None
        self._store.staged.clear()

    # -- calling --------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        native = self._store.native
        if native is not None and not kwargs and isinstance(
                current_trace(), EvalTrace) and not placement.blocks.value:
            # The generated entry checks every argument and returns NotImplemented unless
            # they are exactly what its program was compiled for.
            function, in_tree, out_tree = native
            if in_tree is None:
                out = function(*args)
            else:
                leaves = matching_leaves(in_tree, (args, {}))
                out = NotImplemented if leaves is None else function(*leaves)
            if out is not NotImplemented:
                return out if out_tree is None else tree_unflatten(out_tree, out)
        if config.jax_disable_jit:
            return self._fun(*args, **kwargs)
        fast = None
        if not kwargs and not self._static_nums and not self._static_names and isinstance(
                current_trace(), EvalTrace):
            fast = _fast_key(args)
            entry = self._store.fast.get(fast) if fast is not None else None
            if entry is not None and entry.program is not None:
                with self._store.lock:
                    self._store.counts["hits"] += 1
                outs = entry.program(*entry.consts, *args, arg_names=entry.input_names)
                outs = [Array(o, weak) for o, weak in zip(outs, entry.out_weak)]
                if placement.blocks.value:  # plain arrays here: only default_device matters
                    outs = placement.place(f"jit({entry.name})", args, outs)
                self._use_native(entry, None)
                return tree_unflatten(entry.out_tree, outs)
        entry, leaves = self._entry(args, kwargs)
        warm = entry.program is not None
        if fast is not None and self._cache.get(entry.signature) is entry:
            self._store.fast[fast] = entry
        flat = entry.consts + list(leaves)
        if isinstance(current_trace(), EvalTrace):
            outs = [Array(o, a.weak_type) for o, a in zip(
                self._program(entry)(*flat, arg_names=entry.input_names),
                entry.closed.out_avals)]
            if placement.state.active:
                outs = placement.place(f"jit({entry.name})", leaves, outs, entry.names)
            if warm and not kwargs and not self._static_nums and not self._static_names:
                self._use_native(entry, entry.signature[0])  # pytree arguments
        else:
            outs = jit_p.bind(*flat, jaxpr=entry.closed, name=entry.name)
        return tree_unflatten(entry.out_tree, outs)

    def _use_native(self, entry, in_tree):
        """Once a compiled entry is hot (``NATIVE_AFTER_CALLS``), calls go through its
        generated entry point (built once; flag changes drop it, see _forget_native).
        ``in_tree``: the pytree of ``(args, {})`` to flatten, None for plain arrays."""
        entry.calls += 1
        if entry.calls < NATIVE_AFTER_CALLS:
            return
        if entry.native is None:
            entry.native = _native_for(entry)
        if entry.native and not config.jax_debug_nans:
            self._store.native = (entry.native[0].function, in_tree, entry.native[1])

    def _program(self, entry):
        if entry.program is None:
            if config.jax_log_compiles:
                logger.warning("Compiling %s for args %s", entry.name,
                               ", ".join(a.str_short() for a in entry.closed.in_avals))
            from funcjax.backend.llvm import program_for
            entry.program = program_for(entry.closed, entry.name, entry.donated)
        return entry.program

    def staged_value_and_grad(self, what, argnums, has_aux, allow_int, holomorphic):
        """``jit(value_and_grad(f))``, cached, standing in for ``value_and_grad(jit(f))``
        called outside transformations (``api._value_and_grad`` asks); None when that does
        not apply (static or donated arguments, tracing, disabled jit, a default_device block)."""
        if (self._static_nums or self._static_names or self._donate or config.jax_disable_jit
                or not isinstance(current_trace(), EvalTrace) or placement.blocks.value):
            return None
        key = (what, tuple(argnums) if isinstance(argnums, list) else argnums, has_aux,
               allow_int, holomorphic)
        staged = self._store.staged.get(key)
        if staged is None:
            staged = self._store.staged[key] = JitFunction(
                _value_and_grad(what, self._fun, argnums, has_aux, allow_int, holomorphic),
                (), (), ())
        return staged

    def lower(self, *args, **kwargs):
        """Traces for these arguments (arrays or ``ShapeDtypeStruct``s) without compiling."""
        entry, _ = self._entry(args, kwargs)
        return Lowered(self, entry)

    def eval_shape(self, *args, **kwargs):
        entry, _ = self._entry(args, kwargs)
        return tree_unflatten(entry.out_tree, [ShapeDtypeStruct(a.shape, a.dtype, a.weak_type)
                                               for a in entry.closed.out_avals])


def _differences(old, new, flat_names):
    """What makes signature ``new`` differ from a cached ``old`` one, as sentences."""
    (old_tree, old_avals, old_statics, old_x64), (tree, avals, statics, x64) = old, new
    if old_x64 != x64:
        return ["jax_enable_x64 changed"]
    if old_tree != tree:
        return [f"the pytree structure of the arguments changed from {old_tree} to {tree}"]
    found = [f"argument '{name}' changed from {a.str_short()}{' (weak)' * a.weak_type} to "
             f"{b.str_short()}{' (weak)' * b.weak_type}"
             for name, a, b in zip(flat_names, old_avals, avals) if a != b]
    if [w for w, _ in old_statics] != [w for w, _ in statics]:
        return found + ["different arguments are static"]
    return found + [f"static argument {where!r} changed from {a!r} to {b!r}"
                    for (where, a), (_, b) in zip(old_statics, statics)
                    if not (a is b or a == b)]


def _explain_difference(cached, new, flat_names):
    """The differences from the closest cached signature (for cache-miss reports)."""
    closest = min((_differences(old, new, flat_names) for old in cached), key=len)
    return "; ".join(closest) or "the signature is new"


def _signature_text(entry):
    ins = ", ".join(a.str_short() for a in entry.closed.in_avals[len(entry.consts):])
    outs = ", ".join(a.str_short() for a in entry.closed.out_avals)
    return f"{entry.name}: ({ins}) -> ({outs})"


class Lowered:
    """A traced jit function for one signature: ``as_text()`` shows the jaxpr,
    ``as_text("llvm")`` the LLVM IR; ``compile()`` gives a ``Compiled``."""

    def __init__(self, jit_fun, entry):
        self._jit, self._entry = jit_fun, entry
        self._module = None

    @property
    def jaxpr(self):
        return self._entry.closed

    def __repr__(self):
        return f"Lowered({_signature_text(self._entry)}, {len(self.jaxpr.eqns)} equations)"

    def _repr_html_(self):
        return f"<b>{html.escape(repr(self))}</b>{self.jaxpr._repr_html_()}"

    def _lowered_module(self):
        if self._module is None:
            from funcjax.backend.llvm import LoweredModule
            self._module = LoweredModule(self._entry.closed, self._entry.name,
                                         self._entry.donated)
        return self._module

    def as_text(self, dialect="jaxpr"):
        if dialect == "jaxpr":
            return str(self._entry.closed)
        if dialect == "llvm":
            return self._lowered_module().ir_text
        if dialect == "fusion":
            from funcjax.backend.llvm import fusion, lowering
            return fusion.groups_text(self._entry.closed.jaxpr, lowering.rule_of)
        raise ValueError(f"Lowered.as_text: unknown dialect {dialect!r}; use 'jaxpr', "
                         "'fusion' or 'llvm' (compile() for 'asm')")

    def compile(self):
        return Compiled(self._entry, self._jit._program(self._entry))


class Compiled:
    """Native code for one signature. Call it with the lowered arguments minus static ones."""

    def __init__(self, entry, program):
        self._entry, self._program = entry, program

    def __call__(self, *args, **kwargs):
        leaves, tree = tree_flatten((tuple(args), kwargs))
        expected = self._entry.signature[0]
        if tree != expected:
            raise TypeError(f"Compiled {self._entry.name}: called with argument structure "
                            f"{tree} but it was compiled for {expected} (static arguments "
                            "are not passed to a Compiled object)")
        outs = self._program(*self._entry.consts, *leaves, arg_names=self._entry.input_names)
        return tree_unflatten(self._entry.out_tree, [
            Array(o, a.weak_type) for o, a in zip(outs, self._entry.closed.out_avals)])

    def as_text(self, dialect="asm"):
        return self._program.as_text(dialect)

    def __repr__(self):
        memory = self.memory_analysis()
        return (f"Compiled({_signature_text(self._entry)}, native code, "
                f"{getattr(memory, 'temp_size_in_bytes', 0):,} bytes of workspace)")

    def cost_analysis(self):
        from funcjax.backend.llvm.cost import cost_of
        return cost_of(self._entry.closed)

    def memory_analysis(self):
        return self._program.lowered.memory

    def export_library(self, path, name=None):
        """Writes a shared library ``path`` and C header (``.h`` next to it) running this
        computation without Python (``backend/llvm/export_library.py``); returns the header."""
        from funcjax.backend.llvm.export_library import export_library
        entry = self._entry
        return export_library(entry.closed, [np.asarray(c) for c in entry.consts], path,
                              name or entry.name, entry.input_names)
