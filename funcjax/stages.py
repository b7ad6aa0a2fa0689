"""``funcjax.stages``: the ahead-of-time stages of ``jit`` (``jit(f).lower(x).compile()``)."""

from funcjax.api_jit import Compiled, JitFunction, Lowered  # noqa: F401

Wrapped = JitFunction
