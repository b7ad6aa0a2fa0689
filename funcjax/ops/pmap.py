"""``pmap_p``: apply a per-device program on N devices, mapping inputs along their axis 0.

Params: ``jaxpr`` (the closure-converted per-device ClosedJaxpr; collectives inside name
``axis_name``), ``axis_name``, ``axis_size`` (N), ``in_axes``/``out_axes`` (one entry per
input/output: 0 for mapped along axis 0, None for the same value on every device; the API
moves other axes to 0), ``name`` and ``devices`` (a tuple of N devices, or None).

Rules: ``impl`` runs the compiled per-device program on N threads (backend, imported on first
use). Like ``jit``, pmap is a higher-order primitive: jvp, partial-eval, transpose and batch
transform the per-device jaxpr and bind ``pmap_p`` again, so ``grad(pmap(f))`` runs a compiled
parallel forward and a compiled parallel backward pass. Transpose: an unmapped linear input
gets the sum of the devices' cotangents; an unmapped output's cotangent goes to device 0 only
(the output *is* device 0's value; if it is replicated, the transposed collectives spread it).
In a multi-process run (``funcjax.distributed``) no process holds every device's cotangent:
an unmapped input's is summed by a psum inside the transposed pmap, and an unmapped output's
goes to process 0's device 0 only.
Batching puts vmap's axis after the device axis. Inside jit a pmap still runs on its devices
(the compiled code calls back into ``impl``); nested in another pmap, where no devices are left,
it has vmap's meaning: ``as_vmap_jaxpr``.
"""

import numpy as np

from funcjax.core import cost, processes
from funcjax.core.abstract import same_type
from funcjax.core.array import to_numpy
from funcjax.core.primitive import Primitive
from funcjax.interpreters.batching import (
    AxisData,
    batch_flat,
    batch_jaxpr,
    move_batch_axis,
    not_mapped,
)
from funcjax.interpreters.eval import eval_closed_jaxpr
from funcjax.interpreters.jvp import Zero, tangent_aval
from funcjax.interpreters.partial_eval import partial_eval_jaxpr
from funcjax.interpreters.spmd import trace_per_device
from funcjax.interpreters.staging import hoist_consts, trace_to_jaxpr
from funcjax.interpreters.transpose import is_undefined_primal
from funcjax.ops.calls import _jvp_jaxpr, _pick, _transformed, _transpose_jaxpr
from funcjax.ops.collectives import psum_p
from funcjax.ops.control_flow.common import merge_by_flags
from funcjax.ops.lazy import lax
from funcjax.ops.reductions import reduce_sum_p

pmap_p = Primitive("pmap", multiple_results=True)


def _global(aval, axis, size):
    return aval if axis is None else aval.update(shape=(size,) + tuple(aval.shape))


def _pmap_abstract_eval(*avals, jaxpr, axis_name, axis_size, in_axes, out_axes, name,
                        devices):
    per_device = []
    for k, (aval, axis) in enumerate(zip(avals, in_axes)):
        if axis is not None:
            if not aval.shape or aval.shape[0] != axis_size:
                raise TypeError(f"pmap({name}): input {k} has type {aval.str_short()} but is "
                                f"mapped over {axis_size} devices along axis 0")
            aval = aval.update(shape=aval.shape[1:])
        per_device.append(aval)
    expected = jaxpr.in_avals
    if len(per_device) != len(expected) or not all(map(same_type, per_device, expected)):
        got = ", ".join(a.str_short() for a in per_device)
        want = ", ".join(a.str_short() for a in expected)
        raise TypeError(f"pmap({name}): per-device arguments ({got}) but its jaxpr takes "
                        f"({want})")
    return [_global(a, ax, axis_size) for a, ax in zip(jaxpr.out_avals, out_axes)]


def _pmap_impl(*args, jaxpr, axis_name, axis_size, in_axes, out_axes, name, devices):
    from funcjax.backend.llvm.spmd_program import spmd_program_for
    program = spmd_program_for(jaxpr, name, axis_name, axis_size, processes.multi_process())
    arrays = [np.ascontiguousarray(to_numpy(a), aval.dtype)
              for a, aval in zip(args, _pmap_in_avals(jaxpr, in_axes, axis_size))]
    outs = program.run(arrays, [ax is not None for ax in in_axes])
    return [o if ax is not None else o[0] for o, ax in zip(outs, out_axes)]


def _pmap_in_avals(jaxpr, in_axes, size):
    return [_global(a, ax, size) for a, ax in zip(jaxpr.in_avals, in_axes)]


