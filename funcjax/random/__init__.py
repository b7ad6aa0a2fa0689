"""``funcjax.random``: JAX's counter-based PRNG (threefry-2x32) and its samplers.

Keys are explicit values: ``PRNGKey(seed)`` gives a ``uint32[2]`` key, ``random.key(seed)`` a
typed one; ``split`` and ``fold_in`` derive new keys, and each sampler is a pure function of
its key. With the same key the numbers equal JAX's, eagerly, under ``jit`` and under ``vmap``.
"""

from funcjax.random._distributions import (  # noqa: F401
    bernoulli,
    beta,
    cauchy,
    dirichlet,
    exponential,
    gamma,
    laplace,
    loggamma,
    logistic,
    multivariate_normal,
    poisson,
    truncated_normal,
)
from funcjax.random._keys import (  # noqa: F401
    PRNGKey,
    PRNGKeyArray,
    clone,
    fold_in,
    key,
    key_data,
    key_impl,
    split,
    wrap_key_data,
)
from funcjax.random._samplers import (  # noqa: F401
    bits,
    categorical,
    choice,
    gumbel,
    normal,
    permutation,
    randint,
    uniform,
)
