"""Well-conditioned test matrices for the linear-algebra tests (real and complex)."""

import numpy as np


def general(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def well_conditioned(rng, shape, dtype):
    """A general square matrix with its diagonal pushed away from 0."""
    n = shape[-1]
    return (general(rng, shape, dtype) + 2 * n * np.eye(n)).astype(dtype)


def hermitian_pd(rng, shape, dtype):
    x = general(rng, shape, dtype)
    n = shape[-1]
    return (x @ np.conj(np.swapaxes(x, -1, -2)) + n * np.eye(n)).astype(dtype)


def tol(dtype):
    return 1e-9 if np.dtype(dtype).itemsize * (2 - (np.dtype(dtype).kind == "c")) >= 16 \
        else 2e-3
