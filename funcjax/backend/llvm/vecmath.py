"""Vector math: transcendental functions as branch-free polynomials written in LLVM IR.

A libm call is scalar: a loop around ``tanhf`` runs one element at a time, 20x slower than
vector code. These functions use only arithmetic, ``fma``, selects and bit operations, so the
loop vectoriser turns a fused elementwise loop that calls them into AVX code. Each is defined
once per module as an internal ``alwaysinline`` function (``fj.exp.f32``, ...), which LLVM
inlines into the loops that call it.

Method: Cody-Waite range reduction with constants split into two or three parts and ``fma``
(so the reduced argument is exact to the last bit), then a polynomial on a small interval
(Taylor/atanh series: exact rational coefficients, degree chosen so the truncation error is
far below half an ulp; float32 exp, tanh, sin and cos have fitted minimax polynomials), then
reconstruction by exponent arithmetic. Special values (NaN, +-inf, -0.0, subnormals, overflow
and underflow) are fixed up by selects at the end (exp needs none: its clamped argument and
``ldexp``, one ``vscalefps`` on AVX-512, give all of them).
float32 is computed in float32 (vectors of sin/cos too: float32 Cody-Waite below 2**20,
minimax kernel), except scalar sin/cos/tan and vector tan, which evaluate in float64 (the
scalar ones after a table-driven reduction that is exact for every float32 argument; vectors
with a lane above 2**20 recompute it by that scalar code), and atan, atan2, cbrt, pow and erf,
which evaluate in float64 and round once. float64 erf is a Taylor series below 1 and
``1 - exp(-x*x) * F(x)`` above, with ``F`` a fitted polynomial whose coefficients are selected
per lane and ``x*x`` split exactly in two (within 1 ulp). float64 pow computes ``log`` and
``y*log|x|`` in double-double (fma for the exact parts), then ``exp(hi + lo)`` with ``lo``
added to exp's reduced argument (within 1.05 ulp). float64 sin/cos reduce by
Cody-Waite up to 2**30; the rare larger argument takes a branch to libm (that branch costs
vectorisation of the loop: a float64 table reduction is the next step).

Reference accuracy is tested against numpy over the whole float range in
tests/backend/test_vecmath.py.
"""

import functools
import math
from fractions import Fraction

import numpy as np
from llvmlite import ir

from funcjax.backend.llvm import compiler
from funcjax.backend.llvm.types import F32, F64

_LOG2E = 1.4426950408889634
_LN2 = (0.6931471805599453, 2.3190468138462996e-17)
_PIO2 = (1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33)
_TWO_OVER_PI = 0.6366197723675814


def estrin(b, fma, terms, x):
    """``terms[0] + x terms[1] + x^2 terms[2] + ...`` (IR values) by Estrin's scheme: pairs
    ``t[2i] + x t[2i+1]``, then pairs of those in ``x^2``, and so on, ``fma(a, b, c)`` giving
    ``a * b + c``: a dependency chain of log2(n) fmas instead of Horner's n (for long
    polynomials whose latency, not throughput, bounds a loop)."""
    power = x
    while len(terms) > 1:
        terms = [fma(odd, power, even) for even, odd in zip(terms[::2], terms[1::2])
                 ] + terms[len(terms) - len(terms) % 2:]
        power = b.fmul(power, power)
    return terms[0]


class _Emitter:
    """Arithmetic helpers for one function body, in one float type (``lanes`` > 0: a vector
    of that many of them)."""

    def __init__(self, module, b, typ, lanes=0):
        self.module, self.b, self.lanes = module, b, lanes
        self.f64 = typ == F64
        self.t = self.vector(typ)
        self.bits = self.int_type(64 if self.f64 else 32)
        self.mant = 52 if self.f64 else 23
        self.bias = 1023 if self.f64 else 127

    def vector(self, typ):
        return ir.VectorType(typ, self.lanes) if self.lanes else typ

    def int_type(self, width):
        return self.vector(ir.IntType(width))

    def const(self, typ, value):
        return ir.Constant(typ, [value] * self.lanes if self.lanes else value)

    def c(self, value):
        return self.const(self.t, float(value) if self.f64 else float(np.float32(value)))

    def i(self, value):
        return self.const(self.bits, value)

    def intrinsic(self, name, *args):
        suffix = ("f64" if self.f64 else "f32")
        if self.lanes:
            suffix = f"v{self.lanes}{suffix}"
        return call_function(self.module, self.b, f"llvm.{name}.{suffix}", self.t,
                             [self.t] * len(args), list(args))

    def fma(self, a, x, y):
        return self.intrinsic("fma", a, x, y)

    def poly(self, x, coeffs):
        """Horner: ``coeffs[0] + x*(coeffs[1] + x*(...))``."""
        acc = self.c(coeffs[-1])
        for co in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.c(co))
        return acc

    def poly_estrin(self, x, coeffs):
        """The same polynomial by Estrin's scheme (``estrin``)."""
        return estrin(self.b, self.fma, [self.c(co) for co in coeffs], x)

    def select(self, cond, a, b):
        return self.b.select(cond, a, b)

    def lt(self, a, b):
        return self.b.fcmp_ordered("<", a, b)

    def gt(self, a, b):
        return self.b.fcmp_ordered(">", a, b)

    def eq(self, a, b):
        return self.b.fcmp_ordered("==", a, b)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def ldexp(self, x, k):
        """``x * 2**k`` rounded once (subnormal results, overflow to inf, NaN kept), for
        ``k`` an i32 (lanes) within twice the exponent range. With AVX-512, LLVM's ``ldexp``
        intrinsic is one ``vscalefps``; elsewhere it would be a libm call, so the product of
        two powers of two (``k`` halved: each factor normal, the first product exact)."""
        b = self.b
        if _has_scalef():
            return call_function(self.module, b, f"llvm.ldexp.{_suffix(self.t)}.{_suffix(k.type)}",
                                 self.t, [self.t, k.type], [x, k])
        if self.f64:
            k = b.sext(k, self.bits)
        half = b.ashr(k, self.i(1))
        return b.fmul(b.fmul(x, self._pow2(half)), self._pow2(b.sub(k, half)))

    def _pow2(self, k):
        """``2**k`` for an integer ``k`` (of the float's width) in the normal exponent range."""
        return self.b.bitcast(self.b.shl(self.b.add(k, self.i(self.bias)), self.i(self.mant)),
                              self.t)

    def scale(self, x, n):
        """``x * 2**n`` for an integer-valued float ``n`` (not NaN) within twice the exponent
        range."""
        return self.ldexp(x, self.b.fptosi(n, self.int_type(32)))

    def round_shifted(self, x, factor):
        """``(n, k)``: ``x * factor`` rounded to an integer as a float and as an i32, by the
        shifter trick (``fma(x, factor, 1.5*2**mant)`` keeps ``n`` in its low bits): no NaN
        check needed, where ``fptosi`` of NaN would be poison. For ``|x*factor| < 2**22``."""
        b = self.b
        shifter = 1.5 * 2.0 ** self.mant
        big = self.fma(x, self.c(factor), self.c(shifter))
        k = b.sub(b.bitcast(big, self.bits), b.bitcast(self.c(shifter), self.bits))
        if self.f64:
            k = b.trunc(k, self.int_type(32))
        return b.fsub(big, self.c(shifter)), k

    def reduce_ln2(self, x):
        """``(n, r, k)`` with ``x = n*ln2 + r``, ``|r| <= ln2/2`` (``n`` a float, ``k`` the
        same integer as an i32), for ``|x| < 2**21``."""
        n, k = self.round_shifted(x, _LOG2E)
        minus_n = self.b.fneg(n)
        hi = _LN2[0] if self.f64 else float(np.float32(_LN2[0]))
        lo = _LN2[0] - hi + _LN2[1]
        r = self.fma(minus_n, self.c(hi), x)
        return n, self.fma(minus_n, self.c(lo), r), k


