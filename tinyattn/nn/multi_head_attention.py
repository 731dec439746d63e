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

How the attention itself is computed is a choice (`attention=`): the readable
scaled_dot_product_attention ("standard"), flash_attention ("flash": the same numbers, in memory
linear in T), or window_attention ("window": each token sees only the last W, at cost T * W).
"""
from .. import functional as F
from ..attention.flash import flash_attention
from ..attention.fused_causal import fused_self_attention
from ..attention.kv_cache import KVCache
from ..attention.masks import sliding_window_mask
from ..attention.scaled_dot_product import scaled_dot_product_attention
from ..attention.window import window_attention
from ..engine.tensor_functions import concat
from ..functional.mode import is_reference_mode
from .layers import Linear
from .module import Module


class MultiHeadAttention(Module):
    """Multi-head attention with q_proj and out_proj (d_model -> d_model) and k_proj, v_proj
    (d_model -> num_kv_heads * head_dim: d_model unless num_kv_heads is given).

    num_kv_heads: None (= num_heads, standard attention), a divisor of num_heads (grouped-query
      attention: each key/value head serves num_heads / num_kv_heads query heads), or 1
      (multi-query attention). See the module's docstring.
    attention: which function attends (all take the same q, k, v and masks):
      "standard"  scaled_dot_product_attention, the readable one, which forms the (T_q, T_k)
                  weights (plain self-attention takes the fused fast path of fused_causal.py);
      "flash"     flash_attention: the same result, by tiles of keys with an online softmax,
                  in memory linear in T;
      "window"    window_attention with window=W: causal sliding-window self-attention, each
                  query sees itself and the W - 1 tokens before it (Mistral's), at cost T * W.
                  A different function: standard attention with sliding_window_mask. It needs
                  is_causal=True and no key/value; masks other than key padding (B, 1, 1, T) go
                  the readable way with that mask.
      Flash and window never form the weights: with need_weights=True the readable path computes
      the same attention with its weights. Nor do they drop weights: they need dropout=0.0.

    forward(query, key=None, value=None, mask=None, is_causal=False, need_weights=False,
            cache=None, rotary=None)
      query (B, T_q, d_model); key and value (B, T_k, d_model), defaulting to query
      (self-attention). mask: boolean, True = may attend, of shape (T_q, T_k), (B, T_q, T_k)
      or (B, 1|H, T_q|1, T_k) (padding_mask gives (B, 1, 1, T_k)). Returns (B, T_q, d_model),
      or (output, weights (B, H, T_q, T_k)) with need_weights=True. (Differs from PyTorch's
      nn.MultiheadAttention: weights come per head and only when asked; its masks mean the
      opposite, True = hidden; and q, k, v have separate projections instead of one packed
      in_proj_weight.)
      cache: a KVCache (attention/kv_cache.py) kept between decoding steps. For self-attention
      the new keys and values are appended to the cached ones, so each new token costs one
      position, not the whole prefix; for cross-attention (key given) they are computed once and
      reused. Keys and values are cached as (B, num_kv_heads, T, head_dim): grouped-query
      attention shrinks the cache. With attention="window" the cache must be
      KVCache(window=W): it keeps only the last W - 1 keys and values (all that a later query
      can see), so it stays bounded however long the text; cache.length counts the positions
      seen. The new queries then attend by sliding_window_mask (aligned to the end), and a mask
      must cover the kept keys and the new ones.
      rotary: a RotaryEmbedding to apply to queries and keys in self-attention (positions
      continue after the cache).

    forward reads top to bottom as the plain path (project, split heads, attend, merge, project),
    after one explicit branch: plain or causal self-attention with nothing else asked of it
    takes the fused path (attention/fused_causal.py), which computes the same numbers faster;
    never in reference mode.
    """

    def __init__(self, d_model, num_heads, dropout=0.0, bias=True, dtype=None, *, num_kv_heads=None,
                 attention="standard", window=None):
        super().__init__()
        _check_attention(attention, window, dropout)
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
        self.dropout, self.attention, self.window = dropout, attention, window
        kv_width = num_kv_heads * self.head_dim
        self.q_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)
        self.k_proj = Linear(d_model, kv_width, bias=bias, dtype=dtype)
        self.v_proj = Linear(d_model, kv_width, bias=bias, dtype=dtype)
        self.out_proj = Linear(d_model, d_model, bias=bias, dtype=dtype)

    def forward(self, query, key=None, value=None, mask=None, is_causal=False, need_weights=False,
                cache=None, rotary=None):
        self_attention = key is None
        self._check_call(query, self_attention, is_causal, cache, rotary)
        if self_attention and not is_reference_mode() and \
                self._fused_path_applies(mask, is_causal, need_weights, cache, rotary):
            # The fast path: the same numbers as the plain path below, computed as one fused node.
            return self._fused_self_attention(query, is_causal)                # (B, T, d_model)

        # The plain path: project, split into heads, attend, merge the heads, project.
        key = query if key is None else key
        value = key if value is None else value
        q = self._split_heads(self.q_proj(query), self.num_heads)               # (B, H, T_q, D)
        k, v = self._keys_and_values(key, value, cache, self_attention)         # (B, H_kv, T_k, D)
        if rotary is not None:
            q, k = self._rotate(q, k, rotary, cache)                            # positions turn q, k
        if cache is not None and self_attention:
            k, v = cache.append(k, v)                                           # (B, H_kv, T_past + T_k, D)
        out, weights = self._attend_in_groups(q, k, v, self._mask_per_head(mask),
                                              is_causal, need_weights)          # (B, H, T_q, D)
        out = self.out_proj(self._merge_heads(out))                             # (B, T_q, d_model)
        return (out, weights) if need_weights else out

    def _check_call(self, query, self_attention, is_causal, cache, rotary):
        """Clear errors for calls this layer cannot serve."""
        if query.ndim != 3 or query.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention: query must be (B, T, {self.d_model}), got {query.shape}")
        if self.attention == "window" and not (self_attention and is_causal):
            raise ValueError("MultiHeadAttention: attention='window' is causal sliding-window "
                             "self-attention: call it with is_causal=True and without key/value")
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"MultiHeadAttention: cache must be a KVCache (tinyattn.attention."
                            f"KVCache), got {type(cache).__name__}")
        if cache is not None and self_attention and cache.window != self.window:
            raise ValueError(f"MultiHeadAttention: the cache keeps a window of {cache.window}, this "
                             f"attention's window is {self.window}: use KVCache(window={self.window})")
        if rotary is not None and not self_attention:
            raise ValueError("MultiHeadAttention: rotary positions are for self-attention; "
                             "cross-attention's keys come from another sequence")

    def _keys_and_values(self, key, value, cache, self_attention):
        """key (B, T_k, d_model) and value projected and split into heads: (B, H_kv, T_k, D) each.
        Cross-attention with a cache projects the encoder's memory on the first decoding step
        only; later steps reuse those keys and values."""
        if cache is not None and not self_attention and cache.length:
            return cache.keys, cache.values
        k = self._split_heads(self.k_proj(key), self.num_kv_heads)              # (B, H_kv, T_k, D)
        v = self._split_heads(self.v_proj(value), self.num_kv_heads)            # (B, H_kv, T_k, D)
        if cache is not None and not self_attention:
            cache.append(k, v)
        return k, v

    def _rotate(self, q, k, rotary, cache):
        """Rotary positions (RoPE) on q (B, H, T, D) and the new keys k (B, H_kv, T, D); with a
        cache the new tokens' positions continue after those already seen."""
        start = cache.length if cache is not None else 0
        return rotary(q, start=start), rotary(k, start=start)

    def _mask_per_head(self, mask):
        """A mask (B, T_q, T_k), one per sequence, gets a heads axis: (B, 1, T_q, T_k). Other
        shapes broadcast against (B, H, T_q, T_k) as they are."""
        return mask.unsqueeze(1) if mask is not None and mask.ndim == 3 else mask

    def _attend_in_groups(self, q, k, v, mask, is_causal, need_weights):
        """Grouped-query attention: q (B, H, T_q, D), k and v (B, H_kv, T_k, D) -> out
        (B, H, T_q, D) and weights (B, H, T_q, T_k) or None. Query head h uses key/value head
        h // G: the H query heads are viewed as H_kv groups of G (the order of Llama's repeat_kv
        and PyTorch's enable_gqa), and k, v broadcast over G. With G = 1, plain attention."""
        groups = self.num_heads // self.num_kv_heads
        if groups == 1:
            return self._attend(q, k, v, mask, is_causal, need_weights)
        batch, _, t_q, _ = q.shape
        q = q.reshape(batch, self.num_kv_heads, groups, t_q, self.head_dim)     # (B, H_kv, G, T_q, D)
        k, v = k.unsqueeze(2), v.unsqueeze(2)                                   # (B, H_kv, 1, T_k, D)
        if mask is not None and mask.ndim == 4:                                 # (B, 1|H, T_q|1, T_k)
            mask = mask.unsqueeze(2) if mask.shape[1] == 1 else \
                mask.reshape(mask.shape[0], self.num_kv_heads, groups, *mask.shape[2:])
        out, weights = self._attend(q, k, v, mask, is_causal, need_weights)
        return (out.reshape(batch, self.num_heads, t_q, self.head_dim),
                None if weights is None else weights.reshape(batch, self.num_heads, t_q, weights.shape[-1]))

    def _attend(self, q, k, v, mask, is_causal, need_weights):
        """Attention over heads that line up (or broadcast), by self.attention: (out, weights or None)."""
        if self.attention == "window":
            t_q, t_k = q.shape[-2], k.shape[-2]
            if not need_weights and t_q == t_k and (mask is None or mask.shape[-2] == 1):
                return window_attention(q, k, v, self.window, mask=mask), None
            # decoding (T_q < T_k), weights asked for, or a mask per query: the readable way
            window = sliding_window_mask(t_q, self.window, t_k, backend=q.backend)
            mask, is_causal = (window if mask is None else mask & window), False
        elif self.attention == "flash" and not need_weights:
            return flash_attention(q, k, v, mask=mask, is_causal=is_causal), None
        return scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, return_weights=True,
                                            dropout_p=self.dropout if self.training else 0.0)

    def _fused_path_applies(self, mask, is_causal, need_weights, cache, rotary):
        """Whether the fused path computes exactly what the plain one would: plain or causal
        self-attention during training or evaluation, nothing else asked of it. (forward also
        leaves it in reference mode, where the plain path is the one that runs.)"""
        return (mask is None and cache is None and rotary is None and not need_weights
                and self.attention == "standard" and self.num_kv_heads == self.num_heads
                and (self.dropout == 0.0 or not self.training))

    def _fused_self_attention(self, x, is_causal):
        """x (B, T, d_model) -> (B, T, d_model), the same computation as the plain path, in two
        matrix products and one attention node (attention/fused_causal.py): q, k and v come from
        one product with the three weights stacked."""
        parts = (self.q_proj, self.k_proj, self.v_proj)
        weight = concat([p.weight for p in parts], axis=0)                      # (3C, C)
        bias = concat([p.bias for p in parts], axis=0) if self.q_proj.bias is not None else None
        qkv = F.linear(x, weight, bias)                                          # (B, T, 3C)
        return self.out_proj(fused_self_attention(qkv, self.num_heads, is_causal))

    def _split_heads(self, x, heads):
        """(B, T, heads * head_dim) -> (B, heads, T, head_dim)."""
        batch, time, _ = x.shape
        return x.reshape(batch, time, heads, self.head_dim).permute(0, 2, 1, 3)

    def _merge_heads(self, x):
        """(B, H, T, head_dim) -> (B, T, d_model)."""
        batch, _, time, _ = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, time, self.d_model)

    def extra_repr(self):
        window = f", window={self.window}" if self.window is not None else ""
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, "
                f"dropout={self.dropout}, attention={self.attention!r}{window}")


def _check_attention(attention, window, dropout):
    """Clear errors for an attention choice that cannot work (see MultiHeadAttention)."""
    if attention not in ("standard", "flash", "window"):
        raise ValueError(f"MultiHeadAttention: attention must be 'standard', 'flash' or 'window', "
                         f"got {attention!r}")
    if (attention == "window") != (window is not None):
        raise ValueError(f"MultiHeadAttention: window=W goes with attention='window' and only with it "
                         f"(got attention={attention!r}, window={window!r})")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"MultiHeadAttention: window must be an integer >= 1 (the query itself and "
                         f"window - 1 tokens before it), got {window!r}")
    if attention != "standard" and dropout:
        raise ValueError(f"MultiHeadAttention: attention={attention!r} never forms the weights, so it "
                         f"cannot drop them: use dropout=0.0, or attention='standard' (got {dropout})")

