"""``funcjax.numpy``: numpy's API over funcjax arrays, built only from primitives (via lax).

Each submodule lists its public names in ``__all__``; only those are exported here.
"""

import numpy as _np

from funcjax.core.array import Array as ndarray
from funcjax.core.dtypes import float0  # noqa: F401
from funcjax.numpy import _indexing, fft, linalg  # noqa: F401
from funcjax.numpy._bessel import *  # noqa: F403
from funcjax.numpy._complex import *  # noqa: F403
from funcjax.numpy._creation import *  # noqa: F403
from funcjax.numpy._dtypes import *  # noqa: F403
from funcjax.numpy._editing import *  # noqa: F403
from funcjax.numpy._einsum import *  # noqa: F403
from funcjax.numpy._functional import *  # noqa: F403
from funcjax.numpy._histogram import *  # noqa: F403
from funcjax.numpy._index_tricks import *  # noqa: F403
from funcjax.numpy._indexing import *  # noqa: F403
from funcjax.numpy._joining import *  # noqa: F403
from funcjax.numpy._linalg import *  # noqa: F403
from funcjax.numpy._logic import *  # noqa: F403
from funcjax.numpy._misc import *  # noqa: F403
from funcjax.numpy._numerics import *  # noqa: F403
from funcjax.numpy._pad import *  # noqa: F403
from funcjax.numpy._polynomial import *  # noqa: F403
from funcjax.numpy._reductions import *  # noqa: F403
from funcjax.numpy._setops import *  # noqa: F403
from funcjax.numpy._shape import *  # noqa: F403
from funcjax.numpy._sorting import *  # noqa: F403
from funcjax.numpy._ufuncs import *  # noqa: F403

Array = ndarray
inf, nan, pi, e, euler_gamma = _np.inf, _np.nan, _np.pi, _np.e, _np.euler_gamma
newaxis = None

__all__ = [name for name in dir() if not name.startswith("_")]
