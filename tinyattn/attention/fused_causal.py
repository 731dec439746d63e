"""Causal self-attention as one Function: from the packed projections to the merged heads.

The readable version is `attention.scaled_dot_product_attention` inside MultiHeadAttention:
split the heads, q k^T, scale, mask, softmax, weights @ v, merge the heads, about fifteen nodes.
This computes exactly the same, for the case a GPT trains in (self-attention, no mask or the
causal one, no dropout on the weights), as a single node that keeps only what its backward
needs and updates its temporaries in place. Tests prove the two equal.

Notation: q, k, v (B, H, T, D), s = q k^T * scale, w = softmax(s) (masked), y = w v.
Backward, with g = dL/dy:
    dL/dv = w^T g,   dL/dw = g v^T,
    dL/ds = w * (dL/dw - sum_j w_j dL/dw_j)       (softmax's backward: functional/softmax_backward.py)
    dL/dq = dL/ds k * scale,   dL/dk = dL/ds^T q * scale

Layout: the scores are computed and kept *transposed*, s^T = k q^T (B, H, T_k, T_q), so each
query's softmax runs down a column. NumPy reduces short rows slowly (a max over 64 contiguous
numbers is one scalar loop per row) but reduces down columns with vector instructions across
all rows at once: the column max is 3x faster here. Sums down columns are a product with a
ones row, (1, T_k) @ (T_k, T_q), faster still. The matrix products take the transposes as
views, for free.

Chunks: the work runs a few batch entries at a time (kernels/cache_blocking.py's row_chunks),
so that one chunk's scores and the temporaries made from them stay in cache (at B=16, H=8,
T=128 the whole score array is 8 MB; one batch entry's is 512 KB).

MultiHeadAttention calls `fused_self_attention`, which adds the causal mask as a cached bias.
"""
import math

from ..backend import backend_of, namespace
from ..engine.autograd import Function
from ..engine.ops.matmul import swap_last
from ..functional.softmax_backward import softmax_backward
from ..kernels.cache_blocking import row_chunks
from .masks import causal_allowed, masked_fill_value


def fused_self_attention(qkv, num_heads, is_causal):
    """qkv Tensor (B, T, 3C) = [q | k | v] -> (B, T, C): self-attention over num_heads heads,
    causal or not, scale 1 / sqrt(C / H), as one CausalSelfAttention node."""
    time, head_dim = qkv.shape[1], qkv.shape[2] // (3 * num_heads)
    return CausalSelfAttention.apply(qkv, num_heads=num_heads,
                                     bias_t=_causal_bias(time, qkv) if is_causal else None,
                                     scale=1.0 / math.sqrt(head_dim))


class CausalSelfAttention(Function):
    """qkv (B, T, 3C) = [q | k | v] along the last axis -> (B, T, C), heads of width C / H.

    bias_t: None, or a (T_k, T_q) array added to the transposed scores: 0 where a query may
    look, a huge negative number where it may not (the causal mask; every query keeps a key).
    It comes in the transposed layout so that adding it reads memory in order.
    """

    __slots__ = ()

    def forward(self, qkv, num_heads, bias_t, scale):
        xp = namespace(qkv)
        batch, time, width3 = qkv.shape
        width = width3 // 3
        head_dim = width // num_heads
        heads = xp.permute_dims(xp.reshape(qkv, (batch, time, 3, num_heads, head_dim)),
                                (2, 0, 3, 1, 4))                              # (3, B, H, T, D) view
        q, k, v = heads[0, ...], heads[1, ...], heads[2, ...]
        backend = backend_of(qkv)
        ones = backend.ones((1, time), qkv.dtype)                             # sums down columns
        y = xp.empty((batch, num_heads, time, head_dim), dtype=qkv.dtype, **backend.place)

        # T = 0: no query, nothing to attend; y and backward's dqkv stay empty, as in PyTorch
        chunks = row_chunks(batch, num_heads * time * time, backend.chunk_elements) if time else []
        w = []                                             # w^T of each chunk, kept for backward
        for b in chunks:
            # the scale goes on q (T x D numbers) rather than on the scores (T x T)
            s = xp.matmul(k[b, ...], swap_last(xp, q[b, ...] * scale))        # s^T (b, H, T_k, T_q)
            if bias_t is not None:
                s += bias_t
            s -= xp.max(s, axis=-2, keepdims=True)
            s = xp.exp(s)
            s *= 1.0 / xp.matmul(ones, s)                                     # columns sum to 1
            w.append(s)
            y[b, ...] = xp.matmul(swap_last(xp, s), v[b, ...])                # (b, H, T, D)
        self.saved = (q, k, v, chunks, w, ones, scale)
        return xp.reshape(xp.permute_dims(y, (0, 2, 1, 3)), (batch, time, width))

    def backward(self, g):
        q, k, v, chunks, w, ones, scale = self.saved                          # w: chunks of w^T
        xp = namespace(g)
        batch, heads, time, head_dim = q.shape
        gy = xp.permute_dims(xp.reshape(g, (batch, time, heads, head_dim)), (0, 2, 1, 3))
        backend = backend_of(g)
        dqkv = xp.empty((3, batch, heads, time, head_dim), dtype=g.dtype, **backend.place)

        for b, wb in zip(chunks, w):
            gb = gy[b, ...]
            dqkv[2, b, ...] = xp.matmul(wb, gb)                               # dv
            dw = xp.matmul(v[b, ...], swap_last(xp, gb))                      # (dL/dw)^T
            # the softmax ran down columns: its sums too, as a product with a row of ones
            ds = softmax_backward(wb, dw, axis=-2, total=xp.matmul(ones, dw * wb))   # (dL/ds)^T
            dqkv[0, b, ...] = xp.matmul(swap_last(xp, ds), k[b, ...] * scale)  # dq
            dqkv[1, b, ...] = xp.matmul(ds, q[b, ...] * scale)                 # dk
        return (xp.reshape(xp.permute_dims(dqkv, (1, 3, 0, 2, 4)), (batch, time, 3 * heads * head_dim)),)


_bias_cache = {}      # (dtype, backend) -> the bias of the longest length asked for so far


def _causal_bias(time, like):
    """(T_k, T_q) array to add to the transposed scores k q^T (the layout CausalSelfAttention
    works in): 0 where the key's position is at most the query's, masked_fill_value where the
    key comes after the query. One array per dtype and backend (those of the Tensor `like`),
    reused every step; a shorter length takes its top-left corner (the same rule), so memory
    stays that of the longest length."""
    key = (like.dtype, like.backend.name)
    bias = _bias_cache.get(key)
    if bias is None or bias.shape[0] < time:
        backend, dtype = like.backend, like.data.dtype
        allowed_t = backend.xp.permute_dims(causal_allowed(backend, time, time), (1, 0))   # (T_k, T_q)
        bias = _bias_cache[key] = backend.xp.where(allowed_t, backend.zeros((time, time), dtype),
                                                   masked_fill_value(dtype, backend.xp))
    return bias[:time, :time]
