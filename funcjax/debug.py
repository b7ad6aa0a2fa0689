"""``funcjax.debug``: printing, callbacks and breakpoints that work inside transformations.

They are host callbacks of kind ``"debug"`` (``funcjax.ops.callbacks``): they run when the
program runs (in compiled code too), see primal values under differentiation, run once per
example under vmap, and are never dropped as dead code. Calls in one program run in program
order, whether or not ``ordered=True`` is passed (funcjax keeps all effects in order).
"""

import inspect as _inspect
import linecache as _linecache
import sys as _sys

import numpy as _np

from funcjax.core.array import Array as _Array
from funcjax.core.namespace import public_dir
from funcjax.core.pytree import tree_flatten as _tree_flatten
from funcjax.core.pytree import tree_unflatten as _tree_unflatten
from funcjax.core.trace import Tracer as _Tracer
from funcjax.ops.callbacks import host_call as _host_call

__all__ = ["breakpoint", "callback", "print", "visualize_array_sharding"]

_print = print


def _as_array(x):
    return _Array(x) if isinstance(x, _np.ndarray) else x


def callback(callback, *args, ordered=False, **kwargs):
    """Calls ``callback(*args, **kwargs)`` on the host with concrete Arrays when the program
    runs (also under jit, vmap, grad). Its return value is ignored."""
    if not callable(callback):
        raise TypeError(f"debug.callback: the callback must be callable, got "
                        f"{type(callback).__name__}")

    def run(*a, **k):
        callback(*a, **k)

    run.__name__ = getattr(callback, "__name__", "callback")
    _host_call("debug.callback", run, None, args, kwargs, kind="debug", ordered=ordered,
              convert=_as_array)


def print(fmt, *args, ordered=False, **kwargs):  # noqa: A001 - JAX's name
    """``print(fmt.format(*args, **kwargs))`` with the values the program computes."""
    if not isinstance(fmt, str):
        raise TypeError(f"debug.print: the first argument is the format string, got "
                        f"{type(fmt).__name__}; write debug.print('{{}}', x)")

    def formatted(*a, **k):
        _print(fmt.format(*a, **k))

    formatted.__name__ = "print"
    callback(formatted, *args, ordered=ordered, **kwargs)


# -- breakpoint --------------------------------------------------------------------------------
def _array_locals(frame):
    """The caller's local variables that are (pytrees of) arrays or traced values."""
    names, trees = [], []
    for name, value in frame.f_locals.items():
        leaves, tree = _tree_flatten(value)
        if leaves and all(isinstance(x, (_Array, _Tracer, _np.ndarray)) for x in leaves):
            names.append(name)
            trees.append(value)
    return names, trees


class _Debugger:
    """A small command-line debugger over the values at a ``debug.breakpoint`` (as JAX's
    "cli" backend): ``p expr``, ``pp expr`` or a bare expression evaluate with the local
    arrays in scope; ``l`` lists the source, ``w`` says where, ``c`` or ``q`` continues."""

    def __init__(self, env, filename, lineno, stdin=None, stdout=None):
        self.env, self.filename, self.lineno = env, filename, lineno
        self.stdin, self.stdout = stdin or _sys.stdin, stdout or _sys.stdout

    def write(self, text):
        self.stdout.write(text + "\n")

    def run(self):
        self.write(f"Entering funcjax.debug.breakpoint at {self.filename}:{self.lineno}")
        while True:
            self.stdout.write("(fjdb) ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                return
            command = line.strip()
            if command in ("c", "continue", "q", "quit", "exit"):
                return
            self.do(command)

    def do(self, command):
        head, _, rest = command.partition(" ")
        if not command:
            return
        if command in ("h", "help"):
            self.write("p EXPR | pp EXPR | EXPR: evaluate; l: list source; w: where; "
                       "locals: names; c/q: continue")
        elif command in ("l", "list"):
            for n in range(max(self.lineno - 3, 1), self.lineno + 4):
                line = _linecache.getline(self.filename, n).rstrip()
                self.write(f"{'->' if n == self.lineno else '  '} {n:4d} {line}")
        elif command in ("w", "where"):
            self.write(f"{self.filename}:{self.lineno}")
        elif command == "locals":
            self.write(", ".join(sorted(self.env)))
        else:
            expr = rest if head in ("p", "pp") else command
            try:
                value = eval(expr, {"np": _np}, dict(self.env))  # noqa: S307 - a debugger
            except Exception as e:  # noqa: BLE001 - shown to the user, as pdb does
                self.write(f"*** {type(e).__name__}: {e}")
            else:
                self.write(repr(value))


def breakpoint(*, backend=None, filter_frames=True, num_frames=None, ordered=False,  # noqa: A001
               stdin=None, stdout=None):
    """Stops when the program reaches this point (eagerly or in compiled code) and opens a
    small debugger over the caller's local arrays, with their concrete values."""
    frame = _inspect.currentframe().f_back
    names, trees = _array_locals(frame)
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    leaves, tree = _tree_flatten(trees)
    del frame

    def enter(*values):
        env = dict(zip(names, _tree_unflatten(tree, list(values))))
        _Debugger(env, filename, lineno, stdin, stdout).run()

    enter.__name__ = "breakpoint"
    callback(enter, *leaves, ordered=ordered)


def _device_blocks(arr):
    """``[(device, index)]``: which part of ``arr`` each device holds, in device order."""
    sharding = arr.sharding
    if hasattr(sharding, "devices_indices_map"):
        return list(sharding.devices_indices_map(tuple(arr.shape)).items())
    rest = (slice(None),) * (arr.ndim - 1)  # pmap's layout: slice k of axis 0 on device k
    return [(d, (slice(k, k + 1),) + rest) for k, d in enumerate(sharding.devices)]


def visualize_array_sharding(arr, *, use_color=False, scale=1.0, min_width=9, max_width=80):
    """Prints which device holds which part of ``arr``: a row of boxes for a 1-D array, a
    column of boxes (one per block of rows) for higher ranks, as JAX draws them."""
    if not hasattr(arr, "sharding"):
        raise TypeError(f"visualize_array_sharding: expected a funcjax Array, got "
                        f"{type(arr).__name__}")
    if _np.ndim(arr) == 0 or _np.ndim(arr) > 2:
        raise ValueError(f"visualize_array_sharding: only 1-D and 2-D arrays can be drawn, "
                         f"got shape {_np.shape(arr)}")
    labels = [f"CPU {d.id}" for d, _ in _device_blocks(arr)]
    width = max(min_width, max(map(len, labels)) + 4)
    if _np.ndim(arr) == 1:
        cells = [label.center(width) for label in labels]
        lines = ["┌" + "┬".join("─" * width for _ in cells) + "┐",
                 "│" + "│".join(cells) + "│",
                 "└" + "┴".join("─" * width for _ in cells) + "┘"]
    else:
        bar = "─" * width
        lines = ["┌" + bar + "┐"]
        for k, label in enumerate(labels):
            lines.append("│" + label.center(width) + "│")
            lines.append(("├" if k < len(labels) - 1 else "└") + bar +
                         ("┤" if k < len(labels) - 1 else "┘"))
    _print("\n".join(lines))


__dir__ = public_dir(globals())
