"""Lowering a jaxpr to one LLVM module with one entry function.

The body function is ``void name(ptr in_0, ..., ptr out_0, ..., ptr workspace)`` with
``noalias`` pointers (what lets LLVM vectorise without overlap checks): every array lives in a
caller-provided buffer, intermediates in the workspace arena at offsets fixed by the memory
plan. The caller enters through ``void name_packed(ptr buffers)``, which reads the same
pointers from one array: ctypes passes at most 1024 arguments, and a gradient of a large
pytree can have more buffers than that. Long bodies are cut into a chain of functions of
bounded size, and past ``DIRECT_BUFFERS`` buffers these take the table (``PartBuilder``).

``LoweringContext`` walks the equations in order; each primitive's ``lower`` rule (a
``LowerRule`` on its card, registered by the modules of this package) turns input ``Value``s
into output values:

- ``view``/``fused`` rules: ``fn(ctx, eqn, ins) -> value or [values]`` returning lazy values;
  the context decides (``fusion.analyse``) which ones are computed into buffers. A lazy
  value emits all of its code when loaded, never when it is made (it may be loaded in a
  later part of the body, see ``PartBuilder``).
- ``buffer`` rules: ``fn(ctx, eqn, ins, outs)`` writing into the output ``Buffer``s given.

Rules for higher-order primitives emit their sub-jaxprs inline with
``ctx.lower_closed_jaxpr(closed, in_values, out_buffers)`` and wrap LLVM control flow around
it; their ``ctx.scratch`` buffers (loop carries) stay allocated while the sub-jaxpr is emitted.
"""

import contextlib

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import dot_layout, fusion, parallel_loops, transpose, types
from funcjax.backend.llvm.loops import loop_nest
from funcjax.backend.llvm.memory import Arena
from funcjax.backend.llvm.parallel_tasks import plan as plan_tasks
from funcjax.backend.llvm.types import PTR
from funcjax.backend.llvm.values import Buffer, constant_value
from funcjax.core.ir import Literal

RULE_KINDS = ("view", "fused", "buffer")
PART_INSTRUCTIONS = 500  # body instructions per function before a new part may start
DIRECT_BUFFERS = 64      # beyond this many buffers, parts take one table of pointers


class LowerRule:
    """What a primitive's ``lower`` slot holds: the rule function and how it fuses.

    ``rereads(eqn)`` gives the input positions whose elements the rule loads more than once
    (a broadcast, a matmul operand); an expensive lazy input there is computed into a buffer.
    ``pointwise`` rules load each operand of the output's shape only at the output element's
    own index, so their output may overwrite such an operand (``fusion.can_overwrite``).
    """

    __slots__ = ("kind", "fn", "rereads", "pointwise")

    def __init__(self, kind, fn, rereads=None, pointwise=False):
        if kind not in RULE_KINDS:
            raise ValueError(f"lowering rule kind must be one of {RULE_KINDS}, got {kind!r}")
        self.kind, self.fn, self.pointwise = kind, fn, pointwise
        self.rereads = rereads or (lambda eqn: ())


def register(kind, *prims, rereads=None, pointwise=False):
    """Decorator: ``@register("fused", add_p, sub_p)`` sets the rule on each primitive."""
    def wrap(fn):
        for prim in prims:
            prim.def_lower(LowerRule(kind, fn, rereads, pointwise))
        return fn
    return wrap


def rule_of(prim):
    return prim.rule("lower")


