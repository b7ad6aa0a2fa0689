"""``dot_product_attention``: softmax(q k^T * scale + bias, masked) v, as jax.nn's reference
implementation computes it, including grouped-query attention (fewer key/value heads than
query heads) and causal and length masks."""

import numpy as np

import funcjax.numpy as jnp
from funcjax import lax


def dot_product_attention(query, key, value, bias=None, mask=None, *, scale=None,
                          is_causal=False, query_seq_lengths=None,
                          key_value_seq_lengths=None, local_window_size=None,
                          implementation=None):
    """Scaled dot-product attention over inputs ``[B, T, N, H]`` (or ``[T, N, H]``).

    ``key``/``value`` are ``[B, S, K, H]`` with ``N`` a multiple of ``K``. ``bias`` is added
    to and boolean ``mask`` (True = attend) applied to logits ``[B, N, T, S]``; ``is_causal``
    hides later positions, the ``*_seq_lengths`` hide padding. Softmax runs in float32."""
    if implementation not in (None, "xla"):
        raise ValueError(f"dot_product_attention: implementation must be None or 'xla', got "
                         f"{implementation!r} (funcjax has no cuDNN kernel)")
    query, key, value = (jnp.asarray(a) for a in (query, key, value))
    batched = query.ndim == 4
    if not batched:
        if query.ndim != 3:
            raise ValueError("dot_product_attention: query must have shape [B, T, N, H] or "
                             f"[T, N, H], got {query.shape}")
        query, key, value = (a[None] for a in (query, key, value))
    if key.shape != value.shape or key.ndim != 4 or key.shape[0] != query.shape[0] or \
            key.shape[-1] != query.shape[-1]:
        raise ValueError("dot_product_attention: expected key and value of shape [B, S, K, H] "
                         f"matching query {query.shape}, got {key.shape} and {value.shape}")
    b, t, n, h = query.shape
    s, k = key.shape[1], key.shape[2]
    if n % k:
        raise ValueError(f"dot_product_attention: the number of query heads ({n}) must be a "
                         f"multiple of the number of key/value heads ({k})")
    scale = 1.0 / np.sqrt(h) if scale is None else scale
    q = jnp.reshape(query, (b, t, k, n // k, h))
    logits = jnp.einsum("btkgh,bskh->bkgts", q, key) * np.asarray(scale, query.dtype)
    logits = jnp.reshape(logits, (b, n, t, s)).astype(jnp.float32)
    if bias is not None:
        bias = jnp.asarray(bias)
        logits = logits + (bias if batched or bias.ndim < 3 else bias[None])
    keep = jnp.ones((1, 1, t, s), bool)
    if mask is not None:
        mask = jnp.asarray(mask)
        keep = keep & (mask if batched or mask.ndim < 3 else mask[None])
    rows = lax.broadcasted_iota(np.int32, (t, s), 0)
    cols = lax.broadcasted_iota(np.int32, (t, s), 1)
    if is_causal:
        keep = keep & (cols <= rows)
    if local_window_size is not None:
        left, right = (local_window_size, local_window_size) if isinstance(
            local_window_size, int) else local_window_size
        keep = keep & (cols >= rows - left) & (cols <= rows + right)
    if query_seq_lengths is not None:
        keep = keep & (rows < jnp.asarray(query_seq_lengths)[:, None, None, None])
    if key_value_seq_lengths is not None:
        keep = keep & (cols < jnp.asarray(key_value_seq_lengths)[:, None, None, None])
    large_negative = np.float32(-0.7 * np.finfo(np.float32).max)
    logits = jnp.where(keep, logits, large_negative)
    top = lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    e = jnp.exp(logits - top)
    probs = (e / jnp.sum(e, axis=-1, keepdims=True)).astype(query.dtype)
    probs = jnp.reshape(probs, (b, k, n // k, t, s))
    out = jnp.reshape(jnp.einsum("bkgts,bskh->btkgh", probs, value), (b, t, n, h))
    return out if batched else out[0]
