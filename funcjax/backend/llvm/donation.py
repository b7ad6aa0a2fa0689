"""Donated arguments (``jit(f, donate_argnums=...)``): outputs written into the memory of
inputs the caller gave up, so that a step like ``params = step(params, x)`` allocates nothing.

At lowering, each donated input is paired with an output of its shape and dtype (first an
output that *is* that input, which then costs nothing; then outputs in order). A donation no
output can use is reported with a warning, as JAX does, and that argument stays alive.

At a call, each paired argument that is an ``Array`` is deleted (any later use raises) and its
buffer becomes the output, if the buffer is private: a C-contiguous view covering all of
memory that only it references, with no other reference to the view itself (no other
argument, Array or numpy view can see it; CPython reference counts tell, compared with counts
measured once on a buffer known to be private). Anything else (numpy arguments, Python
scalars, an Array passed twice or sharing memory with a view) is copied first, so native code
never overwrites memory anyone else can see.
"""

import sys
import warnings

import numpy as np

from funcjax.core.array import Array
from funcjax.core.source_info import user_stacklevel


def pair_donations(closed, donated):
    """``(aliases, unusable)``: pairs ``(output k, input i)`` and the donated inputs no output
    can use. ``donated`` lists input indices."""
    jaxpr, free, aliases = closed.jaxpr, list(donated), []
    for k, v in enumerate(jaxpr.outvars):  # an output that is the donated input itself
        same = [i for i in free if v is jaxpr.invars[i]]
        if same:
            aliases.append((k, same[0]))
            free.remove(same[0])
    paired = {k for k, _ in aliases}
    for k, out in enumerate(closed.out_avals):
        fits = [i for i in free if (closed.in_avals[i].shape, closed.in_avals[i].dtype)
                == (out.shape, out.dtype)]
        if fits and k not in paired:
            aliases.append((k, fits[0]))
            free.remove(fits[0])
    return tuple(sorted(aliases)), free


def warn_unusable(name, closed, unusable, arg_names):
    if unusable:
        what = ", ".join(f"'{arg_names.get(i, i)}' ({closed.in_avals[i].str_short()})"
                         for i in unusable)
        warnings.warn(f"jit({name}): Some donated buffers were not usable: {what}. No output "
                      "has the shape and dtype of these arguments, so they are not deleted and "
                      "their memory is not reused; don't donate them.", UserWarning,
                      stacklevel=user_stacklevel())


def _reference_counts(buf):
    """References to ``buf`` and to the array owning its memory (CPython)."""
    return sys.getrefcount(buf), sys.getrefcount(buf.base)


def _counts_of_a_private_buffer():
    buf = np.empty(1).view()  # only this local sees the view, only the view sees the memory
    return _reference_counts(buf)


_PRIVATE = _counts_of_a_private_buffer()


def _covers_writable_memory(buf):
    # A contiguous view as large as the memory it views starts where that memory starts (no
    # data-pointer comparison: each ``__array_interface__`` costs microseconds per call)
    base = buf.base
    return (type(base) is np.ndarray and base.base is None and base.flags.owndata
            and base.flags.writeable and buf.flags.c_contiguous and buf.nbytes == base.nbytes)


def take_donated(name, args, arrays, aliases):
    """Deletes the donated Arrays among ``args`` and replaces each paired ``arrays[i]`` by
    memory the native code may overwrite: the donated buffer itself if private, else a copy."""
    why = (f"it was donated to jit({name}) via donate_argnums. Don't use an array after "
           "donating it, or don't donate it")
    for _, i in aliases:
        if isinstance(args[i], Array):
            args[i]._delete(why)
    for _, i in aliases:
        buf, arrays[i] = arrays[i], None  # the list's reference would count as sharing
        if _covers_writable_memory(buf) and _reference_counts(buf) == _PRIVATE:
            buf.flags.writeable = True
        else:
            buf = np.array(buf)
        arrays[i] = buf
