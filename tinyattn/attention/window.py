"""Sliding-window (local) causal attention: each query sees only the last W keys, at cost T*W.

Why local attention. Causal attention compares every query with every key before it: about
T^2 / 2 scores per head and layer, half a billion at T = 32k. Much of what a token needs is near,
so local attention lets position p look only at positions p - W + 1 .. p (itself and the W - 1
before it): T*W scores, linear in T. Information still travels far: a layer's output at p
already mixes positions back to p - W + 1, so the next layer, looking at those outputs, reaches
back 2(W - 1), and L layers about L(W - 1), as in a stack of convolutions. Longformer (Beltagy
et al., 2020) pairs such windows with a few global tokens; Mistral 7B (2023) uses W = 4096.

The reference is scaled_dot_product_attention with masks.sliding_window_mask: right, but it
builds all T^2 scores and throws most of them away. Here the band is never built in full.
Cut the T positions into n = ceil(T / W) chunks of W. A query in chunk i reaches back at most
W - 1 positions, so its keys all lie in chunk i - 1 or chunk i; each chunk of W queries is
compared with those 2W keys only:

    q (B, H, T, D) -> (B, H, n, W, D)         k, v (B, H, T, D) -> (B, H, n, 2W, D)
    scores = q k^T * scale   (B, H, n, W, 2W)   2TW numbers instead of T^2
    y = softmax(scores) v    (B, H, n, W, D) -> (B, H, T, D)

Query a of chunk i sits at position iW + a, key b of its 2W at (i - 1)W + b, so the window
p - W < j <= p reads a < b <= a + W: one (W, 2W) band mask for every chunk. T is padded with
zeros up to nW and one chunk of zero keys goes before chunk 0, both masked out (the keys padded
at the end come after every real query anyway); padded query rows are dropped. Half of each row
of scores lies outside the band: the price of plain batched matmuls. GPU kernels with a window
(FlashAttention-2's window_size) likewise compute only the tiles that meet the band.

One Function, not a composition of Tensor ops: the composition (concat, reshape, where, softmax,
matmul) would also be O(TW), but several of its nodes would each keep a (B, H, n, W, 2W) array;
this node keeps the weights w and the chunked q, k, v. Its backward is fused_causal.py's,
per chunk, with g = dL/dy in chunks:
    dL/dv = w^T g,   dL/ds = w * (g v^T - sum_j w_j (g v^T)_j) * scale,
    dL/dq = dL/ds k,   dL/dk = dL/ds^T q
and each chunk of keys (and values) collects its gradient from the two query chunks that saw it.
"""

from ..backend import backend_of, namespace
from ..engine.autograd import Function
from ..engine.errors import check_same_backend
from ..engine.ops.broadcast import broadcast_shape, unbroadcast
from ..engine.ops.matmul import swap_last
from ..engine.tensor import Tensor
from ..functional.softmax_backward import softmax_backward
from .checks import check_qkv, default_scale
from .masks import masked_fill_value


def window_attention(query, key, value, window, scale=None, mask=None):
    """Causal self-attention in which each query sees itself and the window - 1 keys before it.

    query (..., T, D), key (..., T, D), value (..., T, D_v) -> (..., T, D_v); the leading axes
    broadcast against each other (grouped-query attention: query (B, H_kv, G, T, D) with key and
    value (B, H_kv, 1, T, D)), and each gradient comes back in its input's shape.
    mask: optional boolean key-padding mask broadcastable to (..., 1, T), **True where attention
    is allowed** (padding_mask gives (B, 1, 1, T)). A query with no allowed key gets output 0.
    scale: multiplies q k^T; 1 / sqrt(D) by default.
    Equals scaled_dot_product_attention(query, key, value, mask & sliding_window_mask(T, window))
    at cost O(T * window) instead of O(T^2).
    """
    check_qkv("window_attention", query, key, value, same_length=True)
    t, d = query.shape[-2], query.shape[-1]
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window_attention: window must be an integer >= 1 (the query itself "
                         f"and window - 1 keys before it), got {window!r}")
    if t == 0:
        raise ValueError(f"window_attention: the sequence is empty: query {query.shape}")
    keep = _key_mask(mask, query)
    broadcast_shape("window_attention (leading axes of query, key, value, mask)",
                    query.shape[:-2], key.shape[:-2], value.shape[:-2],
                    () if keep is None else tuple(keep.shape[:-1]))
    scale = default_scale(d) if scale is None else float(scale)
    # a window reaching back past position 0 is plain causal attention; chunks wider than T waste work
    return WindowAttention.apply(query, key, value, window=min(window, t), scale=scale, keep=keep)


