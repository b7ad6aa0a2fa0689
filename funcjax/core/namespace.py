"""What a public module lists: its API, not the helpers and modules its code imports.

A public module ends with ``__dir__ = public_dir(globals())``. ``dir()`` (and so tab
completion and documentation tools) then shows only its public names: no imported modules
(``np``, ``lax``) other than its own submodules, no helpers imported from funcjax's internal
modules, no names that are not identifiers. Computed on each call, so names added later are
listed without further bookkeeping.
"""

import keyword
import types

# Homes of helpers that public modules import for their own code (the core's pytree, dtype and
# array modules are the real homes of public names, so they are not on this list).
INTERNAL_MODULES = ("funcjax.api_util", "funcjax.numpy._util", "funcjax.interpreters.eval",
                    "funcjax.core.trace", "funcjax.core.namespace")


def is_public(name, value, module_name):
    if name.startswith("_") or not name.isidentifier() or keyword.iskeyword(name):
        return False
    if isinstance(value, types.ModuleType):
        return value.__name__.startswith(module_name + ".")
    origin = getattr(value, "__module__", None) or ""
    return not (isinstance(value, (types.FunctionType, type))
                and origin.startswith(INTERNAL_MODULES) and origin != module_name)


def public_dir(namespace):
    """The ``__dir__`` of the module whose globals are ``namespace``."""
    module_name = namespace["__name__"]
    keep = set(namespace.get("__all__", ()))

    def listing():
        return sorted(n for n, v in list(namespace.items())
                      if n in keep or is_public(n, v, module_name))
    return listing