@functools.cache
def _has_scalef():
    """Whether the host has AVX-512 (``vscalefps``: LLVM's ``ldexp`` in one instruction)."""
    return "+avx512f" in compiler.host()[1].split(",")


def _suffix(typ):
    """LLVM's overloaded-intrinsic name part of ``typ``: ``f32``, ``v16f32``, ``v16i32``."""
    if isinstance(typ, ir.VectorType):
        return f"v{typ.count}{_suffix(typ.element)}"
    return {F32: "f32", F64: "f64"}.get(typ, str(typ))


def _taylor(start, count, step=1):
    """Coefficients ``1/k!`` for k = start, start+step, ..."""
    return [1.0 / math.factorial(start + step * j) for j in range(count)]


def _clamp(e, x, lo, hi):
    """Clamps into ``[lo, hi]``; NaN stays NaN (ordered compares are false for NaN)."""
    x = e.select(e.gt(x, e.c(hi)), e.c(hi), x)
    return e.select(e.lt(x, e.c(lo)), e.c(lo), x)


def _no_nan(e, x):
    return e.select(e.isnan(x), e.c(0.0), x)


# -- the functions: each takes the emitter and the argument, returns the result --------------
# expm1(r) ~ r + r**2 * P(r) on |r| <= ln2/2: P fitted for the least maximum relative error of
# the sum (Lawson's iteratively weighted least squares), then rounded to float32: 1.8e-8, one
# term fewer than the Taylor series needs for the same accuracy.
_EXPM1_F32_MINIMAX = [0.49999997, 0.16666543, 0.041667200, 0.0083665857, 0.0013882510]


def _exp(e, x, lo=None):
    """``exp(x)``, or ``exp(x + lo)`` for a small correction ``lo`` (added to the reduced
    argument). float32: ``1 + r + r**2 P(r)`` (``_EXPM1_F32_MINIMAX``, Horner), then
    ``ldexp``: 14 vector operations, no select; exhaustively at most 0.93 ulp from the exact
    value (the Taylor polynomial and two-step scaling before: 27 operations)."""
    limits = (-746.0, 710.0) if e.f64 else (-104.0, 89.0)
    xc = _clamp(e, x, *limits)  # NaN goes through every step (ldexp keeps it)
    _, r, k = e.reduce_ln2(xc)
    if lo is not None:
        r = e.b.fadd(r, lo)
    p = e.poly(r, _taylor(0, 14) if e.f64 else [1.0, 1.0] + _EXPM1_F32_MINIMAX)
    return e.ldexp(p, k)


def _exp2(e, x):
    limits = (-1076.0, 1025.0) if e.f64 else (-151.0, 129.0)
    xc = _no_nan(e, _clamp(e, x, *limits))
    n = e.intrinsic("roundeven", xc)
    f = e.b.fsub(xc, n)  # exact
    if e.f64:
        r = e.b.fmul(f, e.c(_LN2[0]))
        r = e.fma(f, e.c(_LN2[1]), r)  # f * ln2 in about 1.5 doubles: enough here
    else:
        r = e.b.fmul(f, e.c(_LN2[0]))
    p = e.poly(r, _taylor(0, 14 if e.f64 else 8))
    return e.select(e.isnan(x), x, e.scale(p, n))


def _expm1(e, x):
    limits = (-50.0, 709.79) if e.f64 else (-40.0, 88.73)
    xc = _no_nan(e, _clamp(e, x, *limits))
    n, r, _ = e.reduce_ln2(xc)
    q = e.b.fmul(r, e.poly(r, _taylor(1, 13 if e.f64 else 7)))  # expm1(r)
    # expm1(x) = 2**n * (q + 1 - 2**-n), scaled in two steps (no overflow before the end)
    one_minus = e.b.fsub(e.c(1.0), e.scale(e.c(1.0), e.b.fneg(n)))
    out = e.scale(e.b.fadd(q, one_minus), n)
    overflow = e.gt(x, e.c(limits[1]))
    out = e.select(overflow, e.c(math.inf), out)
    out = e.select(e.eq(x, e.c(0.0)), x, out)  # keeps -0.0
    return e.select(e.isnan(x), x, out)


def _log(e, x):
    kf, f = _log_reduce(e, x)
    log1pf = _log1p_kernel(e, f)
    hi = _LN2[0] if e.f64 else float(np.float32(0.693138122559))
    lo = _LN2[0] - hi + _LN2[1]
    out = e.fma(kf, e.c(hi), e.fma(kf, e.c(lo), log1pf))
    out = e.select(e.eq(x, e.c(math.inf)), x, out)
    out = e.select(e.eq(x, e.c(0.0)), e.c(-math.inf), out)
    return e.select(e.lt(x, e.c(0.0)), e.c(math.nan), e.select(e.isnan(x), x, out))