class PartBuilder(ir.IRBuilder):
    """The builder of one lowering. The body is emitted as a chain of functions ("parts");
    a ``Buffer`` keeps the pointer it was made with and asks ``pointer`` for it at each use,
    which gives the same memory in the current part (the same buffer argument, or the
    workspace plus the same offset). Lazy values emit all their code when loaded (rules never
    emit instructions when they build one), so they move across parts with their buffers.

    A part takes the buffers as ``noalias`` arguments, or, past ``DIRECT_BUFFERS`` buffers,
    one table of their pointers (LLVM's time grows faster than linearly with the number of
    ``noalias`` arguments; a part then loads the few pointers it uses)."""

    def __init__(self):
        super().__init__()
        self._origin = {}   # id(pointer) -> (pointer, part, buffer index, offset or None)
        self._here = {}     # (buffer index, offset) -> the pointer in the current part
        self._part = self._entry_block = self._table = None

    def enter_part(self, fn, entry_block, table):
        self._part, self._entry_block, self._table, self._here = fn, entry_block, table, {}

    def record(self, ptr, index, offset, part):
        self._origin[id(ptr)] = (ptr, part, index, offset)

    def buffer_pointer(self, index, offset=None):
        """A pointer to buffer ``index`` (plus ``offset`` bytes), emitted in each part only
        when used there (a program with 2,000 buffers must not load every pointer)."""
        token = _Pointer(index, offset)
        self.record(token, index, offset, None)
        return token

    def arg(self, index, offset=None):
        """The pointer to buffer ``index`` (plus ``offset`` bytes) in the current part."""
        ptr = self._here.get((index, offset))
        if ptr is None:
            with self.goto_block(self._entry_block):
                if offset is not None:
                    ptr = self.gep(self.arg(index), [types.i64(offset)], inbounds=True,
                                   source_etype=types.I8)
                elif self._table is None:
                    ptr = self._part.args[index]
                else:
                    ptr = self.load(self.gep(self._table, [types.i64(index)], inbounds=True,
                                             source_etype=PTR), typ=PTR)
            self._here[index, offset] = ptr
        return ptr

    def pointer(self, ptr):
        origin = self._origin.get(id(ptr))
        if origin is None or origin[1] is self._part:
            return ptr
        return self.arg(origin[2], origin[3])


class _Pointer:
    """Stands for a buffer's pointer until a part uses it (``PartBuilder.buffer_pointer``)."""

    __slots__ = ("index", "offset")

    def __init__(self, index, offset):
        self.index, self.offset = index, offset


