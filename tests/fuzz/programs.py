"""Random programs over the primitive catalogue, generated as Python source from a seed.

A program is the text of ``def f(...)``: straight-line steps over a pool of values, each step an
elementwise, reduction, shape, indexing, contraction or control-flow operation applied to
earlier values; inputs and outputs are pytrees. Being text, a failing program is printed as it
is and reruns anywhere. Three modes decide dtypes and inputs:

- ``grad``: float64 (x64), smooth random inputs; also checked for derivatives.
- ``values``/``values64``: float32/float64 with special values (NaN, infinities, -0, huge,
  tiny) among the inputs.
- ``int``/``int64``: int32/int64 with edge values (0, -1, extremes); wrapping arithmetic.
"""

import numpy as np

MODES = ("grad", "grad", "values", "values64", "int", "int64")
X64_MODES = ("grad", "values64", "int64")  # run with jax_enable_x64

# Float elementwise operations on one value ({a}); the result has its shape.
F_UNARY = [
    "jnp.sin({a})", "jnp.cos({a})", "jnp.tanh({a})", "jnp.exp(jnp.tanh({a}))", "jnp.exp({a})",
    "jnp.log(jnp.abs({a}) + 0.5)", "jnp.sqrt(jnp.abs({a}) + 0.1)", "jnp.abs({a})", "-{a}",
    "{a} * {a}", "{a} ** 2", "jnp.square({a})", "lax.logistic({a})", "jnp.arctan({a})",
    "jnp.sinh(jnp.tanh({a}))", "jnp.expm1({a})", "jnp.log1p(jnp.abs({a}))", "jnp.floor({a})",
    "jnp.round({a})", "jnp.sign({a})", "jnp.clip({a}, -0.5, 0.7)",
    "jnp.where({a} > 0.1, {a}, 0.3 * {a})", "lax.integer_pow({a}, 3)", "1.0 / (1.0 + {a} * {a})",
    "jnp.maximum({a}, 0.0)", "lax.rsqrt({a} * {a} + 1.0)", "jnp.cbrt({a})", "lax.erf({a})",
    "jnp.arcsinh({a})", "jnp.cosh(jnp.tanh({a}))", "{a} * 2.5 - 1.0", "jnp.float_power({a}, 2)",
    "jnp.tan(jnp.tanh({a}))", "jnp.heaviside({a}, 0.5) * {a}", "jnp.nan_to_num({a})",
    "jnp.fmod({a}, 1.5)",
]
# Only where values need not be differentiable (rounding through float16, NaN tests, ranks).
F_VALUES_ONLY = [
    "{a}.astype(jnp.float16).astype({a}.dtype)", "jnp.where(jnp.isnan({a}), 1.0, {a})",
    "jnp.isfinite({a}) * 1.0", "jnp.argsort({a}, axis=-1).astype({a}.dtype)",
    "jnp.nextafter({a}, 0.0)", "jnp.signbit({a}) * 2.0", "jnp.rint({a})",
    "jnp.clip({a}, -3e38, 3e38) * 1e-3",
]
F_BINARY = [
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / (1.0 + {b} * {b})", "jnp.maximum({a}, {b})",
    "jnp.minimum({a}, {b})", "jnp.arctan2({a}, {b} + 2.0)", "jnp.power(jnp.abs({a}) + 0.5, {b})",
    "jnp.where({a} > {b}, {a}, {b} * 0.5)", "jnp.hypot({a}, {b})", "jnp.logaddexp({a}, {b})",
    "jnp.copysign({a}, {b})", "jnp.where({b} < 0.2, {a}, jnp.sin({b}))",
    "jnp.fmax({a}, {b})", "{a} * jnp.tanh({b})",
]
I_UNARY = [
    "-{a}", "jnp.abs({a})", "{a} * {a}", "{a} // 3", "{a} % 5",
    "lax.shift_right_arithmetic({a}, 2)",
    "lax.shift_left({a}, 3)", "lax.shift_right_logical({a}, 1)", "~{a}", "{a} + 7",
    "jnp.sign({a})", "jnp.where({a} > 2, {a}, -{a})", "jnp.clip({a}, -9, 1000)",
    "jnp.maximum({a}, 0)", "lax.integer_pow({a}, 2)", "({a} > 0).astype({a}.dtype)",
    "jnp.right_shift({a}, 33)", "jnp.where(({a} > 3) ^ ({a} < -2), {a}, 1)",
    "jnp.argsort({a}, axis=-1).astype({a}.dtype)", "{a}.astype(jnp.int8).astype({a}.dtype)",
    "({a} // 2) * 2",
]
I_BINARY = [
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "jnp.maximum({a}, {b})", "jnp.minimum({a}, {b})",
    "{a} & {b}", "{a} | {b}", "{a} ^ {b}", "jnp.where({a} < {b}, {a}, {b})",
    "{a} // ({b} % 7 + 8)", "jnp.remainder({a}, jnp.abs({b}) % 9 + 1)",
    "jnp.left_shift({a}, {b} % 40)", "jnp.right_shift({a}, {b})",
]
# Special values for the ``values`` and ``int`` modes.
F_SPECIAL = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-40, 1e-30, 88.8,
             -104.0, 1e5, 0.5, 2.5, -2.5]
