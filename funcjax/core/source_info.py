"""Where in the user's code an operation was written: recorded on staged equations and tracers."""

import os
import sys
import threading

import funcjax

_PACKAGE_DIR = os.path.dirname(os.path.abspath(funcjax.__file__)) + os.sep


class SourceInfo:
    __slots__ = ("filename", "lineno", "function")

    def __init__(self, filename, lineno, function):
        self.filename, self.lineno, self.function = filename, lineno, function

    def __str__(self):
        return f"{self.filename}:{self.lineno} ({self.function})"

    __repr__ = __str__


def user_stacklevel():
    """The ``warnings.warn`` stacklevel, for its caller, of the innermost user frame."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


_replay = threading.local()
_package_code = {}  # code object -> whether it is funcjax's (code objects live as long)


def _in_package(code):
    inside = _package_code.get(code)
    if inside is None:
        if len(_package_code) > 10000:  # code compiled anew (exec, notebooks) does not pile up
            _package_code.clear()
        inside = _package_code[code] = code.co_filename.startswith(_PACKAGE_DIR)
    return inside


def replaying(info):
    """Makes ``user_frame`` return ``info`` (until called again; returns the previous value):
    equations re-staged from an existing jaxpr keep the line the user wrote them on."""
    previous = getattr(_replay, "info", None)
    _replay.info = info
    return previous


def user_frame():
    """The innermost frame outside the funcjax package (tests count as user code), or the line
    of the equation being replayed from an existing jaxpr."""
    info = getattr(_replay, "info", None)
    if info is not None:
        return info
    frame = sys._getframe(1)
    while frame is not None and _in_package(frame.f_code):
        frame = frame.f_back
    if frame is None:
        return None
    return SourceInfo(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
