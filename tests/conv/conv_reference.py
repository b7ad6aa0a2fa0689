"""Plain-loop references for convolution and pooling (independent of funcjax's impls)."""

import itertools

import numpy as np


def dilate_and_pad(x, lhs_dilation, padding, fill=0.0):
    """(N, C, spatial...) -> dilated with ``fill`` between elements, padded (negative crops)."""
    for d, (step, (lo, hi)) in enumerate(zip(lhs_dilation, padding)):
        axis = d + 2
        n = x.shape[axis]
        size = 0 if n == 0 else 1 + step * (n - 1)
        shape = list(x.shape)
        shape[axis] = size + max(lo, 0) + max(hi, 0)
        out = np.full(shape, fill, x.dtype)
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(max(lo, 0), max(lo, 0) + size, step)
        out[tuple(idx)] = x
        idx[axis] = slice(max(-lo, 0), shape[axis] - max(-hi, 0))
        x = out[tuple(idx)]
    return x


def conv_nchw(x, w, strides, padding, lhs_dilation, rhs_dilation, fgc=1, bgc=1):
    """out[n, o, p] = sum_c,k xp[n', c', p*s + k*r] * w[o, c, k] with groups, tap by tap."""
    xp = dilate_and_pad(x.astype(np.float64), lhs_dilation, padding)
    w = w.astype(np.float64)
    n, c = x.shape[:2]
    o, i = w.shape[:2]
    kernel = w.shape[2:]
    eff = [1 + r * (k - 1) for k, r in zip(kernel, rhs_dilation)]
    out_sp = [(p - e) // s + 1 for p, e, s in zip(xp.shape[2:], eff, strides)]
    out = np.zeros((n // bgc, o) + tuple(out_sp))
    o_per = o // max(fgc, bgc)
    for oc in range(o):
        g = oc // o_per
        for k in itertools.product(*(range(kk) for kk in kernel)):
            idx = tuple(slice(t * r, t * r + (m - 1) * s + 1, s)
                        for t, r, m, s in zip(k, rhs_dilation, out_sp, strides))
            if bgc > 1:
                rows, chans = slice(g * (n // bgc), (g + 1) * (n // bgc)), slice(None)
            else:
                rows, chans = slice(None), slice(g * i, (g + 1) * i)
            patch = xp[(rows, chans) + idx]
            out[:, oc] += np.einsum("nc...,c->n...", patch, w[(oc, slice(None)) + k])
    return out


def pool(x, window, strides, padding, reduce, fill):
    """Reduce each window of x (padded with ``fill``) with ``reduce`` over explicit windows."""
    xp = x.astype(np.float64)
    xp = np.pad(xp, padding, constant_values=fill)
    out_shape = [(p - w) // s + 1 for p, w, s in zip(xp.shape, window, strides)]
    out = np.empty(out_shape)
    for pos in itertools.product(*(range(m) for m in out_shape)):
        sl = tuple(slice(p * s, p * s + w) for p, s, w in zip(pos, strides, window))
        out[pos] = reduce(xp[sl])
    return out
