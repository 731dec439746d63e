"""Multi-head attention: several attentions side by side, each on its own slice of the width.

With d_model = 512 and 8 heads, every token's query, key and value (each a 512-vector made by
a learned projection) are cut into 8 pieces of 64. Head h attends with piece h only, so each
head can look for a different relation (the previous word, the subject of the verb, ...).
The 8 outputs are put side by side again and mixed by one more projection, out_proj.
In array terms the cutting is a reshape (B, T, 512) -> (B, T, 8, 64) and a permute to
(B, 8, T, 64): the heads become a batch axis, and one batched matmul serves them all.
"""
import math

from .. import functional as F
from ..attention import scaled_dot_product_attention
from ..functions import concat
from ..fused_attention import CausalSelfAttention
from ..masks import causal_mask
from .layers import Linear
from .module import Module


class MultiHeadAttention(Module):
    """Multi-head attention with q_proj, k_proj, v_proj and out_proj (each d_model -> d_model).

    forward(query, key=None, value=None, mask=None, is_causal=False, need_weights=False,
            cache=None, rotary=None)
      query (B, T_q, d_model); key and value (B, T_k, d_model), defaulting to query
      (self-attention). mask: boolean, True = may attend, of shape (T_q, T_k), (B, T_q, T_k)
      or (B, 1|H, T_q|1, T_k) (padding_mask gives (B, 1, 1, T_k)). Returns (B, T_q, d_model),
      or (output, weights (B, H, T_q, T_k)) with need_weights=True. (Differs from PyTorch's
      nn.MultiheadAttention: weights come per head and only when asked; its masks mean the
      opposite, True = hidden; and q, k, v have separate projections instead of one packed
      in_proj_weight.)
      cache: a dict kept between decoding steps. For self-attention the new keys and values are
      appended to the cached ones, so each new token costs one position, not the whole prefix;
      for cross-attention (key given) they are computed once and reused.
      rotary: a RotaryEmbedding to apply to queries and keys (positions continue after the cache).
    """

    def __init__(self, d_model, num_heads, dropout=0.0, bias=True, dtype=None):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"MultiHeadAttention: d_model {d_model} is not divisible by num_heads "
                             f"{num_heads}; each head gets d_model / num_heads features")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout = dropout
        self.q_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)
        self.k_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)
        self.v_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)
        self.out_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)

    def forward(self, query, key=None, value=None, mask=None, is_causal=False, need_weights=False,
                cache=None, rotary=None):
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention: query must be (B, T, {self.d_model}), got {query.shape}")
        self_attention = key is None
        if self_attention and self._can_fuse(mask, is_causal, need_weights, cache, rotary):
            return self._fused_causal_self_attention(query, is_causal)
        key = query if key is None else key
        value = key if value is None else value
        past = cache["k"].shape[2] if cache and "k" in cache and self_attention else 0

        q = self._split_heads(self.q_proj(query))                        # (B, H, T_q, head_dim)
        if cache is not None and not self_attention and "k" in cache:
            k, v = cache["k"], cache["v"]                                # encoder memory, once
        else:
            k = self._split_heads(self.k_proj(key))                      # (B, H, T_k, head_dim)
            v = self._split_heads(self.v_proj(value))
        if rotary is not None:
            q, k = rotary(q, start=past), rotary(k, start=past)
        if cache is not None:
            if past:
                k, v = concat([cache["k"], k], axis=2), concat([cache["v"], v], axis=2)
            cache["k"], cache["v"] = k, v

        if mask is not None and mask.ndim == 3:                          # (B, T_q, T_k): one per batch
            mask = mask.unsqueeze(1)
        out, weights = scaled_dot_product_attention(
            q, k, v, mask=mask, is_causal=is_causal, return_weights=True,
            dropout_p=self.dropout if self.training else 0.0)
        out = self.out_proj(self._merge_heads(out))                      # (B, T_q, d_model)
        return (out, weights) if need_weights else out

    def _can_fuse(self, mask, is_causal, need_weights, cache, rotary):
        """Whether the fused path computes exactly what the readable one would: plain or causal
        self-attention during training or evaluation, nothing else asked of it."""
        return (mask is None and cache is None and rotary is None and not need_weights
                and (self.dropout == 0.0 or not self.training))

    def _fused_causal_self_attention(self, x, is_causal):
        """The same computation as the general path, in two matrix products and one node
        (fused_attention.py): q, k and v come from one product with the three weights stacked."""
        parts = (self.q_proj, self.k_proj, self.v_proj)
        weight = concat([p.weight for p in parts], axis=0)                      # (3C, C)
        bias = concat([p.bias for p in parts], axis=0) if self.q_proj.bias is not None else None
        qkv = F.linear(x, weight, bias)                                          # (B, T, 3C)
        time = x.shape[1]
        scores_bias = _causal_bias(time, x) if is_causal else None
        out = CausalSelfAttention.apply(qkv, num_heads=self.num_heads, bias=scores_bias,
                                        scale=1.0 / math.sqrt(self.head_dim))
        return self.out_proj(out)

    def _split_heads(self, x):
        """(B, T, d_model) -> (B, H, T, head_dim)."""
        batch, time, _ = x.shape
        return x.reshape(batch, time, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _merge_heads(self, x):
        """(B, H, T, head_dim) -> (B, T, d_model)."""
        batch, _, time, _ = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, time, self.d_model)

    def extra_repr(self):
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"


_bias_cache = {}


def _causal_bias(time, like):
    """(T, T) array to add to the scores: 0 on and below the diagonal, the most negative finite
    number above it. Made once per length, dtype and backend, then reused every step."""
    key = (time, like.dtype, like.backend.name)
    if key not in _bias_cache:
        backend = like.backend
        most_negative = float(backend.xp.finfo(like.data.dtype).min)
        allowed = causal_mask(time, backend=backend).data
        zeros = backend.zeros((time, time), like.data.dtype)
        _bias_cache[key] = backend.xp.where(allowed, zeros, most_negative)
    return _bias_cache[key]

