"""How numpy dtypes live in LLVM: a *storage* type in memory and a *compute* type in registers.

Storage follows numpy's layout (bool is one byte, float16 is ``half``). Compute types are what
the scalar emitters see: bool is ``i1`` and float16 is ``float`` holding a value that is always
exactly representable in half precision (every float16 result is rounded back, so fused code
gives the bits eager numpy gives).
"""

import numpy as np
from llvmlite import ir

I1, I8, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(64)
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()

_FLOAT_COMPUTE = {2: F32, 4: F32, 8: F64}  # float16 is computed in float32
_FLOAT_STORAGE = {2: F16, 4: F32, 8: F64}


C64, C128 = ir.LiteralStructType([F32, F32]), ir.LiteralStructType([F64, F64])


def _llvm_type(dtype, floats, boolean):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":  # (re, im): numpy's interleaved layout, and a pair in registers
        return C64 if dtype.itemsize == 8 else C128
    if dtype.kind == "b":
        return boolean
    if dtype.kind == "f":
        return floats[dtype.itemsize]
    return ir.IntType(8 * dtype.itemsize)


def compute_type(dtype):
    """The type values have in registers (bools as i1)."""
    return _llvm_type(dtype, _FLOAT_COMPUTE, I1)


def storage_type(dtype):
    """The type values have in memory (bools as one byte)."""
    return _llvm_type(dtype, _FLOAT_STORAGE, I8)


def is_f16(dtype):
    return np.dtype(dtype) == np.float16


def const(dtype, value):
    """A compute-type constant of ``dtype`` (integers wrap to the type's width as numpy does)."""
    dtype = np.dtype(dtype)
    typ = compute_type(dtype)
    if dtype.kind == "b":
        return ir.Constant(typ, int(bool(value)))
    if dtype.kind == "f":
        return ir.Constant(typ, float(np.asarray(value).astype(dtype)))
    if dtype.kind == "c":
        z = complex(np.asarray(value).astype(dtype))
        return ir.Constant(typ, [z.real, z.imag])
    return ir.Constant(typ, int(np.asarray(value).astype(dtype).view(f"u{dtype.itemsize}")))


def i64(value):
    return ir.Constant(I64, int(value))


def to_storage(b, dtype, value):
    """Converts a compute value to its storage representation before a store."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return b.zext(value, I8)
    if is_f16(dtype):
        return b.fptrunc(value, F16)
    return value


def from_storage(b, dtype, value):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return b.icmp_unsigned("!=", value, ir.Constant(I8, 0))
    if is_f16(dtype):
        return b.fpext(value, F32)
    return value


def round_f16(b, value):
    """Rounds a float holding an f16 computation to half precision (as numpy's f16 ops do)."""
    return b.fpext(b.fptrunc(value, F16), F32)


def double_to_half(b, x):
    """Rounds a double to half precision once, without ``fptrunc double -> half`` (x86 has no
    instruction for it and the libcall it becomes is not in the process).

    Rounding to float with *round-to-odd* first and then to half is exact, because float
    keeps more than twice half's precision plus two bits."""
    t = b.fptrunc(x, F32)
    back = b.fpext(t, F64)
    inexact = b.fcmp_ordered("!=", back, x)
    bits = b.bitcast(t, ir.IntType(32))
    too_far = b.fcmp_ordered(">", b.call(_fabs(b), [back]), b.call(_fabs(b), [x]))
    toward_zero = b.select(too_far, b.sub(bits, ir.Constant(bits.type, 1)), bits)
    odd = b.bitcast(b.or_(toward_zero, ir.Constant(bits.type, 1)), F32)
    return b.fptrunc(b.select(inexact, odd, t), F16)


def _fabs(b):
    module = b.module
    fn = module.globals.get("llvm.fabs.f64")
    return fn or ir.Function(module, ir.FunctionType(F64, [F64]), "llvm.fabs.f64")


def itemsize(dtype):
    return np.dtype(dtype).itemsize