def _log_reduce(e, x):
    """``(k, f)`` with ``x = 2**k * (1 + f)``, ``1 + f`` in [sqrt(1/2), sqrt(2)) (``f`` exact;
    subnormal ``x`` scaled first), for finite ``x > 0``."""
    b = e.b
    tiny = e.lt(x, e.c(2.0 ** (-1022 if e.f64 else -126)))
    shift = 54 if e.f64 else 25
    xs = e.select(tiny, b.fmul(x, e.c(2.0 ** shift)), x)
    bits = b.bitcast(xs, e.bits)
    # Exponent and mantissa with the mantissa in [sqrt(1/2), sqrt(2)).
    sqrt_half = 0x3FE6A09E667F3BCD if e.f64 else 0x3F3504F3
    one = 0x3FF0000000000000 if e.f64 else 0x3F800000
    ix = b.add(bits, e.i(one - sqrt_half))
    k = b.sub(b.ashr(ix, e.i(e.mant)), e.i(e.bias))
    m_bits = b.add(b.and_(ix, e.i((1 << e.mant) - 1)), e.i(sqrt_half))
    f = b.fsub(b.bitcast(m_bits, e.t), e.c(1.0))
    kf = b.fsub(b.sitofp(k, e.t), e.select(tiny, e.c(shift), e.c(0.0)))
    return kf, f


def _log1p_kernel(e, f):
    """``log(1+f)`` for ``f`` in [sqrt(1/2)-1, sqrt(2)-1]: ``f - (f²/2 - s(f²/2 + R))`` with
    ``s = f/(2+f)`` and ``R = sum 2 s^2k / (2k+1)`` (the atanh series)."""
    b = e.b
    s = b.fdiv(f, b.fadd(e.c(2.0), f))
    z = b.fmul(s, s)
    terms = 12 if e.f64 else 5
    series = e.poly_estrin if e.f64 else e.poly
    r = b.fmul(z, series(z, [2.0 / (2 * k + 1) for k in range(1, terms + 1)]))
    hfsq = b.fmul(e.c(0.5), b.fmul(f, f))
    return b.fsub(f, b.fsub(hfsq, b.fmul(s, b.fadd(hfsq, r))))


def _log1p(e, x):
    b = e.b
    u = b.fadd(e.c(1.0), x)
    # log(u) + (x - (u - 1)) / u corrects the rounding of 1 + x.
    out = b.fadd(_call(e, "log", u), b.fdiv(b.fsub(x, b.fsub(u, e.c(1.0))), u))
    out = e.select(e.eq(u, e.c(1.0)), x, out)  # tiny x (and -0.0)
    out = e.select(e.eq(x, e.c(math.inf)), x, out)
    out = e.select(e.eq(u, e.c(0.0)), e.c(-math.inf), out)
    return e.select(e.lt(u, e.c(0.0)), e.c(math.nan), e.select(e.isnan(x), x, out))


_SHIFTER = 1.5 * 2.0 ** 23  # float32 x + _SHIFTER rounds x to an integer, kept in the low bits


def _tanh_f32(e, x):
    """float32: ``tanh|x| = (1 - t) / (1 + t)``, one branch-free path: ``|x| = r - n*ln2/2``,
    ``t = exp(-2|x|) = 2**n * (1 - 2q)`` with ``q = -expm1(-2r)/2``. Numerator ``(2**n - 1) -
    2**(n+1) q`` (its negative) and denominator are each rounded once (``2**n +- 1`` are exact),
    so small ``|x|`` keep their relative accuracy: at most 1.93 ulp from the exact value,
    exhaustively over float32 (the previous version had a second polynomial for them).

    Fewest multiplies (they are the bottleneck): ``n`` by the shifter trick (no round or
    convert), ``r`` by one fma (``|n| <= 29`` and float32 ``ln2/2`` is off by 1e-9), and the
    factor -2 folded into the polynomial (in ``r``: ``-expm1(-2r)/2``) and into ``2**n`` (an
    exponent and sign change). ``|x|`` is clamped to 10 (``2**n`` stays normal, nothing
    overflows); ``copysign`` gives the sign (and keeps -0.0); NaN needs no select (no float to
    integer conversion on the way: 2**n comes from the shifter's bits)."""
    b = e.b
    ax = e.intrinsic("fabs", x)
    ax = e.select(e.gt(ax, e.c(10.0)), e.c(10.0), ax)  # NaN stays NaN
    big = e.fma(ax, e.c(-2.0 * _LOG2E), e.c(_SHIFTER))
    n = b.fsub(big, e.c(_SHIFTER))
    s_bits = b.add(b.shl(b.bitcast(big, e.bits), e.i(e.mant)), e.i(e.bias << e.mant))
    s = b.bitcast(s_bits, e.t)  # 2**n
    minus_2s = b.bitcast(b.add(s_bits, e.i(0x80800000 - 2 ** 32)), e.t)
    r = e.fma(n, e.c(_LN2[0] / 2), ax)
    coeffs = [-2.0 * c * (-2.0) ** k for k, c in enumerate(_EXPM1_F32_MINIMAX)]
    q = e.fma(b.fmul(r, r), e.poly(r, coeffs), r)  # -expm1(-2r) / 2
    num = e.fma(minus_2s, q, b.fsub(s, e.c(1.0)))
    den = e.fma(minus_2s, q, b.fadd(s, e.c(1.0)))
    return e.intrinsic("copysign", b.fdiv(num, den), x)  # NaN came through every step


def _tanh(e, x):
    b = e.b
    if not e.f64:
        return _tanh_f32(e, x)
    ax = _clamp(e, e.intrinsic("fabs", x), 0.0, 22.0 if e.f64 else 10.0)
    m = _call(e, "expm1", b.fmul(ax, e.c(2.0)))
    return e.intrinsic("copysign", b.fdiv(m, b.fadd(m, e.c(2.0))), x)


def _logistic(e, x):
    b = e.b
    t = _call(e, "exp", b.fneg(e.intrinsic("fabs", x)))  # in (0, 1]: never overflows
    p = b.fdiv(e.c(1.0), b.fadd(e.c(1.0), t))
    out = e.select(b.fcmp_ordered(">=", x, e.c(0.0)), p, b.fmul(t, p))
    return e.select(e.isnan(x), x, out)


