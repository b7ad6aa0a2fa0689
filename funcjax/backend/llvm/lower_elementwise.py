"""Lowering of the elementwise primitives (arithmetic, comparisons, logic, bits, conversions,
select) to scalar code inside lazy values.

Every emitter computes one element in the compute type of its operands' dtype and gives the
result eager numpy gives, including its defined results: ``x // 0 == -1``, ``x % 0 == x``,
over-wide shifts, NaN-propagating max/min, saturating float-to-int conversion. Operations
whose LLVM form is undefined for some inputs (``sdiv`` by zero, ``INT_MIN / -1``, shifts by
the bit width) are guarded by selects, never by branches, so loops still vectorise.
No fast-math flags: fused code must round exactly as numpy does.
"""

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import transcendental, types
from funcjax.backend.llvm.lowering import register
from funcjax.backend.llvm.values import Lazy
from funcjax.ops import conversion as conv_ops
from funcjax.ops import elementwise as ops


def _is_float(dtype):
    return dtype.kind == "f"


def _signed(dtype):
    return dtype.kind == "i"


def _intrinsic(ctx, name, x):
    return ctx.call(f"llvm.{name}.{'f64' if x.type == types.F64 else 'f32'}", x.type, [x])


intrinsic = _intrinsic


def _isnan(b, x):
    return b.fcmp_unordered("uno", x, x)


# -- arithmetic ------------------------------------------------------------------------------
def _add(ctx, dt, x, y):
    if dt.kind == "b":  # numpy adds booleans as logical or (scatter_add on bool arrays)
        return ctx.b.or_(x, y)
    return ctx.b.fadd(x, y) if _is_float(dt) else ctx.b.add(x, y)


def _sub(ctx, dt, x, y):
    return ctx.b.fsub(x, y) if _is_float(dt) else ctx.b.sub(x, y)


def _mul(ctx, dt, x, y):
    if dt.kind == "b":
        return ctx.b.and_(x, y)
    return ctx.b.fmul(x, y) if _is_float(dt) else ctx.b.mul(x, y)


def _neg(ctx, dt, x):
    return ctx.b.fneg(x) if _is_float(dt) else ctx.b.sub(ir.Constant(x.type, 0), x)


def _int_div(ctx, dt, x, y):
    """Truncating division; ``x / 0 == -1`` and ``INT_MIN / -1 == INT_MIN`` as in XLA."""
    b, zero, one = ctx.b, ir.Constant(y.type, 0), ir.Constant(y.type, 1)
    by_zero = b.icmp_unsigned("==", y, zero)
    if not _signed(dt):
        q = b.udiv(x, b.select(by_zero, one, y))
        return b.select(by_zero, ir.Constant(x.type, -1), q)
    minus_one = ir.Constant(y.type, -1)
    overflow = b.and_(b.icmp_signed("==", x, types.const(dt, np.iinfo(dt).min)),
                      b.icmp_signed("==", y, minus_one))
    q = b.sdiv(x, b.select(b.or_(by_zero, overflow), one, y))
    return b.select(by_zero, minus_one, b.select(overflow, x, q))


def _div(ctx, dt, x, y):
    return ctx.b.fdiv(x, y) if _is_float(dt) else _int_div(ctx, dt, x, y)


def _rem(ctx, dt, x, y):
    b = ctx.b
    if _is_float(dt):
        return b.frem(x, y)
    zero, one = ir.Constant(y.type, 0), ir.Constant(y.type, 1)
    by_zero = b.icmp_unsigned("==", y, zero)
    if not _signed(dt):
        return b.select(by_zero, x, b.urem(x, b.select(by_zero, one, y)))
    # y == -1 always leaves remainder 0 and would overflow srem for INT_MIN.
    unsafe = b.or_(by_zero, b.icmp_signed("==", y, ir.Constant(y.type, -1)))
    r = b.srem(x, b.select(unsafe, one, y))
    return b.select(by_zero, x, r)


def _max_min(greater):
    def emit(ctx, dt, x, y):
        b = ctx.b
        if _is_float(dt):
            # numpy: NaN in either operand wins; on ties (0.0 vs -0.0) the second operand.
            pick = b.select(b.fcmp_ordered(">" if greater else "<", x, y), x, y)
            return b.select(_isnan(b, x), x, pick)
        if dt.kind == "b":
            return b.or_(x, y) if greater else b.and_(x, y)
        cmp = b.icmp_signed if _signed(dt) else b.icmp_unsigned
        return b.select(cmp(">" if greater else "<", x, y), x, y)
    return emit


def _abs(ctx, dt, x):
    if _is_float(dt):
        return _intrinsic(ctx, "fabs", x)
    if not _signed(dt):
        return x
    b = ctx.b
    return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), _neg(ctx, dt, x), x)


