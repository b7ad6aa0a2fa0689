"""``funcjax.typing``: annotations for functions that take arrays (JAX's module of that
name)."""

from typing import Union

import numpy as np

from funcjax.core.array import Array

ArrayLike = Union[Array, np.ndarray, np.generic, bool, int, float, complex]
DTypeLike = Union[str, type, np.dtype]