def _sincos_kernels(e, r, terms):
    """``(sin r, cos r)`` for ``|r| <= pi/4`` (float64 arithmetic, ``terms`` terms)."""
    b = e.b
    z = b.fmul(r, r)
    s_coeffs = [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, terms)]
    c_coeffs = [(-1) ** k / math.factorial(2 * k) for k in range(1, terms + 1)]
    s = e.fma(b.fmul(r, z), e.poly(z, s_coeffs), r)
    c = e.fma(z, e.poly(z, c_coeffs), e.c(1.0))
    return s, c


def _trig(which):
    """sin, cos or tan: reduce by multiples of pi/2 (float64 arithmetic), then the kernels.

    float32 vectors reduce by Cody-Waite (sin/cos in float32, ``_sincos_f32``; exact enough
    below ``_CW_LIMIT``; larger lanes are recomputed by the scalar table reduction, see
    ``_vector_variant``)."""
    def emit(e, x):
        w = _Emitter(e.module, e.b, F64, e.lanes)  # reduce and evaluate in float64
        b = e.b
        if e.lanes and not e.f64 and which != "tan":
            return _sincos_f32(e, x, which)
        if e.lanes and not e.f64:
            xd = b.fpext(x, w.t)
            n = w.intrinsic("roundeven", b.fmul(xd, w.c(_TWO_OVER_PI)))
            minus_n, r = b.fneg(n), xd
            for part in _PIO2:
                r = w.fma(minus_n, w.c(part), r)
            v = b.fptrunc(_quadrant(w, which, n, r, 6), e.t)
        elif e.f64:
            ax = w.intrinsic("fabs", x)
            finite = b.fcmp_ordered("<=", ax, w.c(2.0 ** 30))
            xs = b.select(finite, x, w.c(0.0))
            n = w.intrinsic("roundeven", b.fmul(xs, w.c(_TWO_OVER_PI)))
            minus_n, r = b.fneg(n), xs
            for part in _PIO2:
                r = w.fma(minus_n, w.c(part), r)
            v = _quadrant(w, which, n, r, 9)
        else:
            n, r, negative = _reduce_f32(w, x)
            v = _quadrant(w, which, n, b.fmul(r, w.c(_PIO2[0])), 6)
            if which != "cos":  # odd functions
                v = b.select(negative, b.fneg(v), v)
            v = b.fptrunc(v, F32)
        if which != "cos":
            v = e.select(e.eq(x, e.c(0.0)), x, v)  # sin(-0.0) is -0.0
        v = e.select(e.isnan(x), x, v)
        v = e.select(e.eq(e.intrinsic("fabs", x), e.c(math.inf)), e.c(math.nan), v)
        if e.f64 and not e.lanes:  # vector variants leave large lanes to the scalar body
            return _huge_to_libm(e, x, finite, v, which)
        return v
    return emit


# float32 sin/cos below _CW_LIMIT: pi in three float32 parts (the first product with n is
# exact in the fma; the rest of pi is 1e-22), and one minimax polynomial on |r| <= pi/2 + 0.1
# (Lawson's iteratively weighted least squares for the least maximum relative error, its
# coefficients rounded to float32 one at a time, the rest refitted): sin(r) = r + r**3 P(r*r),
# relative error 1.2e-8. Near 2**20, n can be one off the nearest (float32 1/pi is 1.3e-8
# off, and cos rounds |x|/pi - 1/2 before the shifter), so |r| reaches pi/2 + 0.09.
_PI_F32 = (3.1415927410125732, -8.742277657347586e-08, -3.4302490200117638e-15)
_SIN_F32_MINIMAX = [-0.16666655242443085, 0.008332950994372368, -0.00019801028247456998,
                    2.586804612292326e-06]


def _sincos_f32(e, x, which):
    """float32 ``sin``/``cos`` in float32 arithmetic (16 lanes per AVX-512 register):
    ``|x| = n*pi + r`` (cos: ``(n + 1/2)*pi + r``), ``n`` by the shifter trick (its low bit
    is the sign of the result), ``r`` by three fmas, then one odd polynomial in ``r`` on
    ``[-pi/2, pi/2]``: ``sin|x| = (-1)**n sin(r)``, ``cos|x| = (-1)**(n+1) sin(r)``. The sign
    goes on by integer xor; sin takes the sign of ``x`` too (so sin(-0.0) is -0.0). NaN and
    infinities give NaN without a select (``inf - inf`` in the reduction). 12 fma-pipe
    operations per vector (13 with the sin and cos kernels of a pi/2 reduction before, and
    more integer and select work). Over float32 below 2**20: at most 1.84 ulp (sin 1.78)
    from the exact value."""
    b = e.b
    ax = e.intrinsic("fabs", x)
    shifter = e.c(_SHIFTER)
    if which == "cos":  # n = round(|x|/pi - 1/2), r = |x| - (n + 1/2) pi
        big = b.fadd(e.fma(ax, e.c(1 / math.pi), e.c(-0.5)), shifter)
        n = b.fadd(b.fsub(big, shifter), e.c(0.5))
    else:
        big = e.fma(ax, e.c(1 / math.pi), shifter)
        n = b.fsub(big, shifter)
    r = ax
    for part in _PI_F32:
        r = e.fma(n, e.c(-part), r)
    z = b.fmul(r, r)
    # r**3 = r*z + r*(r*r - z): the rounding error of z, which near |r| = pi/2 (where the
    # r**3 term is half the result) cost a third of an ulp, is put back
    r3 = e.fma(r, z, b.fmul(r, e.fma(r, r, b.fneg(z))))
    v = e.fma(r3, e.poly(z, _SIN_F32_MINIMAX), r)
    q = b.bitcast(big, e.bits)
    if which == "cos":
        q = b.add(q, e.i(1))
    sign = b.shl(q, e.i(31))
    if which == "sin":
        sign = b.xor(sign, b.bitcast(x, e.bits))
    sign = b.and_(sign, e.i(0x80000000 - 2 ** 32))
    return b.bitcast(b.xor(b.bitcast(v, e.bits), sign), e.t)


def _quadrant(w, which, n, r, terms):
    """``sin``/``cos``/``tan`` of ``n*pi/2 + r`` from the kernels at ``r`` (``n``
    integer-valued)."""
    b = w.b
    s, c = _sincos_kernels(w, r, terms)
    i32, i1 = w.int_type(32), w.int_type(1)
    q = b.and_(b.fptosi(n, i32), w.const(i32, 3))
    if which == "tan":  # tan(r + pi/2) = -cos(r)/sin(r)
        odd = b.trunc(q, i1)
        return b.select(odd, b.fneg(b.fdiv(c, s)), b.fdiv(s, c))
    if which == "cos":
        q = b.add(q, w.const(i32, 1))
    v = b.select(b.trunc(q, i1), c, s)
    negate = b.trunc(b.lshr(q, w.const(i32, 1)), i1)
    return b.select(negate, b.fneg(v), v)


