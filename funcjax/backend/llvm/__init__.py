"""The LLVM backend: lowering jaxprs to LLVM IR, compiling them, running the code.

Design choice: DESIGN.md puts every rule on its primitive's card. The ``lower`` rules are
indeed stored on the cards, but they are *registered* by the modules of this package
(``prim.def_lower(...)``, one module per group of ops) instead of being defined next to each
primitive, so that importing ``funcjax`` for eager use never imports llvmlite. Importing this
package registers them all; ``funcjax.core.primitive.coverage()`` then shows them.
"""

from funcjax.backend.llvm import (  # noqa: F401  (registers the lowering rules)
    host_call,
    lower_callback,
    lower_calls,
    lower_collectives,
    lower_complex,
    lower_control_flow,
    lower_conv,
    lower_dot,
    lower_elementwise,
    lower_fft,
    lower_indexing,
    lower_linalg,
    lower_pooling,
    lower_random,
    lower_reductions,
    lower_shape,
    lower_sort,
    lower_special,
)
from funcjax.backend.llvm.program import LoweredModule, Program, program_for  # noqa: F401
