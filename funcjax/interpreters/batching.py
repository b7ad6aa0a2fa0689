"""The batching interpreter (vmap): every value carries its batch dimension or ``not_mapped``.

Work on values that are not mapped stays unmapped and is handed to the parent trace. A
primitive's ``batch`` rule sees where each input's batch dimension is and returns where the
output's is:

    batch_rule(axis_data, args, dims, **params) -> (out, out_dim)

``dims`` entries are ints or ``not_mapped`` (None); ``axis_data`` has the mapped axis's
``size`` and ``name`` (collectives use them). Multiple-result primitives return lists. Rules
run with the parent trace current, so they bind primitives on the whole batch at once.
Collectives over this trace's axis name reach their rule even when no input is mapped: a psum
of a constant is still a sum over every lane. The helpers at the end of this file are the
moves rules have in common (where an axis lands, aligning and broadcasting batch axes).
"""

import collections

import numpy as np

from funcjax.core import dtypes
from funcjax.core.ir import jaxprs_in
from funcjax.core.pytree import tree_flatten, tree_unflatten
from funcjax.core.trace import Trace, Tracer, new_trace, set_current_trace
from funcjax.interpreters.eval import aval_of
from funcjax.interpreters.jvp import Zero

not_mapped = None


class AxisData:
    __slots__ = ("name", "size")

    def __init__(self, name, size):
        self.name, self.size = name, size

    def __repr__(self):
        return f"AxisData(name={self.name!r}, size={self.size})"


class BatchTracer(Tracer):
    __slots__ = ("val", "batch_dim")

    def __init__(self, trace, val, batch_dim):
        super().__init__(trace)
        self.val = val
        self.batch_dim = batch_dim

    @property
    def aval(self):
        aval = aval_of(self.val)
        if self.batch_dim is not_mapped:
            return aval
        shape = list(aval.shape)
        del shape[self.batch_dim]
        return aval.update(shape=shape)

    def describe_dependence(self):
        return self.val.describe_dependence() if isinstance(self.val, Tracer) else ""


class BatchTrace(Trace):
    forwards_constants = True  # an operation on unmapped values only (collectives aside)
    def __init__(self, parent, axis_data, description="vmap"):
        super().__init__(parent, description)
        self.axis_data = axis_data

    def unpack(self, x):
        if self.own(x):
            return x.val, x.batch_dim
        return x, not_mapped

    def pack(self, val, dim):
        return val if dim is not_mapped else BatchTracer(self, val, dim)

    def handles_unmapped(self, primitive, params):
        """Collectives over this trace's axis name act even on unmapped values, and so do
        higher-order primitives (jit, checkpoint, control flow) whose sub-jaxprs use one."""
        return self.axis_data.name is not None and _names_axis(params, self.axis_data.name)

    def process_primitive(self, primitive, args, params):
        vals, dims = zip(*map(self.unpack, args)) if args else ((), ())
        if all(d is not_mapped for d in dims) and not self.handles_unmapped(primitive, params):
            with set_current_trace(self.parent):
                return primitive.bind(*vals, **params)
        rule = primitive.rule("batch")
        with set_current_trace(self.parent):
            out, out_dim = rule(self.axis_data, list(vals), list(dims), **params)
        if primitive.multiple_results:
            return [self.pack(v, d) for v, d in zip(out, out_dim)]
        return self.pack(out, out_dim)


def _names_axis(params, name):
    axis_name = params.get("axis_name")
    if axis_name is not None:
        return name in (axis_name if isinstance(axis_name, (tuple, list)) else (axis_name,))
    return any(_names_axis(eqn.params, name) for jaxpr in jaxprs_in(params)
               for eqn in jaxpr.eqns)


def batch_flat(flat_fun, args, in_dims, axis_data, description="vmap"):
    """Runs ``flat_fun`` on arguments mapped along ``in_dims``; returns (outs, out_dims)."""
    with new_trace(BatchTrace, axis_data, description) as trace:
        ins = [trace.pack(a, d) for a, d in zip(args, in_dims)]
        outs = flat_fun(*ins)
        pairs = [trace.unpack(o) for o in outs]
    return [v for v, _ in pairs], [d for _, d in pairs]


# -- helpers for rules -----------------------------------------------------------------------
def batched_axis(axis, dim):
    """Where a per-example ``axis`` sits once a batch dimension is inserted at ``dim``."""
    return axis + (dim is not not_mapped and axis >= dim)


def unbatched_shape(x, dim):
    """The per-example shape of ``x`` (its shape without the batch dimension)."""
    shape = list(np.shape(x))
    if dim is not not_mapped:
        del shape[dim]
    return tuple(shape)


def move_batch_axis(x, dim, dst, size):
    """``x`` with its batch dimension at ``dst``; an unmapped ``x`` is broadcast to ``size``."""
    from funcjax import lax
    if dim is not_mapped:
        shape = list(np.shape(x))
        shape.insert(dst, size)
        dims = [d for d in range(len(shape)) if d != dst]
        return lax.broadcast_in_dim(x, shape, dims)
    if dim == dst:
        return x
    perm = [d for d in range(np.ndim(x)) if d != dim]
    perm.insert(dst, dim)
    return lax.transpose(x, perm)


