"""Multi-head attention: several attentions side by side, each on its own slice of the width.

With d_model = 512 and 8 heads, every token's query, key and value (each a 512-vector made by
a learned projection) are cut into 8 pieces of 64. Head h attends with piece h only, so each
head can look for a different relation (the previous word, the subject of the verb, ...).
The 8 outputs are put side by side again and mixed by one more projection, out_proj.
In array terms the cutting is a reshape (B, T, 512) -> (B, T, 8, 64) and a permute to
(B, 8, T, 64): the heads become a batch axis, and one batched matmul serves them all.

Grouped-query attention (GQA; Ainslie et al. 2023, used by Llama 2 70B and Mistral) keeps all
the query heads but gives them fewer key/value heads: num_kv_heads of them, each shared by a
group of G = num_heads / num_kv_heads query heads. Why: when a model generates text, every layer
keeps the keys and values of all past tokens (the KV cache, (B, H_kv, T, head_dim) each), and
that cache, not the weights, is what fills memory for long sequences and large batches. With
H_kv = H / G it is G times smaller, and reading it each step G times faster; quality barely
moves. num_kv_heads=1 is multi-query attention (MQA; Shazeer 2019): one key/value head for all.
No key or value is copied per query head: the queries (B, H, T_q, D) are viewed as
(B, H_kv, G, T_q, D) against keys and values (B, H_kv, 1, T_k, D), and the matmuls broadcast.
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
    """Multi-head attention with q_proj and out_proj (d_model -> d_model) and k_proj, v_proj
    (d_model -> num_kv_heads * head_dim: d_model unless num_kv_heads is given).

    num_kv_heads: None (= num_heads, standard attention), a divisor of num_heads (grouped-query
      attention: each key/value head serves num_heads / num_kv_heads query heads), or 1
      (multi-query attention). See the module's docstring.

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
      for cross-attention (key given) they are computed once and reused. Keys and values are
      cached as (B, num_kv_heads, T, head_dim): grouped-query attention shrinks the cache.
      rotary: a RotaryEmbedding to apply to queries and keys (positions continue after the cache).
    """

    def __init__(self, d_model, num_heads, dropout=0.0, bias=True, dtype=None, *, num_kv_heads=None):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"MultiHeadAttention: d_model {d_model} is not divisible by num_heads "
                             f"{num_heads}; each head gets d_model / num_heads features")
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
            raise ValueError(f"MultiHeadAttention: num_heads {num_heads} is not divisible by num_kv_heads "
                             f"{num_kv_heads}; each key/value head serves num_heads / num_kv_heads "
                             "query heads")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.num_kv_heads = num_kv_heads
        self.dropout = dropout
        kv_width = num_kv_heads * self.head_dim
        self.q_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)
        self.k_proj = Linear(d_model, kv_width, bias=bias, dtype=dtype)
        self.v_proj = Linear(d_model, kv_width, bias=bias, dtype=dtype)
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

        q = self._split_heads(self.q_proj(query), self.num_heads)        # (B, H, T_q, head_dim)
        if cache is not None and not self_attention and "k" in cache:
            k, v = cache["k"], cache["v"]                                # encoder memory, once
        else:
            k = self._split_heads(self.k_proj(key), self.num_kv_heads)   # (B, H_kv, T_k, head_dim)
            v = self._split_heads(self.v_proj(value), self.num_kv_heads)
        if rotary is not None:
            q, k = rotary(q, start=past), rotary(k, start=past)
        if cache is not None:
            if past:
                k, v = concat([cache["k"], k], axis=2), concat([cache["v"], v], axis=2)
            cache["k"], cache["v"] = k, v

        if mask is not None and mask.ndim == 3:                          # (B, T_q, T_k): one per batch
            mask = mask.unsqueeze(1)
        out, weights = self._attend_in_groups(q, k, v, mask, is_causal)
        out = self.out_proj(self._merge_heads(out))                      # (B, T_q, d_model)
        return (out, weights) if need_weights else out

    def _attend_in_groups(self, q, k, v, mask, is_causal):
        """q (B, H, T_q, D), k and v (B, H_kv, T_k, D) -> out (B, H, T_q, D), weights (B, H, T_q, T_k).
        Query head h uses key/value head h // G: the H query heads are viewed as H_kv groups of G
        (the order of Llama's repeat_kv and PyTorch's enable_gqa), and k, v broadcast over G."""
        groups = self.num_heads // self.num_kv_heads
        if groups == 1:
            return self._attend(q, k, v, mask, is_causal)
        batch, _, t_q, _ = q.shape
        q = q.reshape(batch, self.num_kv_heads, groups, t_q, self.head_dim)     # (B, H_kv, G, T_q, D)
        k, v = k.unsqueeze(2), v.unsqueeze(2)                                   # (B, H_kv, 1, T_k, D)
        if mask is not None and mask.ndim == 4:                                 # (B, 1|H, T_q|1, T_k)
            mask = mask.unsqueeze(2) if mask.shape[1] == 1 else \
                mask.reshape(mask.shape[0], self.num_kv_heads, groups, *mask.shape[2:])
        out, weights = self._attend(q, k, v, mask, is_causal)
        return (out.reshape(batch, self.num_heads, t_q, self.head_dim),
                weights.reshape(batch, self.num_heads, t_q, weights.shape[-1]))

    def _attend(self, q, k, v, mask, is_causal):
        """Attention over heads that line up (or broadcast): (out, weights)."""
        return scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, return_weights=True,
                                            dropout_p=self.dropout if self.training else 0.0)

    def _can_fuse(self, mask, is_causal, need_weights, cache, rotary):
        """Whether the fused path computes exactly what the readable one would: plain or causal
        self-attention during training or evaluation, nothing else asked of it."""
        return (mask is None and cache is None and rotary is None and not need_weights
                and self.num_kv_heads == self.num_heads and (self.dropout == 0.0 or not self.training))

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

    def _split_heads(self, x, heads):
        """(B, T, heads * head_dim) -> (B, heads, T, head_dim)."""
        batch, time, _ = x.shape
        return x.reshape(batch, time, heads, self.head_dim).permute(0, 2, 1, 3)

    def _merge_heads(self, x):
        """(B, H, T, head_dim) -> (B, T, d_model)."""
        batch, _, time, _ = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, time, self.d_model)

    def extra_repr(self):
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, "
                f"dropout={self.dropout}")


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

