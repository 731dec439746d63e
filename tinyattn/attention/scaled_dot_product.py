"""Scaled dot-product attention, the heart of the Transformer, written from primitives.

Every query asks "which keys look like me?": the similarity of query i and key j is the dot
product q_i . k_j, divided by sqrt(d) so it does not grow with the width d (the dot product of
two random d-dim vectors has variance d; without the scale the softmax saturates and its
gradient vanishes). A softmax over the keys turns similarities into weights that sum to 1, and
the output for query i is the weighted average of the values: sum_j w_ij v_j.
"""

from ..engine.tensor_functions import where
from ..functional import dispatch as F
from .checks import check_qkv, default_scale
from .masks import causal_mask, checked_mask, masked_fill_value


def scaled_dot_product_attention(query, key, value, mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, return_weights=False, *, attn_mask=None):
    """softmax(q k^T / sqrt(d) + masking) v.

    query (..., T_q, d), key (..., T_k, d), value (..., T_k, d_v) -> (..., T_q, d_v)
    mask:  boolean, broadcastable to (..., T_q, T_k), **True where attention is allowed**
           (PyTorch's convention); `attn_mask=` is accepted as its PyTorch name.
    is_causal: also hide keys after each query (aligned to the end when T_q < T_k; see causal_mask).
    dropout_p: dropout on the attention weights (pass 0 in evaluation).
    return_weights: also return the weights (..., T_q, T_k), e.g. to plot them.
    A query that may attend to no key at all gets weights 0 and output 0, not NaN
    (PyTorch's SDPA gives NaN there).
    """
    mask = attn_mask if mask is None else mask
    check_qkv("scaled_dot_product_attention", query, key, value)
    d = query.shape[-1]
    scores = (query @ key.transpose(-2, -1)) * (default_scale(d) if scale is None else scale)
    allowed = _allowed(mask, is_causal, scores)
    if allowed is not None:
        scores = where(allowed, scores, masked_fill_value(scores.data.dtype, scores.backend.xp))
    weights = F.softmax(scores, axis=-1)
    if mask is not None or (is_causal and scores.shape[-2] > scores.shape[-1]):
        # a row with nothing allowed (a masked one, or with is_causal a query before every key)
        # had a uniform softmax over the fill value: zero it
        weights = weights * allowed.to(dtype=weights.dtype)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    out = weights @ value
    return (out, weights) if return_weights else out


def _allowed(mask, is_causal, scores):
    """The boolean mask of allowed (query, key) pairs, or None when everything is allowed."""
    t_q, t_k = scores.shape[-2], scores.shape[-1]
    allowed = causal_mask(t_q, t_k, backend=scores.backend) if is_causal else None
    if mask is None:
        return allowed
    mask = checked_mask("scaled_dot_product_attention", mask, scores.shape, scores.backend)
    return mask if allowed is None else mask & allowed