def _two_over_pi_bits(bits):
    """``floor(2/pi * 2**bits)`` from Machin's formula in integer arithmetic."""
    one = 1 << (bits + 64)

    def arctan_inv(k):
        total, term, n, sign = 0, one // k, 1, 1
        while term:
            total += sign * (term // n)
            term //= k * k
            n += 2
            sign = -sign
        return total
    pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)
    return (2 * one * one // pi) >> 64


def _table_f32():
    """Per float32 exponent field ``f``, ``A = (2**E * 2/pi) mod 4`` (``E`` the weight of the
    24-bit integer mantissa) in three doubles: two of 28 significant bits (their products
    with the mantissa are exact) and the rest."""
    precision = 400
    tpi = _two_over_pi_bits(precision)
    rows = []
    for field in range(256):
        e = max(field, 1) - 150
        # A * 2**precision as an integer: (tpi << e) mod (4 << precision)
        a = (tpi << e if e >= 0 else tpi >> -e) % (4 << precision)
        parts = []
        for _ in range(2):
            top = a.bit_length() - 28
            chunk = a >> top << top if top > 0 else a
            parts.append(chunk)
            a -= chunk
        parts.append(a)
        rows.extend(math.ldexp(p, -precision) if p < (1 << 1000) else
                    float(p) * 2.0 ** -precision for p in parts)
    return rows


def _reduce_f32(w, x):
    """``(n, r, x < 0)`` with ``|x| * 2/pi = n + r``, ``|r| <= 1/2`` (``r`` to about 2**-80
    absolute) for every finite float32 ``x``: a table reduction, no branch, no limit."""
    b = w.b
    i32 = ir.IntType(32)
    bits = b.bitcast(x, i32)
    field = b.and_(b.lshr(bits, ir.Constant(i32, 23)), ir.Constant(i32, 255))
    mant = b.and_(bits, ir.Constant(i32, 0x7FFFFF))
    normal = b.icmp_unsigned("!=", field, ir.Constant(i32, 0))
    mant = b.or_(mant, b.select(normal, ir.Constant(i32, 1 << 23), ir.Constant(i32, 0)))
    m = b.sitofp(mant, F64)
    table = _global_table(w.module, "fj.two_over_pi.f32", _table_f32())
    base = b.mul(b.zext(field, ir.IntType(64)), ir.Constant(ir.IntType(64), 3))
    a1, a2, a3 = (b.load(b.gep(table, [b.add(base, ir.Constant(ir.IntType(64), k))],
                               inbounds=True, source_etype=F64), typ=F64) for k in range(3))
    p1 = b.fmul(m, a1)  # exact
    p1 = b.fsub(p1, b.fmul(w.c(4.0), w.intrinsic("floor", b.fmul(p1, w.c(0.25)))))  # mod 4
    p2 = b.fmul(m, a2)  # exact
    n = w.intrinsic("roundeven", b.fadd(p1, p2))
    r = b.fadd(b.fadd(b.fsub(p1, n), p2), b.fmul(m, a3))
    # r is in quarter turns; the caller multiplies by pi/2 (rounding error 2**-53 relative)
    negative = b.icmp_signed("<", bits, ir.Constant(i32, 0))
    return n, r, negative


def _in_f64(fn):
    """A function evaluated in float64 (float32 arguments widened, the result rounded once)."""
    def emit(e, *xs):
        if e.f64:
            return fn(e, *xs)
        w = _Emitter(e.module, e.b, F64)
        return e.b.fptrunc(fn(w, *[e.b.fpext(x, F64) for x in xs]), F32)
    return emit


_PI = (3.141592653589793, 1.2246467991473532e-16)
_PI_2 = (1.5707963267948966, 6.123233995736766e-17)
_PI_6 = (0.5235987755982988, 5.74182141399611e-17)
_SQRT3 = (1.7320508075688772, 1.0035084221806903e-16)
_TAN_PI_12 = 0.2679491924311227


def _atan_kernel(e, t):
    """``atan(t)`` for ``0 <= t <= 1``: above tan(pi/12), ``pi/6 + atan(u)`` with
    ``u = (t*sqrt3 - 1)/(t + sqrt3)``; then the odd Taylor series (``u**2 <= 0.072``)."""
    b = e.b
    big = e.gt(t, e.c(_TAN_PI_12))
    num = b.fadd(e.fma(t, e.c(_SQRT3[0]), e.c(-1.0)), b.fmul(t, e.c(_SQRT3[1])))
    u = e.select(big, b.fdiv(num, b.fadd(t, e.c(_SQRT3[0]))), t)
    z = b.fmul(u, u)
    terms = 14 if e.f64 else 8
    p = e.fma(b.fmul(u, z), e.poly(z, [(-1) ** k / (2 * k + 1) for k in range(1, terms)]), u)
    shifted = b.fadd(b.fadd(p, e.c(_PI_6[1])), e.c(_PI_6[0]))
    return e.select(big, shifted, p)


def _minus(e, const, a):
    """``const - a`` for a float64 pair ``const``."""
    return e.b.fadd(e.b.fsub(e.c(const[1]), a), e.c(const[0]))


def _atan(e, x):
    b = e.b
    ax = e.intrinsic("fabs", x)
    inverted = e.gt(ax, e.c(1.0))
    a = _atan_kernel(e, e.select(inverted, b.fdiv(e.c(1.0), ax), ax))
    a = e.select(inverted, _minus(e, _PI_2, a), a)
    return e.intrinsic("copysign", a, x)


def _atan2(e, y, x):
    b = e.b
    ax, ay = e.intrinsic("fabs", x), e.intrinsic("fabs", y)
    steep = e.gt(ay, ax)
    hi, lo = e.select(steep, ay, ax), e.select(steep, ax, ay)
    t = b.fdiv(lo, hi)
    t = e.select(e.eq(hi, e.c(0.0)), e.c(0.0), t)  # atan2(+-0, +-0)
    t = e.select(e.eq(lo, e.c(math.inf)), e.c(1.0), t)  # both infinite: pi/4
    a = _atan_kernel(e, t)
    a = e.select(steep, _minus(e, _PI_2, a), a)
    x_negative = b.icmp_signed("<", b.bitcast(x, e.bits), e.i(0))  # includes -0.0
    a = e.select(x_negative, _minus(e, _PI, a), a)
    out = e.intrinsic("copysign", a, y)
    return e.select(b.or_(e.isnan(x), e.isnan(y)), b.fadd(x, y), out)


def _cbrt(e, x):
    """Bit-level first guess, three Halley steps (cubic convergence), then one Newton step
    with an exact residual (``fma``) for the last bit."""
    b = e.b
    ax = e.intrinsic("fabs", x)
    tiny, huge = e.lt(ax, e.c(2.0 ** -1022)), e.gt(ax, e.c(2.0 ** 1000))
    a = b.fmul(ax, e.select(tiny, e.c(2.0 ** 54), e.select(huge, e.c(2.0 ** -900), e.c(1.0))))
    guess = b.add(b.udiv(b.bitcast(a, e.bits), e.i(3)), e.i(682 << 52))
    y = b.bitcast(guess, e.t)
    for _ in range(3):
        y3 = b.fmul(b.fmul(y, y), y)
        y = b.fmul(y, b.fdiv(b.fadd(y3, b.fadd(a, a)), b.fadd(b.fadd(y3, y3), a)))
    y2 = b.fmul(y, y)
    residual = b.fadd(e.fma(y2, y, b.fneg(a)), b.fmul(e.fma(y, y, b.fneg(y2)), y))
    y = b.fsub(y, b.fdiv(residual, b.fmul(e.c(3.0), y2)))
    y = b.fmul(y, e.select(tiny, e.c(2.0 ** -18), e.select(huge, e.c(2.0 ** 300), e.c(1.0))))
    y = e.select(b.or_(e.eq(ax, e.c(0.0)), e.eq(ax, e.c(math.inf))), ax, y)
    return e.select(e.isnan(x), x, e.intrinsic("copysign", y, x))


def _pow(e, x, y, accurate=False):
    """``exp(y * log|x|)``, with C99's special cases by selects. float32 arguments: in float64
    (relative error far below float32's); float64 (``accurate``): ``log`` and the product in
    double-double (``_exp_y_log``)."""
    b = e.b
    ax = e.intrinsic("fabs", x)
    if accurate:
        out = _exp_y_log(e, ax, y)
    else:
        out = _call(e, "exp", b.fmul(y, _call(e, "log", ax)))
    integer = e.eq(e.intrinsic("floor", y), y)
    half = b.fmul(y, e.c(0.5))
    odd = b.and_(integer, b.fcmp_unordered("!=", e.intrinsic("floor", half), half))
    x_negative = b.icmp_signed("<", b.bitcast(x, e.bits), e.i(0))
    out = e.select(b.and_(x_negative, odd), b.fneg(out), out)
    negative_finite = b.and_(e.lt(x, e.c(0.0)), e.gt(x, e.c(-math.inf)))
    out = e.select(b.and_(negative_finite, b.not_(integer)), e.c(math.nan), out)
    unit = b.or_(e.eq(x, e.c(1.0)), b.and_(e.eq(ax, e.c(1.0)),
                                           e.eq(e.intrinsic("fabs", y), e.c(math.inf))))
    return e.select(b.or_(unit, e.eq(y, e.c(0.0))), e.c(1.0), out)


def _two_sum(e, a, c):
    """``(s, err)`` with ``s + err = a + c`` exactly."""
    b = e.b
    total = b.fadd(a, c)
    cc = b.fsub(total, a)
    return total, b.fadd(b.fsub(a, b.fsub(total, cc)), b.fsub(c, cc))


_LN2_HI = math.ldexp(round(math.ldexp(_LN2[0], 42)), -42)  # 42 bits: k * _LN2_HI is exact
_LN2_LO = _LN2[0] - _LN2_HI + _LN2[1]
_TWO_THIRDS_LO = float(Fraction(2, 3) - Fraction(2 / 3))


def _log_dd(e, x):
    """``log x = hi + lo`` to about 2**-100 absolute plus 2**-62 relative, for finite
    ``x > 0``: ``k*ln2 + 2*atanh(s)``, ``s = f/(2+f)`` in two doubles (``2+f`` and the
    quotient's residual exact by fma), the series' ``2/3 s**3`` term in two doubles too (it
    reaches 1% of the result), the rest (below 2e-4 of it) in float64."""
    b = e.b
    kf, f = _log_reduce(e, x)
    u = b.fadd(e.c(2.0), f)
    u_lo = b.fsub(f, b.fsub(u, e.c(2.0)))  # exact: |f| < 2
    s = b.fdiv(f, u)
    s_lo = b.fdiv(b.fsub(e.fma(b.fneg(s), u, f), b.fmul(s, u_lo)), u)
    z = b.fmul(s, s)
    z_lo = e.fma(s, s, b.fneg(z))
    s3 = b.fmul(z, s)
    s3_lo = b.fadd(e.fma(z, s, b.fneg(s3)),
                   b.fadd(b.fmul(z_lo, s), b.fmul(b.fmul(e.c(3.0), z), s_lo)))
    cube = b.fmul(s3, e.c(2.0 / 3.0))
    cube_lo = e.fma(s3, e.c(2.0 / 3.0), b.fneg(cube))
    cube_lo = b.fadd(cube_lo, b.fmul(s3_lo, e.c(2.0 / 3.0)))
    cube_lo = e.fma(s3, e.c(_TWO_THIRDS_LO), cube_lo)
    rest = b.fmul(b.fmul(s3, z), e.poly(z, [2.0 / (2 * k + 1) for k in range(2, 14)]))
    # k*ln2_hi + 2s + 2/3 s**3: exact sums; the small parts added up in float64
    hi, err = _two_sum(e, b.fmul(kf, e.c(_LN2_HI)), b.fmul(e.c(2.0), s))
    hi, err2 = _two_sum(e, hi, cube)
    lo = b.fadd(b.fadd(err, err2), b.fadd(e.fma(kf, e.c(_LN2_LO), b.fmul(e.c(2.0), s_lo)),
                                          b.fadd(cube_lo, rest)))
    return _two_sum(e, hi, lo)


def _exp_y_log(e, ax, y):
    """float64 ``|x|**y = exp(y*log|x|)``: ``log`` and the product in two doubles,
    ``exp(hi + lo)`` with ``lo`` added to exp's reduced argument; infinities and NaN pass
    through the high parts."""
    b = e.b
    finite_x = b.and_(e.gt(ax, e.c(0.0)), e.lt(ax, e.c(math.inf)))
    log_hi, log_lo = _log_dd(e, e.select(finite_x, ax, e.c(1.0)))
    log_hi = e.select(finite_x, log_hi, _call(e, "log", ax))
    log_lo = e.select(finite_x, log_lo, e.c(0.0))
    p = b.fmul(y, log_hi)
    p_lo = b.fadd(e.fma(y, log_hi, b.fneg(p)), b.fmul(y, log_lo))
    p_lo = e.select(e.lt(e.intrinsic("fabs", p), e.c(800.0)), p_lo, e.c(0.0))  # inf, NaN
    return _exp(e, p, p_lo)


def _erfc_scaled_fit():
    """Power coefficients in ``t = (x - 2.25) / 1.75`` of ``erfc(x) * exp(x*x)`` on
    [0.5, 4] (a Chebyshev least-squares fit; relative error below 1e-11)."""
    nodes = np.cos(np.pi * (np.arange(200) + 0.5) / 200)
    xs = 2.25 + 1.75 * nodes
    values = [math.erfc(v) * math.exp(v * v) for v in xs]
    cheb = np.polynomial.chebyshev.chebfit(nodes, values, 22)
    return list(np.polynomial.chebyshev.cheb2poly(cheb))


_ERFC_FIT = _erfc_scaled_fit()


def _erf(e, x):
    """float32 only (evaluated in float64): the Taylor series below 0.5, else
    ``1 - exp(-x*x) * fit(x)``; 1 above 4 (float32's erf rounds to 1 there)."""
    b = e.b
    ax = _no_nan(e, _clamp(e, e.intrinsic("fabs", x), 0.0, 4.0))
    z = b.fmul(ax, ax)
    taylor = [(-1) ** k * 2 / math.sqrt(math.pi) / (math.factorial(k) * (2 * k + 1))
              for k in range(12)]
    small = b.fmul(x, e.poly(z, taylor))
    t = b.fmul(b.fsub(ax, e.c(2.25)), e.c(1 / 1.75))
    tail = b.fsub(e.c(1.0), b.fmul(_call(e, "exp", b.fneg(z)), e.poly(t, _ERFC_FIT)))
    out = e.select(e.lt(ax, e.c(0.5)), small, e.intrinsic("copysign", tail, x))
    return e.select(e.isnan(x), x, out)


# erfc(x) * exp(x*x) as polynomials in t = (x - 2) on [1, 3] and t = (x - 4.5) / 1.5 on [3, 6],
# degree 20: Chebyshev interpolants computed in 150-bit arithmetic (mpmath's chebyfit, at
# fitting time only), truncation error below 2e-18, 2e-16 relative evaluated in float64.
_ERFC_SCALED_F64 = (
    (0.25539567631050575, -0.10679646185348957, 0.04180275260352654, -0.015460637764292899,
     0.0054407385374726875, -0.0018316642756976823, 0.000592469995322701,
     -0.00018477836756841212, 5.572831533966739e-05, -1.6293717067101197e-05,
     4.628174864564031e-06, -1.2795286873189962e-06, 3.448569413805109e-07,
     -9.072562511997276e-08, 2.333611087819345e-08, -5.893398521091131e-09,
     1.4527765170546272e-09, -3.359126377412497e-10, 7.995467612512789e-11,
     -2.546926012237769e-11, 5.783119916201868e-12),
    (0.12248480427384142, -0.03902389294640972, 0.012179532227877552, -0.0037279443941659234,
     0.0011201614260534323, -0.0003307141043979527, 9.60143346271528e-05,
     -2.7431421831294042e-05, 7.717539021887589e-06, -2.1394019967389742e-06,
     5.846992603125327e-07, -1.5762571887276165e-07, 4.1934986514687315e-08,
     -1.1012273176206117e-08, 2.8570511492547087e-09, -7.357171528471107e-10,
     1.8636935637488512e-10, -4.405936483816362e-11, 1.0945550360903806e-11,
     -3.855602478028782e-12, 9.298269402514383e-13))
_ERF_TAYLOR_F64 = [2 / math.sqrt(math.pi) * (-1) ** k / (math.factorial(k) * (2 * k + 1))
                   for k in range(19)]


def _erf64(e, x):
    """float64: ``x + x*Q(x*x)`` (the Taylor series less ``x``; 19 terms) below 1; above,
    ``1 - exp(-x*x) * F(|x|)`` with ``F`` one of two fitted polynomials, its coefficients
    selected per lane (one evaluation), and ``exp(-x*x)`` as ``exp(-hi) * (1 - lo)`` with
    ``x*x = hi + lo`` exactly (fma), since ``exp`` of the rounded square is off by up to 36
    ulp near 6. Above 6 (5.92: erf rounds to 1) the clamp gives 1. No branch."""
    b = e.b
    ax = _no_nan(e, _clamp(e, e.intrinsic("fabs", x), 0.0, 6.0))
    z = b.fmul(x, x)
    q = e.poly(z, [_ERF_TAYLOR_F64[0] - 1.0] + _ERF_TAYLOR_F64[1:])
    small = e.fma(x, q, x)
    upper = b.fcmp_ordered(">=", ax, e.c(3.0))
    t = e.fma(ax, e.select(upper, e.c(1 / 1.5), e.c(1.0)),
              e.select(upper, e.c(-3.0), e.c(-2.0)))
    low, high = _ERFC_SCALED_F64
    acc = e.select(upper, e.c(high[-1]), e.c(low[-1]))
    for cl, ch in zip(reversed(low[:-1]), reversed(high[:-1])):
        acc = e.fma(acc, t, e.select(upper, e.c(ch), e.c(cl)))
    hi = b.fmul(ax, ax)
    lo = e.fma(ax, ax, b.fneg(hi))
    erfc = b.fmul(_call(e, "exp", b.fneg(hi)), e.fma(b.fneg(acc), lo, acc))
    tail = e.intrinsic("copysign", b.fsub(e.c(1.0), erfc), x)
    out = e.select(e.lt(ax, e.c(1.0)), small, tail)
    return e.select(e.isnan(x), x, out)


def _erf_any(e, x):
    return _erf64(e, x) if e.f64 else _in_f64(_erf)(e, x)


def _pow_any(e, x, y):
    return _pow(e, x, y, accurate=True) if e.f64 else _in_f64(_pow)(e, x, y)


def _huge_to_libm(e, x, ok, fast, name):
    """``fast`` where ``ok``, else libm's ``name(x)`` behind a branch (rare: |x| > 2**30)."""
    b = e.b
    not_ok = b.and_(b.not_(ok), b.fcmp_ordered("<", e.intrinsic("fabs", x), e.c(math.inf)))
    before = b.block
    with b.if_then(not_ok, likely=False):
        slow = call_function(e.module, b, name, e.t, [e.t], [x])
        slow_block = b.block
    phi = b.phi(e.t)
    phi.add_incoming(fast, before)
    phi.add_incoming(slow, slow_block)
    return phi


def _global_table(module, name, values):
    glob = module.globals.get(name)
    if glob is None:
        typ = ir.ArrayType(F64, len(values))
        glob = ir.GlobalVariable(module, typ, name)
        glob.global_constant, glob.linkage = True, "internal"
        glob.initializer = ir.Constant(typ, values)
        glob.align = 64
    return glob


_FUNCTIONS = {"exp": _exp, "exp2": _exp2, "expm1": _expm1, "log": _log, "log1p": _log1p,
              "tanh": _tanh, "logistic": _logistic, "sin": _trig("sin"),
              "cos": _trig("cos"), "tan": _trig("tan"), "atan": _in_f64(_atan),
              "atan2": _in_f64(_atan2), "cbrt": _in_f64(_cbrt), "pow": _pow_any,
              "erf": _erf_any}
NAMES = tuple(_FUNCTIONS)


def call_function(module, b, name, ret, arg_types, args, pure=True):
    """Calls ``name``, declaring it in ``module`` on first use (``readnone`` if ``pure``)."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, arg_types), name)
        fn.attributes.add("nounwind")
        if pure:
            fn.attributes.add("readnone")
    return b.call(fn, args)


def supports(name, typ):
    """Whether ``name`` has an inlined form for the float type ``typ`` (float32 and float64
    alike)."""
    return name in _FUNCTIONS


# float32 sin/cos/tan: a table reduction is exact for every argument but needs gathers,
# which cost 3x the rest; so the scalar function (table reduction) is not inlined and names
# vector variants (LLVM's vector-function ABI) that the loop vectoriser calls instead, one
# call per vector: Cody-Waite for every lane (sin/cos in float32, ``_sincos_f32``; tan in
# float64), and the scalar function for the
# lanes of a vector only when one of them is above _CW_LIMIT (rare: a branch per vector).
# float64 the same way: there the scalar body's rare libm branch (|x| > 2**30) would keep
# the whole loop scalar.
_VECTOR_VARIANTS = {(name, typ): (8, 16) if typ == F32 else (4, 8)
                    for name in ("sin", "cos", "tan") for typ in (F32, F64)}
_CW_LIMIT = {F32: 2.0 ** 20, F64: 2.0 ** 30}


def _vector_variant(module, name, symbol, scalar_fn, lanes):
    """``symbol.v<lanes>``: the ``lanes``-wide version of ``scalar_fn``."""
    typ = scalar_fn.function_type.return_type
    vt = ir.VectorType(typ, lanes)
    fn = ir.Function(module, ir.FunctionType(vt, [vt]), f"{symbol}.v{lanes}")
    for attr in ("nounwind", "readnone", "alwaysinline"):  # inlined after vectorising
        fn.attributes.add(attr)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    e = _Emitter(module, b, typ, lanes)
    x = fn.args[0]
    fast = _FUNCTIONS[name](e, x)
    large = b.fcmp_ordered(">", e.intrinsic("fabs", x), e.c(_CW_LIMIT[typ]))
    any_large = b.icmp_unsigned("!=", b.bitcast(large, ir.IntType(lanes)),
                                ir.Constant(ir.IntType(lanes), 0))
    with b.if_else(any_large) as (rare, usual):
        with rare:
            slow = fast
            for k in range(lanes):
                lane = ir.Constant(ir.IntType(32), k)
                slow = b.insert_element(slow, b.call(scalar_fn, [b.extract_element(x, lane)]),
                                        lane)
            rare_block = b.block
        with usual:
            usual_block = b.block
    out = b.phi(vt)
    out.add_incoming(slow, rare_block)
    out.add_incoming(fast, usual_block)
    b.ret(out)
    return fn


def _define(module, name, typ, arity=1):
    symbol = f"fj.{name}.{'f64' if typ == F64 else 'f32'}"
    fn = module.globals.get(symbol)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(typ, [typ] * arity), symbol)
        fn.linkage = "internal"
        variants = _VECTOR_VARIANTS.get((name, typ), ())
        for attr in ("noinline" if variants else "alwaysinline", "nounwind", "readnone"):
            fn.attributes.add(attr)
        if variants:  # a string attribute: llvmlite's checked set knows only keywords
            mangled = ",".join(f"_ZGV_LLVM_N{n}v_{symbol}({symbol}.v{n})" for n in variants)
            set.add(fn.attributes, f'"vector-function-abi-variant"="{mangled}"')
        body = fn
        if variants:  # the vector variants call the body: a call to ``fn`` there would be
            # turned back into a call of the variant (SLP vectoriser), an endless loop
            body = ir.Function(module, fn.function_type, symbol + ".body")
            body.linkage = "internal"
            for attr in ("nounwind", "readnone"):
                body.attributes.add(attr)
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            b.ret(b.call(body, list(fn.args)))
        b = ir.IRBuilder(body.append_basic_block("entry"))
        b.ret(_FUNCTIONS[name](_Emitter(module, b, typ), *body.args))
        for lanes in variants:
            _vector_variant(module, name, symbol, body, lanes)
    return fn


def _call(e, name, x):
    return e.b.call(_define(e.module, name, e.t), [x])


def emit(b, name, *xs):
    """``name(*xs)`` for float or double arguments (a call LLVM inlines)."""
    if (name, xs[0].type) in _VECTOR_VARIANTS:
        # the vectorised loop spills zmm registers around calls (the variants', before they
        # were inlined after vectorising; the scalar body's for lanes above the limit):
        # unaligned 64-byte spill slots (the stack is only 16-byte aligned) ran sin 1.4-2x
        # slower in some processes than in others (0.39 / 0.54 / 0.76 ms per 1e6)
        set.add(b.function.attributes, '"stackrealign"')
    return b.call(_define(b.module, name, xs[0].type, len(xs)), list(xs))
