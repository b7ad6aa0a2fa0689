"""funcjax: composable function transformations (grad, vmap, jit, ...) over a jaxpr IR."""

from funcjax import (  # noqa: F401
    ad_checkpoint,
    checkpoint_policies,
    custom_derivatives,
    debug,
    distributed,
    dtypes,
    errors,
    experimental,
    export,
    lax,
    nn,
    numpy,
    random,
    stages,
    test_util,
    tools,
    tree,
    tree_util,
    typing,
)
from funcjax import ops as _ops  # noqa: F401  (defines every primitive)
from funcjax.api import (  # noqa: F401
    ShapeDtypeStruct,
    checkpoint,
    eval_shape,
    grad,
    jacfwd,
    jacrev,
    jvp,
    linear_transpose,
    linearize,
    make_jaxpr,
    remat,
    value_and_grad,
    vjp,
    vmap,
)
from funcjax.api_ad_mode import hessian, hvp, jacobian  # noqa: F401
from funcjax.api_host import (  # noqa: F401
    clear_caches,
    copy_to_host_async,
    effects_barrier,
    host_count,
    host_id,
    host_ids,
    make_array_from_callback,
    print_environment_info,
    process_count,
    process_index,
    process_indices,
    typeof,
)
from funcjax.api_jit import jit  # noqa: F401
from funcjax.api_pmap import pmap  # noqa: F401
from funcjax.api_tracing import (  # noqa: F401
    closure_convert,
    custom_gradient,
    ensure_compile_time_eval,
    named_call,
    named_scope,
)
from funcjax.config import (  # noqa: F401
    config,
    debug_nans,
    disable_jit,
    enable_x64,
    explain_cache_misses,
    log_compiles,
)
from funcjax.core.array import Array, Device  # noqa: F401
from funcjax.core.dtypes import float0  # noqa: F401
from funcjax.core.errors import (  # noqa: F401
    ConcretizationTypeError,
    TracerArrayConversionError,
    TracerBoolConversionError,
    TracerIntegerConversionError,
    UnexpectedTracerError,
)
from funcjax.core.ir import ClosedJaxpr, Jaxpr  # noqa: F401
from funcjax.core.primitive import rule_modules as _rule_modules
from funcjax.core.pytree import tree_flatten, tree_leaves, tree_map, tree_unflatten  # noqa: F401
from funcjax.devices import (  # noqa: F401
    block_until_ready,
    default_backend,
    default_device,
    device_count,
    device_get,
    device_put,
    device_put_replicated,
    device_put_sharded,
    devices,
    local_device_count,
    local_devices,
)
from funcjax.interpreters.eval import eval_jaxpr  # noqa: F401
from funcjax.ops.callbacks import pure_callback  # noqa: F401
from funcjax.ops.custom import custom_jvp, custom_vjp  # noqa: F401

_rule_modules.append("funcjax.backend.llvm")  # its lower rules, loaded by coverage() or jit

__version__ = "0.1.0"