def align_batch_axes(args, dims, size):
    """Operands of one per-example rank with their batch axes at the first mapped one's place
    (unmapped operands are broadcast). Returns ``(args, dim)``."""
    dim = next(d for d in dims if d is not not_mapped)
    return [move_batch_axis(a, d, dim, size) for a, d in zip(args, dims)], dim


def elementwise_batch_rule(primitive):
    """Batch rule for elementwise primitives: operands share a shape, so they share a batch
    axis; unmapped operands are broadcast because lax operands must have equal shapes."""
    def rule(axis_data, args, dims, **params):
        args, dim = align_batch_axes(args, dims, axis_data.size)
        return primitive.bind(*args, **params), dim
    return rule


_batched_jaxprs = collections.OrderedDict()


def batch_jaxpr(closed, axis_data, in_batched, instantiate):
    """A closed jaxpr batched along axis 0 of the inputs marked in ``in_batched``.

    Outputs are batched at axis 0 where the computation makes them so, or where
    ``instantiate`` (a bool or one per output) forces it. Returns ``(jaxpr, out_batched)``.
    Results are memoised on the jaxpr's identity (the entry keeps it alive): call primitives
    such as jit compile per jaxpr identity, so a stable batched jaxpr compiles once.
    """
    from funcjax.core.abstract import ShapedArray
    from funcjax.interpreters.eval import eval_closed_jaxpr
    from funcjax.interpreters.staging import trace_to_jaxpr
    n_out = len(closed.out_avals)
    inst = [instantiate] * n_out if isinstance(instantiate, bool) else list(instantiate)
    key = (id(closed), axis_data.name, axis_data.size, tuple(in_batched), tuple(inst))
    entry = _batched_jaxprs.get(key)
    if entry is not None and entry[0] is closed:
        return entry[1]
    out_batched = []

    def fun(*args):
        dims = [0 if b else not_mapped for b in in_batched]
        outs, out_dims = batch_flat(lambda *xs: eval_closed_jaxpr(closed, *xs), args, dims,
                                    axis_data, "vmap of a sub-jaxpr")
        result = []
        for out, dim, force in zip(outs, out_dims, inst):
            if dim is not_mapped and not force:
                out_batched.append(False)
                result.append(out)
            else:
                out_batched.append(True)
                result.append(move_batch_axis(out, dim, 0, axis_data.size))
        return result

    in_avals = [ShapedArray((axis_data.size,) + a.shape, a.dtype, a.weak_type) if b else a
                for a, b in zip(closed.in_avals, in_batched)]
    result = trace_to_jaxpr(fun, in_avals, "vmap of a sub-jaxpr"), out_batched
    _batched_jaxprs[key] = (closed, result)
    if len(_batched_jaxprs) > 256:
        _batched_jaxprs.popitem(last=False)
    return result


def batch_call(primitive, axis_data, args, dims, *, jaxpr, **params):
    """Batch rule of a call primitive (jit, checkpoint) that applies its ``jaxpr`` param to its
    inputs: the jaxpr is batched and the primitive bound again, so the batched program is
    still one call (for jit: one compiled program)."""
    in_batched = [d is not not_mapped for d in dims]
    args = [move_batch_axis(a, d, 0, axis_data.size) if b else a
            for a, d, b in zip(args, dims, in_batched)]
    batched, out_batched = batch_jaxpr(jaxpr, axis_data, in_batched, instantiate=False)
    outs = primitive.bind(*args, jaxpr=batched, **params)
    return outs, [0 if b else not_mapped for b in out_batched]


def batched_callable(fn, axis_data):
    """``fn``, a function of per-example pytrees of arrays that higher-order primitives carry
    in their params (custom derivative rules), as a function of the same pytrees batched along
    axis 0. Results come back batched along axis 0; symbolic zeros stay symbolic."""
    def batched(*args):
        leaves, in_tree = tree_flatten(args)
        out = []

        def flat(*xs):
            out_leaves, out_tree = tree_flatten(fn(*tree_unflatten(in_tree, xs)))
            out[:] = [out_tree, out_leaves]
            return [x for x in out_leaves if type(x) is not Zero]

        values, dims = batch_flat(flat, leaves, [0] * len(leaves), axis_data)
        values = iter(values)
        dims = iter(dims)
        out_tree, out_leaves = out
        result = []
        for x in out_leaves:
            if type(x) is Zero:
                result.append(Zero(x.aval.update(shape=(axis_data.size,) + x.aval.shape)))
                continue
            value, dim = next(values), next(dims)
            if aval_of(value).dtype == dtypes.float0:
                value = np.zeros((axis_data.size,) + unbatched_shape(value, dim), dtypes.float0)
            else:
                value = move_batch_axis(value, dim, 0, axis_data.size)
            result.append(value)
        return tree_unflatten(out_tree, result)
    return batched
