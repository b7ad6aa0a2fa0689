"""Functions that map Python functions over arrays, built on the batching interpreter (what
``vmap`` runs): apply_along_axis, apply_over_axes, vectorize (with generalized-ufunc
signatures) and piecewise."""

import re

import numpy as np

from funcjax import lax
from funcjax import numpy as jnp
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.interpreters.batching import AxisData, batch_flat, move_batch_axis, not_mapped
from funcjax.numpy._util import asarray, canonical_axis

__all__ = ["apply_along_axis", "apply_over_axes", "vectorize", "piecewise", "frompyfunc",
           "ufunc"]


def vmap(fn, in_axes=0, out_axes=0):
    """``fn`` mapped over axis ``in_axes`` of every (array) argument; outputs (a pytree of
    arrays) get the mapped axis at ``out_axes``."""
    def mapped(*xs):
        size = xs[0].shape[in_axes]
        trees = []

        def flat(*ins):
            leaves, tree = tree_flatten(fn(*ins))
            trees.append(tree)
            return leaves
        outs, dims = batch_flat(flat, xs, [in_axes % x.ndim for x in xs], AxisData(None, size))
        placed = []
        for o, d in zip(outs, dims):
            ndim = np.ndim(o) + (d is not_mapped)
            placed.append(move_batch_axis(o, d, out_axes % ndim, size))
        return tree_unflatten(trees[0], placed)
    return mapped


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``func1d`` applied to every 1-d slice along ``axis`` (vmapped over the other axes)."""
    arr = asarray(arr)
    axis = canonical_axis("apply_along_axis", axis, arr.ndim)

    def fn(x):
        return func1d(x, *args, **kwargs)
    for _ in range(arr.ndim - 1 - axis):
        fn = vmap(fn, in_axes=-1, out_axes=-1)
    for _ in range(axis):
        fn = vmap(fn, in_axes=0, out_axes=0)
    return fn(arr)


def apply_over_axes(func, a, axes):
    a = asarray(a)
    for axis in [axes] if np.ndim(axes) == 0 else axes:
        b = func(a, axis)
        if b.ndim == a.ndim - 1:
            b = jnp.expand_dims(b, axis)
        elif b.ndim != a.ndim:
            raise ValueError("apply_over_axes: func must keep the rank or drop one axis")
        a = b
    return a


_DIMS = re.compile(r"\(([^()]*)\)")


def _parse_signature(signature):
    ins, _, outs = signature.replace(" ", "").partition("->")
    parse = lambda part: [tuple(d for d in g.split(",") if d) for g in _DIMS.findall(part)]  # noqa: E731
    return parse(ins), parse(outs)


class vectorize:  # noqa: N801 - numpy's name
    """A function of scalars (or of core arrays, given a ``signature`` such as
    ``'(n),(n)->()'``) applied elementwise over broadcast loop axes, via vmap."""

    def __init__(self, pyfunc, *, excluded=frozenset(), signature=None):
        self.pyfunc, self.excluded, self.signature = pyfunc, set(excluded), signature
        self.__doc__ = getattr(pyfunc, "__doc__", None)

    def __call__(self, *args, **kwargs):
        fixed = dict(kwargs)
        positions = [i for i in range(len(args)) if i not in self.excluded]
        arrays = [asarray(args[i]) for i in positions]
        cores = ([()] * len(arrays) if self.signature is None
                 else _parse_signature(self.signature)[0])
        if len(cores) != len(arrays):
            raise TypeError(f"vectorize: the signature {self.signature!r} has {len(cores)} "
                            f"inputs but {len(arrays)} arrays were passed")
        loops = [x.shape[:x.ndim - len(c)] for x, c in zip(arrays, cores)]
        loop_shape = np.broadcast_shapes(*loops) if loops else ()
        arrays = [jnp.broadcast_to(x, loop_shape + x.shape[x.ndim - len(c):])
                  for x, c in zip(arrays, cores)]

        def call(*xs):
            full = list(args)
            for i, x in zip(positions, xs):
                full[i] = x
            return self.pyfunc(*full, **fixed)
        fn = call
        for _ in loop_shape:
            fn = vmap(fn)
        return fn(*arrays)


def piecewise(x, condlist, funclist, *args, **kw):
    """``funclist[i](x)`` where ``condlist[i]`` holds (a function or a constant each; one
    extra entry is the default). Every function runs on all of x; the results are selected."""
    x = asarray(x)
    if not isinstance(condlist, (list, tuple)):  # one condition (an array or a bool)
        condlist = [condlist]
    conds = [asarray(c).astype(bool) for c in condlist]
    if len(funclist) not in (len(conds), len(conds) + 1):
        raise ValueError(f"piecewise: {len(funclist)} functions for {len(conds)} conditions; "
                         "give one per condition, plus optionally a default")

    def value(f):
        out = f(x, *args, **kw) if callable(f) else f
        return jnp.broadcast_to(asarray(out, x.dtype), x.shape)
    out = value(funclist[-1]) if len(funclist) == len(conds) + 1 else jnp.zeros_like(x)
    for c, f in zip(conds, funclist):
        out = jnp.where(c, value(f), out)
    return out


class ufunc:  # noqa: N801 - numpy's name
    """A scalar function of ``nin`` arguments applied elementwise with broadcasting (it is
    vmapped, so it must be traceable), with numpy's ``outer``, ``reduce``, ``accumulate`` and
    ``at`` for binary functions of one output."""

    def __init__(self, func, /, nin, nout, *, name=None, nargs=None, identity=None):
        self.func, self.nin, self.nout, self.identity = func, int(nin), int(nout), identity
        self.nargs = nargs or self.nin
        self.__name__ = name or getattr(func, "__name__", "ufunc")
        self._call = vectorize(func)

    def __repr__(self):
        return f"<funcjax.numpy.ufunc '{self.__name__}'>"

    def __call__(self, *args):
        if len(args) != self.nin:
            raise TypeError(f"{self.__name__}: takes {self.nin} arguments, got {len(args)}")
        return self._call(*args)

    def _binary(self, method):
        if self.nin != 2 or self.nout != 1:
            raise ValueError(f"{self.__name__}.{method} needs a function of two arguments and "
                             f"one output, this one has nin={self.nin}, nout={self.nout}")

    def outer(self, a, b):
        self._binary("outer")
        a, b = asarray(a), asarray(b)
        return self(jnp.reshape(a, a.shape + (1,) * b.ndim), b)

    def _scan(self, method, a, axis, initial):
        self._binary(method)
        a = jnp.moveaxis(asarray(a), canonical_axis(f"{self.__name__}.{method}", axis,
                                                    np.ndim(a)), 0)
        if initial is None and self.identity is not None and a.shape[0] == 0:
            initial = self.identity
        if initial is None:
            if a.shape[0] == 0:
                raise ValueError(f"{self.__name__}.{method}: an empty axis needs initial=")
            first, rest = a[0], a[1:]
        else:
            first, rest = jnp.broadcast_to(asarray(initial, a.dtype), a.shape[1:]), a

        def step(carry, x):
            new = self(carry, x).astype(carry.dtype)
            return new, new
        return lax.scan(step, first, rest), first

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False, initial=None,
               where=None):
        if out is not None or where is not None:
            raise NotImplementedError(f"{self.__name__}.reduce: out= and where= are not "
                                      "supported")
        if axis is None:
            a, axis = jnp.ravel(a), 0
        (total, _), _ = self._scan("reduce", a if dtype is None else asarray(a, dtype), axis,
                                   initial)
        return jnp.expand_dims(total, axis) if keepdims else total

    def accumulate(self, a, axis=0, dtype=None, out=None):
        if out is not None:
            raise NotImplementedError(f"{self.__name__}.accumulate: out= is not supported")
        a = a if dtype is None else asarray(a, dtype)
        (_, steps), first = self._scan("accumulate", a, axis, None)
        return jnp.moveaxis(jnp.concatenate([first[None], steps]), 0, axis)

    def at(self, a, indices, b=None, /, *, inplace=False):
        """A copy of ``a`` with ``a[i] = f(a[i], b)`` applied in order for each index ``i`` of
        a 1-d integer ``indices`` (repeated indices apply repeatedly)."""
        if inplace:
            raise ValueError(f"{self.__name__}.at: funcjax arrays are immutable; use "
                             "inplace=False")
        self._binary("at")
        a, idx = asarray(a), jnp.atleast_1d(asarray(indices))
        b = jnp.broadcast_to(asarray(b, a.dtype), idx.shape + a.shape[1:])

        def body(k, acc):
            i = idx[k]
            return acc.at[i].set(self(acc[i], b[k]).astype(a.dtype))
        return lax.fori_loop(0, idx.shape[0], body, a)

    def reduceat(self, *args, **kwargs):
        raise NotImplementedError(f"{self.__name__}.reduceat is not supported")


def frompyfunc(func, /, nin, nout, *, identity=None):
    """A ``ufunc`` applying ``func`` (a traceable scalar function) elementwise."""
    return ufunc(func, nin, nout, identity=identity)
