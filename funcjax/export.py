"""``funcjax.export``: a jitted function's jaxpr as bytes that load without the Python code.

``exported = export(jit(f))(*args_or_ShapeDtypeStructs)`` traces ``f`` once;
``exported.serialize()`` gives bytes and ``deserialize(data).call(*args)`` runs the program
again in any process with funcjax, under ``jit``, ``vjp``, ``grad`` and ``vmap`` too (the
call binds the stored equations under the current trace, so every transformation applies).

File layout (schema version 1), all integers little-endian::

    b"FUNCJAX-EXPORT\\n"  magic (15 bytes)
    uint32              schema version
    uint64              length H of the header
    H bytes             header: UTF-8 JSON (below)
    ...                 array data: the constants' and array parameters' raw bytes
    32 bytes            SHA-256 of everything before it

The header holds ``name``, ``in_avals``/``out_avals`` (``[dtype name, shape, weak_type]``),
``in_tree``/``out_tree`` (the pytree skeletons with leaf numbers), ``arrays`` (``[dtype,
shape, offset, nbytes]`` into the data), ``consts`` (array numbers) and ``jaxpr``: ``{"invars":
[var], "eqns": [eqn], "outvars": [atom]}``, where a var is ``[id, aval]`` (id -1: dropped), an
atom is ``{"var": id}`` or ``{"lit": value, "aval": aval}`` and an eqn is ``{"prim": name,
"in": [atom], "out": [var], "params": {name: value}, "src": [file, line, function]}``.
Values are JSON scalars or one-key objects: ``tuple``/``list``/``dict``, ``float`` (nan, inf),
``dtype``, ``array`` (a number), ``jaxpr``/``closed_jaxpr`` (consts as array numbers) and
``namedtuple`` (a funcjax class). A reader accepts the versions in ``READABLE_VERSIONS`` and
refuses others by name; a file that fails its checksum or is cut short is refused whole.
"""

import hashlib
import importlib
import json
import math
import struct

import numpy as np

from funcjax.api_jit import JitFunction
from funcjax.core.abstract import ShapedArray
from funcjax.core.array import to_numpy
from funcjax.core.ir import ClosedJaxpr, DropVar, Eqn, Jaxpr, Literal, Var
from funcjax.core.primitive import registry
from funcjax.core.source_info import SourceInfo
from funcjax.interpreters.eval import eval_jaxpr
from funcjax.tree_util import tree_flatten, tree_structure, tree_unflatten

MAGIC = b"FUNCJAX-EXPORT\n"
SCHEMA_VERSION = 1
READABLE_VERSIONS = (1,)
_PREFIX = struct.Struct("<IQ")
_DIGEST = 32


class DeserializationError(ValueError):
    """The bytes are not a funcjax export this version can read (corrupt, truncated, newer)."""


# ---- writing -------------------------------------------------------------------------------

