"""Each control-flow construct as a differentiable function of one float vector, next to the
same computation written with Python control flow (the *unrolled* reference).

``reverse`` says whether reverse mode must work (a while loop with a run-time trip count
cannot be reverse-differentiated, as in JAX).
"""

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax


def at(x, i):
    """``x[i]`` for a static ``i``, without relying on numpy-style indexing."""
    return lax.squeeze(lax.slice(x, (i,), (i + 1,)), (0,))


class Case:
    def __init__(self, name, fun, unrolled, reverse=True, points=None):
        self.name, self.fun, self.unrolled, self.reverse = name, fun, unrolled, reverse
        self.points = points or [np.array([0.3, -0.2, 0.5], np.float32),
                                 np.array([-0.4, -0.1, 0.2], np.float32)]

    def __repr__(self):
        return self.name


def _cond(x):
    return lax.cond(jnp.sum(x) > 0, lambda x: jnp.sin(x) * x, lambda x: jnp.cos(x) + x, x)


def _cond_unrolled(x):
    return jnp.sin(x) * x if jnp.sum(x) > 0 else jnp.cos(x) + x


_BRANCHES = [lambda x, w: x * w, lambda x, w: jnp.sin(x) + w, lambda x, w: jnp.exp(x) * w]


def _switch(x):
    w = at(x, 0) * 2.0
    return lax.switch(jnp.argmax(x), _BRANCHES, x, w)


def _switch_unrolled(x):
    return _BRANCHES[int(jnp.argmax(x))](x, at(x, 0) * 2.0)


def _while(x):
    # The trip count depends on an integer carry only, so it is the same for every tangent.
    def body(s):
        i, v = s
        return i + 1, jnp.sin(v) * x + v
    return lax.while_loop(lambda s: s[0] < 3, body, (0, x))[1]


def _while_unrolled(x):
    v = x
    for _ in range(3):
        v = jnp.sin(v) * x + v
    return v


def _fori(x):
    return lax.fori_loop(0, 4, lambda i, v: jnp.sin(v) * x + v * i, x)


def _fori_unrolled(x):
    v = x
    for i in range(4):
        v = jnp.sin(v) * x + v * i
    return v


def _fori_traced_bounds(x):
    n = jnp.argmax(x) + 2   # a traced trip count: a while loop
    return lax.fori_loop(0, n, lambda i, v: jnp.sin(v) * x + v, x)


def _fori_traced_unrolled(x):
    v = x
    for _ in range(int(jnp.argmax(x)) + 2):
        v = jnp.sin(v) * x + v
    return v


def _scan(x, reverse=False):
    def step(c, xi):
        c = jnp.sin(c) * xi + c * at(x, 1)
        return c, c * xi
    carry, ys = lax.scan(step, at(x, 0), x * 2.0, reverse=reverse)
    return ys * carry


def _scan_unrolled(x, reverse=False):
    c, ys = at(x, 0), [None] * 3
    for i in (reversed(range(3)) if reverse else range(3)):
        xi = at(x, i) * 2.0
        c = jnp.sin(c) * xi + c * at(x, 1)
        ys[i] = c * xi
    return jnp.stack(ys) * c


def _map(x):
    return lax.map(lambda xi: jnp.sin(xi) * at(x, 0), x)


def _map_unrolled(x):
    return jnp.stack([jnp.sin(at(x, i)) * at(x, 0) for i in range(3)])


CASES = [
    Case("cond", _cond, _cond_unrolled),
    Case("switch", _switch, _switch_unrolled,
         points=[np.array([0.3, -0.2, 0.5], np.float32), np.array([0.6, 0.1, 0.2], np.float32),
                 np.array([-0.1, 0.4, 0.2], np.float32)]),
    Case("while_loop", _while, _while_unrolled, reverse=False),
    Case("fori_loop", _fori, _fori_unrolled),
    Case("fori_loop_traced_bounds", _fori_traced_bounds, _fori_traced_unrolled, reverse=False),
    Case("scan", _scan, _scan_unrolled),
    Case("scan_reverse", lambda x: _scan(x, True), lambda x: _scan_unrolled(x, True)),
    Case("map", _map, _map_unrolled),
]
REVERSE_CASES = [c for c in CASES if c.reverse]
FORWARD_ONLY_CASES = [c for c in CASES if not c.reverse]
