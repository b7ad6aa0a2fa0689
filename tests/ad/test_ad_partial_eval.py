"""partial_eval_jaxpr's contract, which the jit and control-flow rules rely on."""

import numpy as np

import funcjax
import funcjax.numpy as jnp
from funcjax.interpreters.eval import eval_closed_jaxpr
from funcjax.interpreters.partial_eval import partial_eval_jaxpr


def test_partial_eval_jaxpr_splits_known_and_unknown_work(x64):
    def f(x, y):
        a = jnp.sin(x) * 2.0          # known
        return a, a * y, jnp.cos(x)   # known, unknown, known (instantiated below)
    closed = funcjax.make_jaxpr(f)(1.0, 2.0)
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(closed, [False, True],
                                                               [False, False, True])
    assert out_unknowns == [False, True, True]
    assert len(known.in_avals) == 1 and len(unknown.in_avals) == num_res + 1
    assert "sin" in str(known) and "sin" not in str(unknown)
    known_outs = eval_closed_jaxpr(known, 0.5)
    outs = known_outs[:len(known_outs) - num_res]
    residuals = known_outs[len(known_outs) - num_res:]
    unknown_outs = eval_closed_jaxpr(unknown, *residuals, 3.0)
    np.testing.assert_allclose(outs[0], 2 * np.sin(0.5))
    np.testing.assert_allclose(unknown_outs[0], 6 * np.sin(0.5))
    np.testing.assert_allclose(unknown_outs[1], np.cos(0.5))