class _Writer:
    def __init__(self):
        self.arrays, self.chunks, self.size = [], [], 0

    def array(self, x):
        a = np.array(to_numpy(x), order="C", copy=None)
        data = a.tobytes()
        self.arrays.append([a.dtype.name, list(a.shape), self.size, len(data)])
        self.chunks.append(data)
        self.size += len(data)
        return len(self.arrays) - 1

    def value(self, v, where):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
            return int(v)
        if type(v) is float:
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(v, np.generic):
            return {"scalar": self.value(v.item(), where), "of": v.dtype.name}
        if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
            return {"dtype": np.dtype(v).name}
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            cls = type(v)
            if not cls.__module__.startswith("funcjax."):
                raise TypeError(f"export: {where} holds a {cls.__name__}, which is not a "
                                "funcjax type; only funcjax's own parameter types serialise")
            return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}",
                    "fields": [self.value(x, where) for x in v]}
        if isinstance(v, (tuple, list)):
            return {type(v).__name__: [self.value(x, where) for x in v]}
        if isinstance(v, dict):
            return {"dict": [[self.value(k, where), self.value(x, where)] for k, x in v.items()]}
        if isinstance(v, ClosedJaxpr):
            return {"closed_jaxpr": self.jaxpr(v.jaxpr),
                    "consts": [self.array(c) for c in v.consts]}
        if isinstance(v, Jaxpr):
            return {"jaxpr": self.jaxpr(v)}
        if isinstance(v, (np.ndarray, np.generic)) or hasattr(v, "__array__"):
            return {"array": self.array(v)}
        raise TypeError(f"export: {where} is a {type(v).__name__} ({v!r:.60}), which cannot be "
                        "serialised (Python callables and host callbacks cannot leave the "
                        "process); export a function without it")

    def jaxpr(self, jaxpr):
        ids = {}

        def define(v):
            if isinstance(v, DropVar):
                return [-1, _aval(v.aval)]
            ids[v] = len(ids)
            return [ids[v], _aval(v.aval)]

        def atom(a, where):
            if isinstance(a, Literal):
                return {"lit": self.value(a.val, where), "aval": _aval(a.aval)}
            return {"var": ids[a]}

        out = {"constvars": [define(v) for v in jaxpr.constvars],
               "invars": [define(v) for v in jaxpr.invars], "eqns": []}
        for eqn in jaxpr.eqns:
            where = f"primitive '{eqn.primitive.name}'"
            src = eqn.source_info
            out["eqns"].append({
                "prim": eqn.primitive.name,
                "in": [atom(a, where) for a in eqn.inputs],
                "params": {k: self.value(v, f"{where} parameter '{k}'")
                           for k, v in eqn.params.items()},
                "out": [define(v) for v in eqn.outputs],
                "src": [src.filename, src.lineno, src.function] if src else None})
        out["outvars"] = [atom(a, "an output") for a in jaxpr.outvars]
        return out


def _aval(a):
    return [a.dtype.name, list(a.shape), a.weak_type]


def _skeleton(tree):
    """A pytree skeleton of JSON containers with leaf numbers (custom nodes refused)."""
    def enc(node):
        if isinstance(node, int):
            return node
        if node is None:
            return {"none": None}
        if isinstance(node, tuple) and not hasattr(node, "_fields"):
            return {"tuple": [enc(x) for x in node]}
        if isinstance(node, list):
            return {"list": [enc(x) for x in node]}
        if isinstance(node, dict) and all(isinstance(k, str) for k in node):
            return {"dict": [[k, enc(x)] for k, x in node.items()]}
        raise TypeError(f"export: the pytree node {type(node).__name__} cannot be serialised; "
                        "use tuples, lists, dicts with string keys and None for arguments "
                        "and results")
    return enc(tree_unflatten(tree, list(range(tree.num_leaves))))


# ---- reading -------------------------------------------------------------------------------