I_SPECIAL = [0, 1, -1, 2, 31, 32, 33, 2**31 - 1, -2**31, -2**31 + 1, 127, 255, 65535]


def broadcasts(s, t):
    """The broadcast shape of ``s`` and ``t``, or None."""
    try:
        return np.broadcast_shapes(s, t)
    except ValueError:
        return None


class Gen:
    """Builds one program from a seed; ``source`` and ``make_inputs`` describe it."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.mode = MODES[self.rng.integers(len(MODES))]
        self.lines = []
        self.pool = []  # (name, shape)
        self.counter = 0
        m, n = (int(v) for v in self.rng.integers(1, 5, 2))
        if self.mode != "grad" and self.rng.random() < 0.04:
            m = 0
        self.m, self.n = m, n

    # -- helpers -------------------------------------------------------------------------------
    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def new(self, expr, shape):
        name = f"v{self.counter}"
        self.counter += 1
        self.lines.append(f"{name} = {expr}")
        self.pool.append((name, tuple(shape)))
        return name, tuple(shape)

    def pick(self, pred=lambda s: True, recent=True):
        cands = [v for v in self.pool if pred(v[1])]
        if not cands:
            return None
        if recent and self.rng.random() < 0.6:
            return cands[-1]
        return self.choice(cands)

    @property
    def integer(self):
        return self.mode in ("int", "int64")

    def unary(self, a):
        table = I_UNARY if self.integer else F_UNARY + (
            F_VALUES_ONLY if self.mode in ("values", "values64") else [])
        return self.choice(table).format(a=a)

    # -- steps ---------------------------------------------------------------------------------
    def step(self):
        kinds = ["unary"] * 5 + ["binary"] * 5 + ["reduce", "cumulative", "shape", "shape",
                                                  "index", "index", "dot", "control", "control"]
        kind = self.choice(kinds)
        getattr(self, "_" + kind)()

    def _unary(self):
        a, s = self.pick()
        self.new(self.unary(a), s)

    def _binary(self):
        a, s = self.pick()

        b, t = self.pick(lambda t: broadcasts(s, t) in (s, t), recent=False)
        tmpl = self.choice(I_BINARY if self.integer else F_BINARY)
        if self.rng.random() < 0.5:
            a, s, b, t = b, t, a, s
        self.new(tmpl.format(a=a, b=b), np.broadcast_shapes(s, t))

    def _reduce(self):
        a, s = self.pick()
        ops = ["jnp.sum", "jnp.max", "jnp.min", "jnp.prod"] + ([] if self.integer else ["jnp.mean"])
        op = self.choice(ops)
        if 0 in s and op in ("jnp.max", "jnp.min"):
            op = "jnp.sum"
        if not s or self.rng.random() < 0.3:
            self.new(f"{op}({a})", ())
            return
        axis = int(self.rng.integers(len(s)))
        if self.rng.random() < 0.5:
            self.new(f"{op}({a}, axis={axis}, keepdims=True)",
                     s[:axis] + (1,) + s[axis + 1:])
        else:
            self.new(f"{op}({a}, axis={axis})", s[:axis] + s[axis + 1:])

    def _cumulative(self):
        a, s = self.pick(lambda s: len(s) >= 1) or self.pick()
        if not s:
            self.new(self.unary(a), s)
            return
        axis = int(self.rng.integers(len(s)))
        op = self.choice(["jnp.cumsum({a}, axis={k})", "jnp.cumprod({a}, axis={k})",
                          "lax.cummax({a}, {k})", "lax.cummin({a}, {k}, reverse=True)",
                          "jnp.sort({a}, axis={k})", "jnp.flip({a}, {k})",
                          "jnp.roll({a}, 1, axis={k})"])
        self.new(op.format(a=a, k=axis), s)

    def _shape(self):
        a, s = self.pick()
        r = self.rng.random()
        size = int(np.prod(s))
        if len(s) == 2 and r < 0.2:
            self.new(f"{a}.T", s[::-1])
        elif r < 0.35:
            self.new(f"jnp.reshape({a}, ({size},))", (size,))
        elif r < 0.5 and len(s) <= 1:
            target = (self.m,) + ((s[0],) if s else (self.n,))
            if s and s[0] not in (1, self.n):
                target = (self.m,) + s
            self.new(f"jnp.broadcast_to({a}, {target})", target)
        elif r < 0.6 and s and s[0] >= 2:
            self.new(f"{a}[1:]", (s[0] - 1,) + s[1:])
        elif r < 0.7 and s:
            self.new(f"{a}[::-1]", s)
        elif r < 0.8:
            self.new(f"jnp.expand_dims({a}, 0)", (1,) + s)
        elif r < 0.9 and s:
            pad = int(self.rng.integers(0, 3))
            value = "0" if self.integer else "0.5"
            self.new(f"jnp.pad({a}, [(1, {pad})] + [(0, 0)] * {len(s) - 1}, "
                     f"constant_values={value})", (s[0] + 1 + pad,) + s[1:])
        elif s:
            b, t = self.pick(lambda t: t[1:] == s[1:] and len(t) == len(s), recent=False)
            self.new(f"jnp.concatenate([{a}, {b}], axis=0)", (s[0] + t[0],) + s[1:])
        else:
            self.new(f"jnp.stack([{a}, {a} * 2])", (2,))

    def _index(self):
        a, s = self.pick(lambda s: len(s) >= 1 and s[0] >= 1) or (None, None)
        if a is None:
            return self._unary()
        r = self.rng.random()
        k = int(self.rng.integers(-s[0], s[0]))
        if r < 0.2:
            self.new(f"{a}[{k}]", s[1:])
        elif r < 0.35:
            idx = [int(i) for i in self.rng.integers(-s[0], s[0], 3)]
            self.new(f"{a}[jnp.array({idx})]", (3,) + s[1:])
        elif r < 0.5:
            b, t = self.pick(lambda t: broadcasts(t, s[1:]) == s[1:], recent=False) or (None, None)
            if b is None:
                b = "1" if self.integer else "0.25"
            op = self.choice(["set", "add", "mul", "max"])
            self.new(f"jnp.asarray({a}).at[{k}].{op}({b})", s)
        elif r < 0.65:
            start = self.dynamic_index(s[0])
            size = int(self.rng.integers(1, s[0] + 1))
            self.new(f"lax.dynamic_slice_in_dim({a}, {start}, {size}, 0)", (size,) + s[1:])
        elif r < 0.8:
            start = self.dynamic_index(s[0])
            size = int(self.rng.integers(1, s[0] + 1))
            upd = f"jnp.sin({a}[:{size}])" if not self.integer else f"{a}[:{size}] * 3"
            self.new(f"lax.dynamic_update_slice_in_dim({a}, {upd}, {start}, 0)", s)
        elif r < 0.9:
            self.new(f"jnp.take({a}, jnp.array([2, -1, 0, 7]), axis=0, mode='clip')",
                     (4,) + s[1:])
        else:
            self.new(f"{a}[{self.dynamic_index(s[0])}]", s[1:])

    def dynamic_index(self, extent):
        """A traced index computed from data (can lie outside the axis: starts are clamped).
        ``argmax`` of an empty array is an error (as in JAX), so the data is a non-empty
        value; without one, the index is ``shift`` itself, still a traced value."""
        b, t = self.pick(lambda t: len(t) >= 1 and 0 not in t, recent=False) or (None, None)
        shift = int(self.rng.integers(-2, 3))
        if b is None:
            return f"jnp.asarray({shift})"
        return f"(jnp.argmax({b}.reshape(-1)) + {shift})"

    def _dot(self):
        a, s = self.pick(lambda s: len(s) == 2) or self.pick(lambda s: len(s) == 1) or (None, None)
        if a is None:
            return self._binary()
        if len(s) == 1:
            b, t = self.pick(lambda t: t == s, recent=False)
            self.new(f"jnp.dot({a}, {b})", ())
            return
        r = self.rng.random()
        if r < 0.4:
            b, t = self.pick(lambda t: len(t) == 2 and t[1] == s[1], recent=False)
            self.new(f"{a} @ {b}.T", (s[0], t[0]))
        elif r < 0.7:
            b, t = self.pick(lambda t: t == s, recent=False)
            self.new(f"jnp.einsum('ij,ij->i', {a}, {b})", (s[0],))
        else:
            b, t = self.pick(lambda t: len(t) == 2 and t[0] == s[0], recent=False)
            self.new(f"jnp.einsum('ij,ik->jk', {a}, {b})", (s[1], t[1]))

    def _control(self):
        a, s = self.pick()
        r = self.rng.random()
        body = self.unary("u")
        pred = f"jnp.sum({a}) > 0" if not self.integer else f"jnp.sum({a}) % 2 == 0"
        if r < 0.3:
            other = self.unary("u")
            self.new(f"lax.cond({pred}, lambda u: {body}, lambda u: {other}, {a})", s)
        elif r < 0.5:
            b, t = self.pick(lambda t: t == s, recent=False)
            self.new(f"lax.switch(jnp.argmax(jnp.array([1, 0, 2]) * ({pred})), "
                     f"[lambda u, w: {body}, lambda u, w: u + w, lambda u, w: u * w], {a}, {b})",
                     s)
        elif r < 0.7:
            trips = int(self.rng.integers(0, 4))
            scale = "" if self.integer else " * 0.5"
            self.new(f"lax.fori_loop(0, {trips}, lambda i, u: ({body}){scale} + u * i, {a})", s)
        elif r < 0.85 and s and s[0] >= 1:
            tmpl = self.choice(["(c + r, c * r)", "(jnp.maximum(c, r), c + r)",
                                "(" + self.unary("c") + " + r, c - r)"])
            rev = bool(self.rng.integers(2))
            name, _ = self.new(f"lax.scan(lambda c, r: {tmpl}, {a}[0], {a}, reverse={rev})",
                               ())
            self.pool.pop()
            self.new(f"{name}[0]", s[1:])
            self.new(f"{name}[1]", s)
        elif self.mode != "grad":
            self.new(f"lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, "
                     f"(lambda u: {body})(c[1])), (0, {a}))[1]", s)
        else:
            self.new(f"jax.checkpoint(lambda u: {body})({a})", s)

    # -- the whole program ---------------------------------------------------------------------
    def build(self):
        shapes = [(), (self.n,), (self.m, self.n), (self.m, self.n), (self.n,), (1, self.n)]
        n_in = int(self.rng.integers(1, 4))
        ins = [(f"x{i}", shapes[int(self.rng.integers(len(shapes)))]) for i in range(n_in)]
        self.inputs = ins
        self.pool = list(ins)
        for _ in range(int(self.rng.integers(2, 9))):
            self.step()
        outs = [self.pool[-1][0]]
        if self.rng.random() < 0.5:
            outs.append(self.choice(self.pool[n_in:])[0])
        # Input structure: flat, or packed into a dict/tuple pytree.
        names = [name for name, _ in ins]
        if n_in >= 2 and self.rng.random() < 0.4:
            self.signature = "p, q"
            self.packing = "tree"
            unpack = [f"{names[0]} = p['a']"] + [f"{nm} = q[{i}]" for i, nm in
                                                 enumerate(names[1:])]
        else:
            self.signature = ", ".join(names)
            self.packing = "flat"
            unpack = []
        if len(outs) == 1:
            ret = outs[0]
        elif self.rng.random() < 0.5:
            ret = f"({outs[0]}, {outs[1]})"
        else:
            ret = f"{{'y': {outs[0]}, 'z': [{outs[1]}]}}"
        body = unpack + self.lines + [f"return {ret}"]
        self.unpack, self.ret = unpack, ret
        return f"def f({self.signature}):\n" + "".join(f"    {ln}\n" for ln in body)

    def all_values_source(self):
        """``f_all``: the same steps, returning every named value (to find the first step
        whose result differs, and tell a genuine difference from a propagated one)."""
        names = [ln.split(" = ")[0] for ln in self.lines]
        ret = "{" + ", ".join(f"'{n}': {n}" for n in names) + "}"
        body = self.unpack + self.lines + [f"return {ret}"]
        return f"def f_all({self.signature}):\n" + "".join(f"    {ln}\n" for ln in body)

    def input_env(self, args):
        """The input names bound to the values of ``args`` (as ``f`` unpacks them)."""
        flat = [args[0]["a"], *args[1]] if self.packing == "tree" else list(args)
        return {name: value for (name, _), value in zip(self.inputs, flat)}

    def make_inputs(self, rng=None):
        """One set of arguments for ``f`` (as numpy arrays) in this program's mode."""
        rng = rng or self.rng
        vals = []
        for _, shape in self.inputs:
            if self.mode == "grad":
                v = rng.uniform(-1.5, 1.5, shape)
            elif self.mode in ("values", "values64"):
                wide = self.mode == "values64"
                dtype = np.float64 if wide else np.float32
                special = F_SPECIAL + ([1e300, -1e300, 5e-324, 1e-310] if wide else [])
                v = rng.standard_normal(shape) * 2
                mask = rng.random(shape) < 0.3
                v = np.where(mask, rng.choice(special, shape), v).astype(dtype)
            else:
                wide = self.mode == "int64"
                special = I_SPECIAL + ([2**63 - 1, -2**63, 2**32, -2**32 - 1] if wide else [])
                v = rng.integers(-20, 20, shape).astype(np.int64)
                mask = rng.random(shape) < 0.3
                picks = np.array(special, np.int64)[rng.integers(len(special), size=shape)]
                v = np.where(mask, picks, v)
                v = v.astype(np.int64 if wide else np.int32)
            vals.append(np.asarray(v))
        if self.packing == "tree":
            return ({"a": vals[0]}, tuple(vals[1:]))
        return tuple(vals)


def generate(seed):
    g = Gen(seed)
    source = g.build()
    return g, source
