"""Global configuration flags, set with ``funcjax.config.update(name, value)`` as in JAX."""

import contextlib
import os
import threading

_DEFAULTS = {
    "jax_enable_x64": os.environ.get("JAX_ENABLE_X64", "").lower() in ("1", "true"),
    "jax_disable_jit": False,
    "jax_log_compiles": False,
    "jax_debug_nans": False,
    "jax_compilation_cache_dir": None,
    "jax_explain_cache_misses": False,
    # which gemm compiled code calls: "auto", "numpy", "funcjax" (float32 on funcjax's own
    # kernel, backend/llvm/sgemm.py) or an OpenBLAS core name ("Haswell"...) for a private
    # instance with that kernel (backend/llvm/blas_kernel.py)
    "funcjax_blas_kernel": os.environ.get("FUNCJAX_BLAS_KERNEL", "auto"),
    "jax_num_cpu_devices": None,
    # threads compiled code may use (BLAS calls); None leaves OpenBLAS at its own default
    "funcjax_num_threads": None,
    # bytes of freed large jit outputs kept for the next output of their size (output_pool)
    "funcjax_output_pool_bytes": 256 << 20,
}


class Config:
    """Holds the flags; reading one is an attribute access (``config.jax_enable_x64``)."""

    def __init__(self):
        self._values = dict(_DEFAULTS)
        self._lock = threading.Lock()
        self._listeners = []
        self._publish()

    def _publish(self):
        # Flags are mirrored as plain attributes: hot paths (dtype canonicalisation, the
        # type-rule cache) read them per primitive, and __getattr__ would cost more.
        self.__dict__.update(self._values)

    def update(self, name, value):
        if name not in self._values:
            known = ", ".join(sorted(self._values))
            raise AttributeError(f"config.update: unknown flag {name!r}; known flags: {known}")
        with self._lock:
            previous, self._values[name] = self._values[name], value
            self._publish()
        try:
            for listener in self._listeners:
                listener(name, value)
        except Exception:
            self._values[name] = previous  # a listener refused the value: keep the old one
            self._publish()
            raise

    def on_update(self, listener):
        """Registers ``listener(name, value)``, called after every update (caches use it); a
        listener that raises refuses the new value."""
        self._listeners.append(listener)

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"config has no flag {name!r}") from None

    def read(self, name):
        return self._values[name]


config = Config()


@contextlib.contextmanager
def _override(name, value):
    previous = config.read(name)
    config.update(name, value)
    try:
        yield
    finally:
        config.update(name, previous)


def disable_jit(disable=True):
    """Runs jitted functions eagerly (op by op) inside the ``with`` block, for debugging."""
    return _override("jax_disable_jit", disable)


def enable_x64(enabled=True):
    """64-bit types inside the ``with`` block (JAX's ``experimental.enable_x64``)."""
    return _override("jax_enable_x64", enabled)


def debug_nans(enabled=True):
    """Checks jitted outputs for NaNs inside the ``with`` block (JAX's ``jax.debug_nans``)."""
    return _override("jax_debug_nans", enabled)


def log_compiles(enabled=True):
    """Logs every trace and compilation inside the ``with`` block."""
    return _override("jax_log_compiles", enabled)


def explain_cache_misses(enabled=True):
    """Logs why a jitted function traced again, inside the ``with`` block."""
    return _override("jax_explain_cache_misses", enabled)