class _Reader:
    def __init__(self, arrays, data):
        self.arrays, self.data = arrays, data

    def array(self, k):
        dtype, shape, offset, nbytes = self.arrays[k]
        a = np.frombuffer(self.data, np.dtype(dtype), count=math.prod(shape), offset=offset)
        if a.nbytes != nbytes:
            raise DeserializationError(f"deserialize: array {k} has {a.nbytes} bytes, header "
                                       f"says {nbytes}")
        return a.reshape(tuple(shape)).copy()

    def value(self, v):
        if not isinstance(v, dict):
            return v
        (kind, body), = [(k, x) for k, x in v.items() if k not in ("fields", "consts", "of")]
        if kind == "scalar":
            return np.dtype(v["of"]).type(self.value(body))
        if kind == "float":
            return float(body)
        if kind == "tuple":
            return tuple(self.value(x) for x in body)
        if kind == "list":
            return [self.value(x) for x in body]
        if kind == "dict":
            return {_hashable(self.value(k)): self.value(x) for k, x in body}
        if kind == "dtype":
            return np.dtype(body)
        if kind == "array":
            return self.array(body)
        if kind == "closed_jaxpr":
            return ClosedJaxpr(self.jaxpr(body), [self.array(c) for c in v["consts"]])
        if kind == "jaxpr":
            return self.jaxpr(body)
        if kind == "namedtuple":
            module, name = body.split(":")
            if not module.startswith("funcjax."):
                raise DeserializationError(f"deserialize: refusing to load type {body}")
            cls = getattr(importlib.import_module(module), name)
            return cls(*[self.value(x) for x in v["fields"]])
        raise DeserializationError(f"deserialize: unknown value kind {kind!r}")

    def jaxpr(self, j):
        env = {}

        def define(spec):
            k, aval = spec
            if k < 0:
                return DropVar(_read_aval(aval))
            env[k] = Var(_read_aval(aval))
            return env[k]

        def atom(a):
            if "lit" in a:
                aval = _read_aval(a["aval"])
                val = self.value(a["lit"])
                return Literal(np.asarray(val, aval.dtype)[()] if not aval.weak_type
                               else val, aval)
            return env[a["var"]]

        constvars = [define(s) for s in j["constvars"]]
        invars = [define(s) for s in j["invars"]]
        eqns = []
        for e in j["eqns"]:
            prim = registry.get(e["prim"])
            if prim is None:
                raise DeserializationError(
                    f"deserialize: the file uses primitive '{e['prim']}', which this funcjax "
                    "does not have; load it with the funcjax version that wrote it")
            inputs = [atom(a) for a in e["in"]]
            params = {k: self.value(x) for k, x in e["params"].items()}
            src = SourceInfo(*e["src"]) if e.get("src") else None
            eqns.append(Eqn(prim, inputs, params, [define(s) for s in e["out"]], src))
        return Jaxpr(constvars, invars, eqns, [atom(a) for a in j["outvars"]])


def _hashable(x):
    return tuple(_hashable(i) for i in x) if isinstance(x, list) else x


def _read_aval(spec):
    dtype, shape, weak = spec
    return ShapedArray(tuple(shape), np.dtype(dtype), weak)


def _read_skeleton(node):
    if isinstance(node, int):
        return node
    (kind, body), = node.items()
    if kind == "none":
        return None
    if kind == "tuple":
        return tuple(_read_skeleton(x) for x in body)
    if kind == "list":
        return [_read_skeleton(x) for x in body]
    if kind == "dict":
        return {k: _read_skeleton(x) for k, x in body}
    raise DeserializationError(f"deserialize: unknown pytree node {kind!r}")


# ---- the Exported object -------------------------------------------------------------------

class Exported:
    """A serialisable program: ``call(*args)`` runs it; ``in_avals``/``out_avals`` type it."""

    def __init__(self, fun_name, closed, in_tree, out_tree):
        self.fun_name, self.closed = fun_name, closed
        self.in_tree, self.out_tree = in_tree, out_tree
        self.in_avals = tuple(closed.in_avals)
        self.out_avals = tuple(closed.out_avals)

    def __repr__(self):
        ins = ", ".join(map(str, self.in_avals))
        return f"Exported({self.fun_name}({ins}) -> {', '.join(map(str, self.out_avals))})"

    def call(self, *args, **kwargs):
        """Runs the stored program on ``args`` (same structure, shapes and dtypes as at
        export); works under every transformation."""
        leaves, tree = tree_flatten((tuple(args), kwargs))
        if tree != self.in_tree:
            raise TypeError(f"Exported {self.fun_name}.call: arguments have structure {tree}, "
                            f"but the function was exported for {self.in_tree}")
        for k, (x, aval) in enumerate(zip(leaves, self.in_avals)):
            shape, dtype = np.shape(x), getattr(x, "dtype", None)
            dtype = np.asarray(x).dtype if dtype is None else np.dtype(dtype)
            if tuple(shape) != aval.shape or (dtype != aval.dtype and not _weak_scalar(x)):
                raise TypeError(
                    f"Exported {self.fun_name}.call: argument {k} has type "
                    f"{dtype.name}{list(shape)}, but the function was exported for "
                    f"{aval.dtype.name}{list(aval.shape)}; export it again for the new type")
        outs = eval_jaxpr(self.closed.jaxpr, self.closed.consts, *leaves)
        return tree_unflatten(self.out_tree, outs)

    def serialize(self):
        """The program as bytes (see the module docstring for the layout)."""
        w = _Writer()
        header = {
            "name": self.fun_name,
            "in_avals": [_aval(a) for a in self.in_avals],
            "out_avals": [_aval(a) for a in self.out_avals],
            "in_tree": _skeleton(self.in_tree), "out_tree": _skeleton(self.out_tree),
            "jaxpr": w.jaxpr(self.closed.jaxpr),
            "consts": [w.array(c) for c in self.closed.consts],
        }
        header["arrays"] = w.arrays
        text = json.dumps(header, separators=(",", ":")).encode()
        body = MAGIC + _PREFIX.pack(SCHEMA_VERSION, len(text)) + text + b"".join(w.chunks)
        return body + hashlib.sha256(body).digest()