def _sign(ctx, dt, x):
    b, t = ctx.b, x.type
    if _is_float(dt):
        zero_or_nan = b.select(_isnan(b, x), x, ir.Constant(t, 0.0))
        neg = b.select(b.fcmp_ordered("<", x, ir.Constant(t, 0.0)), ir.Constant(t, -1.0),
                       zero_or_nan)
        return b.select(b.fcmp_ordered(">", x, ir.Constant(t, 0.0)), ir.Constant(t, 1.0), neg)
    positive = b.zext(b.icmp_signed(">", x, ir.Constant(t, 0)) if _signed(dt) else
                      b.icmp_unsigned("!=", x, ir.Constant(t, 0)), t)
    if not _signed(dt):
        return positive
    return b.sub(positive, b.zext(b.icmp_signed("<", x, ir.Constant(t, 0)), t))


def power_by_squaring(ctx, dt, x, y, mul, div):
    """``x ** y`` for a Python int ``y``, by squaring, unrolled at compile time (as JAX
    does); ``mul``/``div`` are the emitters of x's kind of number (real or complex)."""
    acc, base, n = None, x, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else mul(ctx, dt, acc, base)
        n >>= 1
        if n:
            base = mul(ctx, dt, base, base)
    power = acc if acc is not None else types.const(dt, 1)
    return power if y >= 0 else div(ctx, dt, types.const(dt, 1), power)


def _integer_pow(ctx, dt, x, *, y):
    return power_by_squaring(ctx, dt, x, y, _mul, _div)


def _nextafter(ctx, dt, x, y):
    """Steps the bit pattern of ``x`` (in its storage precision) one unit towards ``y``."""
    b = ctx.b
    st = types.storage_type(dt)
    bits_t = ir.IntType(8 * dt.itemsize)
    xs = b.fptrunc(x, st) if types.is_f16(dt) else x
    ys = b.fptrunc(y, st) if types.is_f16(dt) else y
    bits = b.bitcast(xs, bits_t)
    up = b.fcmp_ordered(">", x, ir.Constant(x.type, 0.0))
    toward_up = b.fcmp_ordered("<", x, y)
    step = b.select(b.icmp_unsigned("==", up, toward_up), ir.Constant(bits_t, 1),
                    ir.Constant(bits_t, -1))
    moved = b.bitcast(b.add(bits, step), st)
    tiny = b.bitcast(ir.Constant(bits_t, 1), st)
    from_zero = b.select(b.fcmp_ordered("<", ys, ir.Constant(st, 0.0)), b.fneg(tiny), tiny)
    out = b.select(b.fcmp_ordered("==", xs, ir.Constant(st, 0.0)), from_zero, moved)
    out = b.select(b.fcmp_ordered("==", xs, ys), ys, out)
    out = b.select(b.or_(_isnan(b, xs), _isnan(b, ys)), b.fadd(xs, ys), out)
    return b.fpext(out, types.F32) if types.is_f16(dt) else out


# -- rounding and classification -------------------------------------------------------------
def _round(ctx, dt, x, *, rounding_method=0):
    return _intrinsic(ctx, "roundeven" if rounding_method == 1 else "round", x)


def _is_finite(ctx, dt, x):
    inf = ir.Constant(x.type, float("inf"))
    return ctx.b.fcmp_ordered("<", _intrinsic(ctx, "fabs", x), inf)


def _rsqrt(ctx, dt, x):
    root = _intrinsic(ctx, "sqrt", x)
    if types.is_f16(dt):  # eager rounds the square root to float16 before dividing
        root = types.round_f16(ctx.b, root)
    return ctx.b.fdiv(ir.Constant(x.type, 1.0), root)


# -- comparisons, logic, shifts --------------------------------------------------------------
def _compare(op):
    def emit(ctx, dt, x, y):
        if _is_float(dt):
            return (ctx.b.fcmp_unordered if op == "!=" else ctx.b.fcmp_ordered)(op, x, y)
        return (ctx.b.icmp_signed if _signed(dt) else ctx.b.icmp_unsigned)(op, x, y)
    return emit


def _shift(kind):
    def emit(ctx, dt, x, s):
        b = ctx.b
        width = ir.Constant(s.type, 8 * dt.itemsize)
        fits = b.icmp_unsigned("<", s, width)  # negative amounts are huge unsigned ones
        if kind == "arithmetic":
            return b.ashr(x, b.select(fits, s, ir.Constant(s.type, 8 * dt.itemsize - 1)))
        amount = b.select(fits, s, ir.Constant(s.type, 0))
        out = b.shl(x, amount) if kind == "left" else b.lshr(x, amount)
        return b.select(fits, out, ir.Constant(x.type, 0))
    return emit


def _not(ctx, dt, x):
    return ctx.b.xor(x, ir.Constant(x.type, -1))


