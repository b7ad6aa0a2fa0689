"""Call primitives: ``jit`` applies a sub-program (a closed jaxpr in its params) to its inputs.

``jit_p`` params: ``jaxpr`` (a ClosedJaxpr, normally closure-converted so that every value it
reads arrives as an input, consts empty) and ``name`` (the wrapped function's name, used for
compiled symbols, logs and errors).

Rules: ``impl`` compiles the sub-jaxpr with the LLVM backend (imported on first use, so eager
code never loads llvmlite) and runs it; ``abstract_eval`` checks the inputs against the
sub-jaxpr's types; staging needs nothing more. The composition rules (jvp, batch, partial
eval, transpose) are added in this module as those interpreters land: each one transforms
``params["jaxpr"]`` with its interpreter into a new closed jaxpr and binds ``jit_p`` again
with it, so that the transformed program is compiled as one unit. The ``lower`` rule (inline
the sub-jaxpr) is registered by ``funcjax.backend.llvm.lower_calls``.
"""

import functools

from funcjax.core.abstract import same_type
from funcjax.core.primitive import Primitive
from funcjax.interpreters.batching import batch_call

jit_p = Primitive("jit", multiple_results=True)


def _jit_impl(*args, jaxpr, name):
    from funcjax.backend.llvm import program_for
    return program_for(jaxpr, name)(*args)


def _jit_abstract_eval(*avals, jaxpr, name):
    expected = jaxpr.in_avals
    if len(avals) != len(expected) or not all(map(same_type, avals, expected)):
        got = ", ".join(a.str_short() for a in avals)
        want = ", ".join(a.str_short() for a in expected)
        raise TypeError(f"jit({name}): called with arguments ({got}) but its jaxpr takes "
                        f"({want})")
    return list(jaxpr.out_avals)


jit_p.def_impl(_jit_impl)
jit_p.def_abstract_eval(_jit_abstract_eval)
jit_p.def_batch(functools.partial(batch_call, jit_p))