class WindowAttention(Function):
    """q (..., T, D), k (..., T, D), v (..., T, D_v) -> (..., T, D_v), in chunks of W queries.

    keep: None, or a boolean array (..., T): the keys that may be attended to (padding hidden).
    """

    __slots__ = ()

    def forward(self, q, k, v, window, scale, keep):
        xp = namespace(q)
        t = q.shape[-2]
        n = -(-t // window)                                         # chunks; the last one padded
        pad = n * window - t
        qc = _chunks(_pad(q, 0, pad), window)                       # (..., n, W, D)
        kc = _with_previous_chunk(_pad(k, window, pad), window)     # (..., n, 2W, D)
        vc = _with_previous_chunk(_pad(v, window, pad), window)     # (..., n, 2W, D_v)
        allowed = _allowed(backend_of(q), keep, t, window, pad)     # (..., n, W, 2W)
        scores = xp.matmul(qc, swap_last(xp, kc))                   # (..., n, W, 2W)
        scores *= scale
        scores = xp.where(allowed, scores, masked_fill_value(scores.dtype, xp))
        scores -= xp.max(scores, axis=-1, keepdims=True)
        w = xp.where(allowed, xp.exp(scores), 0.0)
        total = xp.sum(w, axis=-1, keepdims=True)                   # >= 1 unless nothing is allowed
        w /= xp.where(total > 0.0, total, 1.0)                      # such a row stays 0
        self.saved = (qc, kc, vc, w, scale, t)
        return _unchunk(xp.matmul(w, vc), t)

    def backward(self, g):
        qc, kc, vc, w, scale, t = self.saved
        xp = namespace(g)
        window = w.shape[-2]
        gc = _chunks(_pad(g, 0, w.shape[-3] * window - t), window)  # (..., n, W, D_v)
        dq = dk = dv = None
        if self.needs_grad[2]:
            dv = _fold(unbroadcast(xp, xp.matmul(swap_last(xp, w), gc), vc.shape), t)
        if self.needs_grad[0] or self.needs_grad[1]:
            ds = softmax_backward(w, xp.matmul(gc, swap_last(xp, vc)))  # dL/ds from dL/dw
            ds *= scale
            if self.needs_grad[0]:
                dq = _unchunk(unbroadcast(xp, xp.matmul(ds, kc), qc.shape), t)
            if self.needs_grad[1]:
                dk = _fold(unbroadcast(xp, xp.matmul(swap_last(xp, ds), qc), kc.shape), t)
        return dq, dk, dv


def _key_mask(mask, query):
    """The key-padding mask (..., 1, T) as a boolean array (..., T) of query's backend, or None."""
    if mask is None:
        return None
    mask = mask if isinstance(mask, Tensor) else Tensor(mask, backend=query.backend)
    check_same_backend("window_attention", [query.data, mask.data])
    if mask.dtype != "bool":
        raise TypeError(f"window_attention: the mask must be boolean (True = may attend), got {mask.dtype}")
    shape, t = mask.shape, query.shape[-2]
    if len(shape) < 2 or shape[-2] != 1 or shape[-1] not in (1, t):
        raise ValueError(f"window_attention: the mask hides keys and must broadcast to (..., 1, T) "
                         f"with T = {t} (e.g. padding_mask's (B, 1, 1, T)); got shape {shape}")
    keys = mask.data[..., 0, :]
    return namespace(keys).broadcast_to(keys, shape[:-2] + (t,))


def _allowed(backend, keep, t, window, pad):
    """(..., n, W, 2W) boolean: key b of the 2W is in query a's window and is a real, kept key."""
    xp, int64 = backend.xp, backend.dtype("int64")
    keys = backend.ones((t,), backend.dtype("bool")) if keep is None else keep
    keys = _with_previous_chunk(_pad(keys[..., None], window, pad), window)     # (..., n, 2W, 1)
    keys = xp.reshape(keys, keys.shape[:-2] + (1, 2 * window))                   # (..., n, 1, 2W)
    a = xp.reshape(backend.arange(0, window, 1, int64), (window, 1))              # query in chunk
    b = xp.reshape(backend.arange(0, 2 * window, 1, int64), (1, 2 * window))      # key in the 2W
    return keys & (b > a) & (b <= a + window)


def _pad(x, front, back):
    """x (..., T, F) with `front` rows of zeros (False for booleans) before and `back` after."""
    if not front and not back:
        return x
    backend = backend_of(x)
    lead, width = tuple(x.shape[:-2]), x.shape[-1]
    return backend.xp.concat([backend.zeros(lead + (front, width), x.dtype), x,
                              backend.zeros(lead + (back, width), x.dtype)], axis=-2)


def _chunks(x, window):
    """(..., nW, F) -> (..., n, W, F)."""
    *lead, rows, width = x.shape
    return namespace(x).reshape(x, (*lead, rows // window, window, width))


def _with_previous_chunk(x, window):
    """(..., (n + 1)W, F), one padding chunk in front -> (..., n, 2W, F): each chunk after the one before."""
    c = _chunks(x, window)
    return namespace(x).concat([c[..., :-1, :, :], c[..., 1:, :, :]], axis=-2)


def _unchunk(x, t):
    """(..., n, W, F) -> (..., T, F): the chunks back in one sequence, padded rows dropped."""
    *lead, n, window, width = x.shape
    return namespace(x).reshape(x, (*lead, n * window, width))[..., :t, :]


def _fold(grad, t):
    """Gradient (..., n, 2W, F) of the key chunks -> (..., T, F): chunk i's keys were used twice,
    as the second half of chunk i's 2W and as the first half of chunk i + 1's."""
    xp, window = namespace(grad), grad.shape[-2] // 2
    earlier, own = grad[..., :window, :], grad[..., window:, :]
    later = xp.concat([earlier[..., 1:, :, :], xp.zeros_like(earlier[..., :1, :, :])], axis=-3)
    return _unchunk(own + later, t)