SCALAR = {
    ops.add_p: _add, ops.sub_p: _sub, ops.mul_p: _mul, ops.div_p: _div, ops.rem_p: _rem,
    ops.neg_p: _neg, ops.abs_p: _abs, ops.sign_p: _sign, ops.max_p: _max_min(True),
    ops.min_p: _max_min(False), ops.integer_pow_p: _integer_pow, ops.nextafter_p: _nextafter,
    ops.round_p: _round, ops.is_finite_p: _is_finite, ops.rsqrt_p: _rsqrt,
    ops.floor_p: lambda ctx, dt, x: _intrinsic(ctx, "floor", x),
    ops.ceil_p: lambda ctx, dt, x: _intrinsic(ctx, "ceil", x),
    ops.sqrt_p: lambda ctx, dt, x: _intrinsic(ctx, "sqrt", x),
    ops.eq_p: _compare("=="), ops.ne_p: _compare("!="), ops.lt_p: _compare("<"),
    ops.le_p: _compare("<="), ops.gt_p: _compare(">"), ops.ge_p: _compare(">="),
    ops.and_p: lambda ctx, dt, x, y: ctx.b.and_(x, y),
    ops.or_p: lambda ctx, dt, x, y: ctx.b.or_(x, y),
    ops.xor_p: lambda ctx, dt, x, y: ctx.b.xor(x, y), ops.not_p: _not,
    ops.shift_left_p: _shift("left"), ops.shift_right_logical_p: _shift("logical"),
    ops.shift_right_arithmetic_p: _shift("arithmetic"),
}
SCALAR.update({prim: transcendental.emitter(prim.name) for prim in transcendental.PRIMITIVES})
# The emitters for complex operands, and "convert" for casts to/from complex (lower_complex).
COMPLEX = {}


def elementwise_value(ctx, eqn, ins, emit):
    """The lazy value applying the scalar emitter ``emit`` to the operands' elements."""
    dt = ins[0].aval.dtype
    out = eqn.outputs[0].aval
    round_half = types.is_f16(out.dtype)
    params = eqn.params

    def load(idx):
        result = emit(ctx, dt, *[v.load(idx if v.aval.shape else []) for v in ins], **params)
        return types.round_f16(ctx.b, result) if round_half else result
    return Lazy(out, load)


@register("fused", *SCALAR, pointwise=True)
def _lower_elementwise(ctx, eqn, ins):
    table = COMPLEX if ins[0].aval.dtype.kind == "c" else SCALAR
    return elementwise_value(ctx, eqn, ins, table[eqn.primitive])


# -- conversions and select ------------------------------------------------------------------
def convert(ctx, x, src, dst):
    """Converts a compute value from dtype ``src`` to ``dst`` with numpy's (saturating) rules."""
    b, src, dst = ctx.b, np.dtype(src), np.dtype(dst)
    if src == dst:
        return x
    if "c" in (src.kind, dst.kind):
        return COMPLEX["convert"](ctx, x, src, dst)
    out_t = types.compute_type(dst)
    if dst.kind == "b":
        zero = ir.Constant(x.type, 0.0 if src.kind == "f" else 0)
        return (b.fcmp_unordered if src.kind == "f" else b.icmp_unsigned)("!=", x, zero)
    if src.kind == "f" and dst.kind == "f":
        if types.is_f16(dst):  # round once, from the source precision
            half = types.double_to_half(b, x) if x.type == types.F64 else \
                b.fptrunc(x, types.F16)
            return b.fpext(half, types.F32)
        if out_t == x.type:
            return x
        return b.fpext(x, out_t) if dst.itemsize > src.itemsize else b.fptrunc(x, out_t)
    if src.kind == "f":  # NaN -> 0, out of range saturates: exactly LLVM's fpto*i.sat
        name = "fptosi" if dst.kind == "i" else "fptoui"
        fp = "f64" if x.type == types.F64 else "f32"
        return ctx.call(f"llvm.{name}.sat.i{8 * dst.itemsize}.{fp}", out_t, [x])
    if dst.kind == "f":
        wide_t = types.F64 if types.is_f16(dst) else out_t  # int -> f16 rounds once
        f = b.sitofp(x, wide_t) if src.kind == "i" else b.uitofp(x, wide_t)
        return b.fpext(types.double_to_half(b, f), types.F32) if types.is_f16(dst) else f
    if out_t.width < x.type.width:
        return b.trunc(x, out_t)
    if out_t.width > x.type.width:
        return b.sext(x, out_t) if src.kind == "i" else b.zext(x, out_t)
    return x


@register("fused", conv_ops.convert_element_type_p, pointwise=True)
def _lower_convert(ctx, eqn, ins):
    (x,), src = ins, ins[0].aval.dtype
    dst = eqn.outputs[0].aval.dtype
    return Lazy(eqn.outputs[0].aval, lambda idx: convert(ctx, x.load(idx), src, dst))


@register("fused", conv_ops.select_n_p, pointwise=True)
def _lower_select_n(ctx, eqn, ins):
    which, cases = ins[0], ins[1:]
    wdt = which.aval.dtype
    b = ctx.b

    def load(idx):
        w = which.load(idx if which.aval.shape else [])
        out = cases[0].load(idx)
        for k, case in enumerate(cases[1:], start=1):
            if wdt.kind == "b":
                take = w
            else:
                cmp = b.icmp_signed if wdt.kind == "i" else b.icmp_unsigned
                take = cmp(">=", w, ir.Constant(w.type, k))
            out = b.select(take, case.load(idx), out)
        return out
    return Lazy(eqn.outputs[0].aval, load)


@register("view", conv_ops.stop_gradient_p, pointwise=True)
def _lower_identity(ctx, eqn, ins):
    return ins[0]
