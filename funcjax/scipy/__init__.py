"""``funcjax.scipy``: SciPy's numerical functions with JAX's names, built from funcjax ops."""

from funcjax.scipy import linalg, special, stats  # noqa: F401
