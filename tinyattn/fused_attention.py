"""Causal self-attention as one Function: from the packed projections to the merged heads.

The readable version is `attention.scaled_dot_product_attention` inside MultiHeadAttention:
split the heads, q k^T, scale, mask, softmax, weights @ v, merge the heads, about fifteen nodes.
This computes exactly the same, for the case a GPT trains in (self-attention, no mask or the
causal one, no dropout on the weights), as a single node that keeps only what its backward
needs and updates its temporaries in place. Tests prove the two equal.

Notation: q, k, v (B, H, T, D), s = q k^T * scale, w = softmax(s) (masked), y = w v.
Backward, with g = dL/dy:
    dL/dv = w^T g,   dL/dw = g v^T,
    dL/ds = w * (dL/dw - sum_j w_j dL/dw_j)       (softmax's backward, row by row)
    dL/dq = dL/ds k * scale,   dL/dk = dL/ds^T q * scale
"""
from .autograd import Function
from .backend import namespace
from .ops.matmul import swap_last


class CausalSelfAttention(Function):
    """qkv (B, T, 3C) = [q | k | v] along the last axis -> (B, T, C), heads of width C / H.

    bias: None, or a (T, T) array added to the scores: 0 where a query may look, a huge
    negative number where it may not (the causal mask; every row keeps at least one key).
    """

    __slots__ = ()

    def forward(self, qkv, num_heads, bias, scale):
        xp = namespace(qkv)
        batch, time, width3 = qkv.shape
        width = width3 // 3
        head_dim = width // num_heads
        heads = xp.permute_dims(xp.reshape(qkv, (batch, time, 3, num_heads, head_dim)),
                                (2, 0, 3, 1, 4))                              # (3, B, H, T, D) view
        q, k, v = heads[0, ...], heads[1, ...], heads[2, ...]
        scores = xp.matmul(q, swap_last(xp, k))                               # (B, H, T, T)
        scores *= scale
        if bias is not None:
            scores += bias
        scores -= xp.max(scores, axis=-1, keepdims=True)
        w = xp.exp(scores)
        w /= xp.sum(w, axis=-1, keepdims=True)
        y = xp.matmul(w, v)                                                   # (B, H, T, D)
        self.saved = (q, k, v, w, scale)
        return xp.reshape(xp.permute_dims(y, (0, 2, 1, 3)), (batch, time, width))

    def backward(self, g):
        q, k, v, w, scale = self.saved
        xp = namespace(g)
        batch, heads, time, head_dim = q.shape
        gy = xp.permute_dims(xp.reshape(g, (batch, time, heads, head_dim)), (0, 2, 1, 3))
        dv = xp.matmul(swap_last(xp, w), gy)
        ds = xp.matmul(gy, swap_last(xp, v))                                  # dL/dw, then dL/ds
        ds -= xp.sum(ds * w, axis=-1, keepdims=True)
        ds *= w
        ds *= scale
        dq = xp.matmul(ds, k)
        dk = xp.matmul(swap_last(xp, ds), q)
        dqkv = xp.stack([dq, dk, dv], axis=0)                                 # (3, B, H, T, D)
        return (xp.reshape(xp.permute_dims(dqkv, (1, 3, 0, 2, 4)), (batch, time, 3 * heads * head_dim)),)