def _weak_scalar(x):
    return isinstance(x, (int, float, bool)) and not isinstance(x, np.generic)


def export(fun):
    """``export(jit(f))(*args)``: the ``Exported`` program of ``f`` for these argument types
    (arrays or ``ShapeDtypeStruct``s)."""
    if not isinstance(fun, JitFunction):
        raise TypeError(f"export: expected a jit-wrapped function (export(jit(f))), got "
                        f"{type(fun).__name__}; wrap it with funcjax.jit first")

    def do_export(*args, **kwargs):
        lowered = fun.lower(*args, **kwargs)
        entry = lowered._entry
        jaxpr = entry.closed.jaxpr
        n = len(entry.consts)
        closed = ClosedJaxpr(Jaxpr(jaxpr.invars[:n], jaxpr.invars[n:], jaxpr.eqns,
                                   jaxpr.outvars), [to_numpy(c) for c in entry.consts])
        return Exported(entry.name, closed, entry.signature[0], entry.out_tree)
    return do_export


def deserialize(data):
    """The ``Exported`` stored in ``data`` (bytes from ``Exported.serialize``); raises
    ``DeserializationError`` for corrupt, truncated or unreadable data."""
    data = bytes(data)
    if not data.startswith(MAGIC):
        raise DeserializationError("deserialize: not a funcjax export (the magic bytes "
                                   f"{MAGIC!r} are missing)")
    if len(data) < len(MAGIC) + _PREFIX.size + _DIGEST:
        raise DeserializationError(f"deserialize: truncated: only {len(data)} bytes")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    version, length = _PREFIX.unpack_from(data, len(MAGIC))
    if version not in READABLE_VERSIONS:
        raise DeserializationError(
            f"deserialize: the data has schema version {version}; this funcjax reads versions "
            f"{list(READABLE_VERSIONS)}: load it with the funcjax that wrote it or export again")
    if hashlib.sha256(body).digest() != digest:
        raise DeserializationError("deserialize: checksum mismatch: the data is corrupt or "
                                   "truncated")
    start = len(MAGIC) + _PREFIX.size
    try:
        header = json.loads(body[start:start + length])
        r = _Reader(header["arrays"], memoryview(body)[start + length:])
        jaxpr = r.jaxpr(header["jaxpr"])
        closed = ClosedJaxpr(jaxpr, [r.array(c) for c in header["consts"]])
        in_tree = tree_structure(_read_skeleton(header["in_tree"]))
        out_tree = tree_structure(_read_skeleton(header["out_tree"]))
    except DeserializationError:
        raise
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise DeserializationError(f"deserialize: malformed header ({type(e).__name__}: "
                                   f"{e})") from None
    return Exported(header["name"], closed, in_tree, out_tree)