pmap_p.def_impl(_pmap_impl)
pmap_p.def_abstract_eval(_pmap_abstract_eval)


def _rebind(args, params, jaxpr, in_axes, out_axes, what):
    return pmap_p.bind(*args, **dict(params, jaxpr=jaxpr, in_axes=tuple(in_axes),
                                     out_axes=tuple(out_axes),
                                     name=f"{what}({params['name']})" if what else
                                     params["name"]))


# -- jvp -------------------------------------------------------------------------------------
def _pmap_jvp(primals, tangents, **params):
    jaxpr, in_axes, out_axes = params["jaxpr"], params["in_axes"], params["out_axes"]
    nonzeros = tuple(type(t) is not Zero for t in tangents)
    (jvp_closed, consts), out_nonzeros = _transformed(
        "jvp", jaxpr, nonzeros, lambda: _jvp_jaxpr(jaxpr, nonzeros))
    outs = _rebind([*consts, *primals, *_pick(nonzeros, tangents)], params, jvp_closed,
                   (None,) * len(consts) + in_axes + tuple(_pick(nonzeros, in_axes)),
                   out_axes + tuple(_pick(out_nonzeros, out_axes)), "jvp")
    n = len(out_axes)
    out_avals = [_global(a, ax, params["axis_size"]) for a, ax in zip(jaxpr.out_avals,
                                                                       out_axes)]
    zeros = [Zero(tangent_aval(a)) for a in _pick(out_nonzeros, out_avals, False)]
    return outs[:n], merge_by_flags(out_nonzeros, outs[n:], zeros)


pmap_p.def_jvp(_pmap_jvp)


# -- partial evaluation ----------------------------------------------------------------------
def _split(closed, unknowns):
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(closed, unknowns, False)
    return hoist_consts(known), hoist_consts(unknown), out_unknowns, num_res


def _pmap_partial_eval(trace, args, unknowns, **params):
    """A pmap of the known part now (its residuals come back mapped, one per device) and a
    staged pmap of the unknown part reading them."""
    jaxpr, in_axes, out_axes = params["jaxpr"], params["in_axes"], params["out_axes"]
    unknowns = tuple(unknowns)
    (known, kconsts), (unknown, uconsts), out_unknowns, num_res = _transformed(
        "pmap_partial_eval", jaxpr, unknowns, lambda: _split(jaxpr, unknowns))
    known_out_axes = tuple(_pick(out_unknowns, out_axes, False)) + (0,) * num_res
    known_outs = []
    if known_out_axes:
        known_outs = _rebind([*kconsts, *_pick(unknowns, args, False)], params, known,
                             (None,) * len(kconsts) + tuple(_pick(unknowns, in_axes, False)),
                             known_out_axes, "")
    n_known = len(known_out_axes) - num_res
    residuals = known_outs[n_known:]
    unknown_outs = []
    if any(out_unknowns):
        staged_params = dict(
            params, jaxpr=unknown,
            in_axes=(None,) * len(uconsts) + (0,) * num_res + tuple(_pick(unknowns, in_axes)),
            out_axes=tuple(_pick(out_unknowns, out_axes)))
        unknown_outs = trace.stage(pmap_p, [*uconsts, *residuals, *_pick(unknowns, args)],
                                   staged_params)
    return merge_by_flags(out_unknowns, unknown_outs, known_outs[:n_known])


pmap_p.def_partial_eval(_pmap_partial_eval)


# -- transpose -------------------------------------------------------------------------------
def _to_device_zero(ct, size):
    """A cotangent of an unmapped output as a mapped one: device 0 gets it, the others 0
    (in a multi-process run, device 0 is process 0's first)."""
    shape = tuple(np.shape(ct))
    first = lax.broadcast_in_dim(ct, (1,) + shape, tuple(range(1, len(shape) + 1)))
    if processes.multi_process() and processes.state.index != 0:
        return lax.full((size,) + shape, 0, first.dtype)
    if size == 1:
        return first
    return lax.concatenate([first, lax.full((size - 1,) + shape, 0, first.dtype)], 0)


