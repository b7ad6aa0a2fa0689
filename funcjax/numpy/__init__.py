"""``funcjax.numpy``: numpy's API over funcjax arrays, built only from primitives."""

import numpy as _np

from funcjax.core.array import Array as ndarray  # noqa: F401
from funcjax.core.dtypes import float0  # noqa: F401
from funcjax.numpy import _indexing  # noqa: F401
from funcjax.numpy._creation import *  # noqa: F401,F403
from funcjax.numpy._linalg import *  # noqa: F401,F403
from funcjax.numpy._reductions import *  # noqa: F401,F403
from funcjax.numpy._shape import *  # noqa: F401,F403
from funcjax.numpy._ufuncs import *  # noqa: F401,F403
from funcjax.numpy._util import result_type  # noqa: F401

bool_ = _np.bool_
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64
float16, float32, float64 = _np.float16, _np.float32, _np.float64
inf, nan, pi, e, newaxis = _np.inf, _np.nan, _np.pi, _np.e, None
dtype, finfo, iinfo = _np.dtype, _np.finfo, _np.iinfo