class LoweringContext:
    """State while emitting one module: the builder, the arena plan, declared externals."""

    def __init__(self, name, in_avals, out_avals, aliases=(), spmd_axis=None):
        self.module = ir.Module(name=name)
        self.name = name
        # pmap's per-device programs take one more pointer, to {i64 device index, ptr comm}
        # (see spmd_runtime); ``spmd_axis`` is the mapped axis (name, size) they run over.
        self.spmd_axis = spmd_axis
        self._nargs = nargs = len(in_avals) + len(out_avals) + 1 + (spmd_axis is not None)
        self._workspace_index = len(in_avals) + len(out_avals)
        self._by_table = nargs > DIRECT_BUFFERS
        self._fn_type = ir.FunctionType(ir.VoidType(), [PTR] * (1 if self._by_table else nargs))
        self._parts = []
        self.b = PartBuilder()
        self._open_part()
        self.inputs = [Buffer(self.b, self.b.buffer_pointer(k), a)
                       for k, a in enumerate(in_avals)]
        self.outputs = [Buffer(self.b, self.b.buffer_pointer(len(in_avals) + k), a)
                        for k, a in enumerate(out_avals)]
        for k, i in aliases:  # the output lives in the input's memory (a donated buffer)
            self.outputs[k] = self.inputs[i]
        self.arena = Arena()
        self.tick = 0
        self._depth = 0
        self._scratch = []
        self._externs = {}
        self.tile = None  # the tile being written by ``transpose.materialize_tiled``
        self._tables = {}

    # -- parts: the body is cut into functions of bounded size ---------------------------
    def _open_part(self):
        """Starts a body function. LLVM's optimiser is superlinear in the size of one function,
        so a long program compiles as a chain of bounded parts with the entry's signature:
        the entry is the first part, and each part ends by calling the next."""
        k = len(self._parts)
        fn = ir.Function(self.module, self._fn_type, self.name if k == 0 else
                         f"{self.name}.part{k}")
        fn.attributes.add("nounwind")
        if k:  # inlined back, the parts would be one big function again
            fn.linkage = "internal"
            fn.attributes.add("noinline")
        for arg in fn.args:
            if not self._by_table:
                arg.add_attribute("noalias")
            if self.spmd_axis is None:  # collectives publish buffer addresses to other devices
                arg.add_attribute("captures(none)")
        if self._parts:
            self.b.call(fn, self.fn.args)
            self._close_part()
        self._parts.append(fn)
        self.fn = fn
        self.alloca_block = fn.append_basic_block("entry")
        self.b.enter_part(fn, self.alloca_block, fn.args[0] if self._by_table else None)
        self.b.position_at_end(fn.append_basic_block("start"))

    @property
    def top_level(self):
        """Whether the equation being lowered is in the program's own jaxpr (not in a loop
        body or a branch)."""
        return self._depth == 1

    @property
    def workspace(self):
        return self.b.arg(self._workspace_index)

    @property
    def spmd(self):
        """The per-device ``{i64 device index, ptr comm}`` pointer of a pmap program."""
        return self.b.arg(self._nargs - 1) if self.spmd_axis is not None else None

    def _close_part(self):
        self.b.ret_void()
        with self.b.goto_block(self.alloca_block):
            self.b.branch(self.fn.blocks[1])

    # -- outlined functions (parallel loops' chunks, see parallel_loops) -----------------
    def new_function(self, name, extra_types):
        """An internal function taking the buffers as the parts do, then ``extra_types``."""
        params = list(self._fn_type.args) + list(extra_types)
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), params),
                         self.module.get_unique_name(name))
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        for arg in fn.args[:len(self._fn_type.args)]:
            if not self._by_table:
                arg.add_attribute("noalias")
        return fn

    @contextlib.contextmanager
    def in_function(self, fn):
        """Emits into ``fn`` (from ``new_function``) inside the block, then comes back here."""
        b = self.b
        saved = (b.block, b._part, b._entry_block, b._table, b._here, self.fn,
                 self.alloca_block)
        entry = fn.append_basic_block("entry")
        b.enter_part(fn, entry, fn.args[0] if self._by_table else None)
        self.fn, self.alloca_block = fn, entry
        b.position_at_end(fn.append_basic_block("start"))
        try:
            yield
            b.ret_void()
            with b.goto_block(entry):
                b.branch(fn.blocks[1])
        finally:
            block, part, entry_block, table, here, self.fn, self.alloca_block = saved
            b.enter_part(part, entry_block, table)
            b._here = here
            b.position_at_end(block)

    def buffer_table(self):
        """A pointer to the table of the current part's buffer pointers (built once per part).
        The buffers' addresses escape through it: the part's arguments lose ``captures``."""
        if self._by_table:
            return self.fn.args[0]
        table = self._tables.get(self.fn.name)
        if table is None:
            for arg in self.fn.args:
                arg.attributes.discard("captures(none)")
            with self.b.goto_block(self.alloca_block):
                table = self.b.alloca(ir.ArrayType(PTR, self._nargs))
                for k, arg in enumerate(self.fn.args):
                    # (a typed pointer: the element's address has the element's type)
                    self.b.store(arg, self.b.gep(table, [types.i64(0), types.i64(k)],
                                                 inbounds=True))
            self._tables[self.fn.name] = table
        return table

    def _part_size(self):
        return sum(len(block.instructions) for block in self.fn.blocks)

    def _maybe_split(self):
        """Opens a new part before the next top-level equation once this part is big."""
        if self._depth == 1 and not self._scratch and self._part_size() >= PART_INSTRUCTIONS:
            self._open_part()

    # -- memory --------------------------------------------------------------------------
    def _allocate(self, aval, label):
        alloc = self.arena.allocate(aval.size * types.itemsize(aval.dtype), label, self.tick)
        ptr = self.b.buffer_pointer(self._workspace_index, alloc.offset)
        return Buffer(self.b, ptr, aval), alloc

    def scratch(self, aval, label="scratch"):
        """A workspace buffer that lives until the current equation is lowered."""
        buf, alloc = self._allocate(aval, label)
        self._scratch.append(alloc)
        return buf

    def materialize(self, value, buf, transposed_axis=None):
        """Emits the loop nest that computes ``value`` into ``buf``. ``transposed_axis``: the
        output axis that reads some buffer's last axis, when not the last (a transpose): the
        loops then run in tiles (``transpose.materialize_tiled``)."""
        if value is buf:
            return
        if transposed_axis is not None and transpose.materialize_tiled(self, value, buf,
                                                                       transposed_axis):
            return
        with loop_nest(self.b, value.aval.shape) as idx:
            buf.store(idx, value.load(idx))

    def _materialize_top(self, value, buf, transposed_axis=None):
        """``materialize`` for the jaxpr's own fused values: at the top level, a large loop
        is a parallel loop (a lazy value made there reads only buffers and constants); a
        transposing one runs in tiles."""
        if value is buf:
            return
        if transposed_axis is not None and transpose.materialize_tiled(self, value, buf,
                                                                       transposed_axis):
            return
        parallel_loops.emit(self, value, buf)  # a plain loop nest unless worth threading

    def as_buffer(self, value, transposed_axis=None):
        """``value`` in memory (for rules that need addresses: BLAS, sort)."""
        if isinstance(value, Buffer):
            return value
        buf = self.scratch(value.aval, "operand copy")
        self.materialize(value, buf, transposed_axis)
        return buf

    # -- helpers for rules ---------------------------------------------------------------
    def alloca(self, typ, name=""):
        """A stack slot in the entry block (promoted to a register by LLVM)."""
        with self.b.goto_block(self.alloca_block):
            return self.b.alloca(typ, name=name)

    def extern(self, name, ret, arg_types, pure=True):
        """Declares an external function once; ``pure`` ones are readnone (vectorisable)."""
        # A helper may have declared it on the module directly (types.py's exact f64->f16
        # rounding declares llvm.fabs.f64): declaring it twice is a DuplicatedNameError.
        fn = self._externs.get(name) or self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, arg_types), name)
            fn.attributes.add("nounwind")
            if pure:
                fn.attributes.add("readnone")
            self._externs[name] = fn
        return fn

    def call(self, name, ret, args, pure=True):
        return self.b.call(self.extern(name, ret, [a.type for a in args], pure), args)

    # -- jaxprs --------------------------------------------------------------------------
    def constant_buffer(self, array, aval):
        """A read-only global holding ``array`` (a closed-over constant of a jaxpr)."""
        data = bytearray(np.ascontiguousarray(np.asarray(array, aval.dtype)).tobytes())
        typ = ir.ArrayType(types.I8, len(data))
        glob = ir.GlobalVariable(self.module, typ, f"const{len(self.module.globals)}")
        glob.global_constant, glob.linkage = True, "internal"
        glob.initializer = ir.Constant(typ, data)
        glob.align = 64
        return Buffer(self.b, glob, aval)

    def lower_closed_jaxpr(self, closed, in_values, out_buffers, in_place=()):
        """Emits ``closed`` inline (consts become constant globals), see ``lower_jaxpr``."""
        consts = [self.constant_buffer(c, v.aval)
                  for c, v in zip(closed.consts, closed.jaxpr.constvars)]
        self.lower_jaxpr(closed.jaxpr, in_values, out_buffers, consts, in_place)

    def lower_jaxpr(self, jaxpr, in_values, out_buffers, const_values=(), in_place=()):
        """Emits ``jaxpr`` inline: reads ``in_values``, writes its outputs to ``out_buffers``.

        The output buffers must not alias the inputs (a loop carry needs two buffers), except
        for the ``in_place`` pairs ``(output k, input i)``: output k is the memory of input i.
        Such an output is computed straight into it when ``fusion.can_overwrite`` allows,
        otherwise in the workspace and copied over the input last, when nothing reads it."""
        if len(const_values) != len(jaxpr.constvars):
            raise ValueError(f"lower_jaxpr: {len(jaxpr.constvars)} constvars but "
                             f"{len(const_values)} values")
        jaxpr = dot_layout.fold_accumulations(dot_layout.fold_transposed_products(jaxpr))
        # independent products of the program run at once (parallel_tasks): it reorders
        tasks = plan_tasks(self, jaxpr, self._depth == 0, [jaxpr.outvars[k] for k, _ in in_place])
        jaxpr = tasks.jaxpr
        info = fusion.analyse(jaxpr, rule_of)
        tasks.drop_dead(info.live)
        followers = tasks.followers
        # The equation that emits this jaxpr (a loop, a branch) keeps its scratch buffers
        # until it is done: only this jaxpr's own equations' scratch is released below.
        outer_scratch, self._scratch = self._scratch, []
        env = {id(v): val for v, val in zip(jaxpr.constvars + jaxpr.invars,
                                            list(const_values) + list(in_values))}
        overwrites = dict(in_place)
        slot = {}
        for k, (v, buf) in enumerate(zip(jaxpr.outvars, out_buffers)):
            if isinstance(v, Literal) or id(v) in env or (k in overwrites and not (
                    fusion.can_overwrite(jaxpr, info, rule_of, v, jaxpr.invars[overwrites[k]]))):
                continue
            slot.setdefault(id(v), buf)
        dying = {}
        for var_id, last in info.end.items():
            dying.setdefault(last, []).append(var_id)
        owned = {}

        def target(var):
            if id(var) in slot:
                return slot[id(var)]
            buf, owned[id(var)] = self._allocate(var.aval, var.aval.str_short())
            return buf

        self._depth += 1
        for i, eqn in enumerate(jaxpr.eqns):
            if not info.live[i]:
                continue
            self._maybe_split()
            self.tick += 1
            rule = rule_of(eqn.primitive)
            ins = [self._read(env, x) for x in eqn.inputs]
            if i in followers:  # emitted with its group's first member
                outs = [env[id(v)] for v in eqn.outputs]
            elif i in tasks.groups:
                outs = tasks.emit(self, i, lambda x: self._read(env, x), target, env)
            elif rule.kind == "buffer":
                outs = [target(v) for v in eqn.outputs]
                rule.fn(self, eqn, ins, outs)
            else:
                outs = rule.fn(self, eqn, ins)
                outs = list(outs) if eqn.primitive.multiple_results else [outs]
                for k, v in enumerate(eqn.outputs):
                    if id(v) in info.materialize:
                        buf = target(v)
                        self._materialize_top(outs[k], buf, info.transposed.get(id(v)))
                        outs[k] = buf
            env.update((id(v), val) for v, val in zip(eqn.outputs, outs))
            for alloc in self._scratch:
                self.arena.release(alloc, self.tick)
            self._scratch = []
            for v in eqn.outputs:  # outputs nobody reads
                if id(v) not in info.end and id(v) in owned:
                    self.arena.release(owned.pop(id(v)), self.tick)
            for var_id in dying.get(i, ()):
                if var_id in owned:
                    self.arena.release(owned.pop(var_id), self.tick)
        for k in sorted(range(len(out_buffers)), key=overwrites.__contains__):
            self._maybe_split()
            self._materialize_top(self._read(env, jaxpr.outvars[k]), out_buffers[k])
        for alloc in owned.values():  # outputs computed aside, now copied over their inputs
            self.arena.release(alloc, self.tick)
        self._depth -= 1
        self._scratch = outer_scratch

    @staticmethod
    def _read(env, atom):
        if isinstance(atom, Literal):
            return constant_value(atom.aval, atom.val)
        return env[id(atom)]

    def finish(self):
        self._close_part()
        self._emit_packed_entry(self._parts[0])
        return self.module

    def _emit_packed_entry(self, entry):
        packed = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR]),
                             packed_symbol(self.name))
        packed.attributes.add("nounwind")
        b = ir.IRBuilder(packed.append_basic_block("entry"))
        table = packed.args[0]
        pointers = [table] if self._by_table else [
            b.load(b.gep(table, [types.i64(k)], inbounds=True, source_etype=PTR), typ=PTR)
            for k in range(self._nargs)]
        b.call(entry, pointers)
        b.ret_void()


def packed_symbol(name):
    """The symbol callers enter through: it takes one array of all buffer pointers."""
    return name + "_packed"


def lower_closed_jaxpr(closed, name, aliases=(), spmd_axis=None):
    """The LLVM module for ``closed`` and its memory plan: ``(ir.Module, LoweringContext)``.
    ``aliases`` pairs ``(output k, input i)`` make output k live in input i's buffer;
    ``spmd_axis``: see ``LoweringContext``."""
    jaxpr = closed.jaxpr
    ctx = LoweringContext(name, jaxpr.in_avals, jaxpr.out_avals, aliases, spmd_axis)
    ctx.lower_closed_jaxpr(closed, ctx.inputs, ctx.outputs, aliases)
    return ctx.finish(), ctx