def _pmap_transpose(cts, *args, **params):
    jaxpr, in_axes, out_axes = params["jaxpr"], params["in_axes"], params["out_axes"]
    size = params["axis_size"]
    linear = tuple(map(is_undefined_primal, args))
    ct_nonzeros = tuple(type(c) is not Zero for c in cts)
    (transposed, consts), in_ct_nonzeros = _transformed(
        "transpose", jaxpr, (linear, ct_nonzeros),
        lambda: _transpose_jaxpr(jaxpr, linear, ct_nonzeros))
    cts = [c if ax is not None else _to_device_zero(c, size)
           for c, ax in zip(_pick(ct_nonzeros, cts), _pick(ct_nonzeros, out_axes))]
    lin_axes = _pick(linear, in_axes)
    out_axes = (0,) * sum(in_ct_nonzeros)
    across = processes.multi_process()
    if across:  # an unmapped input's cotangent: summed over every process's devices
        unmapped = tuple(a is None for a in _pick(in_ct_nonzeros, lin_axes))
        out_axes = tuple(None if u else 0 for u in unmapped)
        transposed, more = _summed(transposed, unmapped, params["axis_name"])
        consts = [*more, *consts]
    outs = _rebind([*consts, *_pick(linear, args, False), *cts], params, transposed,
                   (None,) * len(consts) + tuple(_pick(linear, in_axes, False)) +
                   (0,) * len(cts), out_axes, "transpose")
    outs = iter(outs)
    result = []
    for nonzero, axis, arg in zip(in_ct_nonzeros, lin_axes, _pick(linear, args)):
        if not nonzero:
            result.append(Zero(arg.aval))
            continue
        ct = next(outs)
        result.append(ct if axis is not None or across else reduce_sum_p.bind(ct, axes=(0,)))
    return merge_by_flags(linear, result, [None] * len(args))


pmap_p.def_transpose(_pmap_transpose)


def _summed(closed, flags, axis_name):
    """``closed`` with a psum over ``axis_name`` (all of every process's devices) on the
    outputs ``flags`` marks: an unmapped input's cotangent in a multi-process run, where no
    process holds every device's part to sum them outside the pmap."""
    def build():
        def fun(*args):
            outs = eval_closed_jaxpr(closed, *args)
            return [psum_p.bind(o, axis_name=axis_name) if f else o
                    for o, f in zip(outs, flags)]
        return hoist_consts(trace_per_device(fun, closed.in_avals, AxisData(
            axis_name, sum(processes.state.local_counts)), "pmap transpose"))
    if not any(flags):
        return closed, []
    return _transformed("pmap_summed", closed, flags, build)


# -- batching --------------------------------------------------------------------------------
def _pmap_batch(axis_data, args, dims, **params):
    """vmap of pmap: the batch axis goes right after the device axis (first per device)."""
    in_axes, out_axes = params["in_axes"], params["out_axes"]
    moved, in_batched = [], []
    for x, d, axis in zip(args, dims, in_axes):
        in_batched.append(d is not not_mapped)
        moved.append(x if d is not_mapped else
                     move_batch_axis(x, d, 0 if axis is None else 1, axis_data.size))
    batched, out_batched = batch_jaxpr(params["jaxpr"], axis_data, in_batched, False)
    outs = _rebind(moved, params, batched, in_axes, out_axes, "")
    return outs, [(0 if axis is None else 1) if b else not_mapped
                  for b, axis in zip(out_batched, out_axes)]


pmap_p.def_batch(_pmap_batch)
pmap_p.def_cost(cost.call("jaxpr"))


# -- a pmap with no devices of its own: vmap's meaning -----------------------------------------
def as_vmap_jaxpr(jaxpr, axis_name, axis_size, in_axes, out_axes):
    """A jaxpr on the global values computing what the pmap computes, as a vmap over the
    per-device program with the axis named (collectives over other axes stay in it)."""
    def build():
        axis = AxisData(axis_name, axis_size)

        def fun(*args):
            outs, dims = batch_flat(lambda *xs: eval_closed_jaxpr(jaxpr, *xs), args,
                                    [0 if ax is not None else not_mapped for ax in in_axes],
                                    axis, "pmap nested without devices")
            result = []
            for out, d, ax in zip(outs, dims, out_axes):
                if ax is not None:
                    result.append(move_batch_axis(out, d, 0, axis_size))
                elif d is not_mapped:
                    result.append(out)
                else:
                    result.append(lax.squeeze(lax.slice_in_dim(out, 0, 1, axis=d), (d,)))
            return result
        return trace_to_jaxpr(fun, _pmap_in_avals(jaxpr, in_axes, axis_size),
                              "pmap nested without devices")
    return _transformed("pmap_as_vmap", jaxpr, (axis_name, axis_size, in_axes, out_axes),
                        build)
