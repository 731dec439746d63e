"""Memory-efficient ("flash") attention: exact softmax attention without the T_q x T_k matrix.

The readable `attention.scaled_dot_product_attention` builds the scores s = q k^T * scale and
the weights softmax(s), both (..., T_q, T_k), and keeps them for backward. Everything else in
attention grows like T (q, k, v, the output are (..., T, D)); these grow like T^2. At T = 4096
with 8 sequences of 12 heads that is 8 * 12 * 4096^2 float32 numbers: 6.4 GB per matrix.

Here keys are visited in tiles (groups of rows), and the softmax is computed *online*: each query row keeps a
running max m (`row_max`), a running sum l = sum_j exp(s_j - m) (`row_sum`) and a running
output acc = sum_j exp(s_j - m) v_j. A new tile of scores s_B updates them, rescaling the old
sums when the max grows (every old term was measured against the old max):

    m'   = max(m, max_j s_Bj)
    l'   = exp(m - m') l   + sum_j exp(s_Bj - m')
    acc' = exp(m - m') acc + sum_j exp(s_Bj - m') v_j          and at the end  out = acc / l

which is exactly softmax(s) v, one tile at a time. Queries are tiled too, so the working set
is one (tile x tile) block of scores, whatever T is.

Backward needs the weights P again. Saving them would bring the T^2 memory back, so backward
*recomputes* each tile from q, k and the per-row log-sum-exp lse = m + log l (T_q numbers):
P = exp(S - lse). One more matmul per tile buys O(T) memory. With dO = dL/dout, per tile:
    dV += P^T dO,   dP = dO V^T,   dS = P * (dP - D),   dQ += dS K * scale,   dK += dS^T Q * scale
where D_i = sum_j P_ij dP_ij = dO_i . out_i (softmax's backward), computed once from dO and out.
"""

from ..backend import backend_of, namespace
from ..engine.autograd import Function
from ..engine.ops.broadcast import broadcast_shape, unbroadcast
from ..engine.ops.matmul import swap_last
from ..functional.softmax_backward import softmax_backward
from .checks import check_qkv, default_scale
from .masks import causal_allowed, checked_mask, masked_fill_value, query_position


def flash_attention(query, key, value, mask=None, is_causal=False, scale=None, block_size=128):
    """softmax(q k^T * scale + masking) v, computed tile by tile; same result as
    `scaled_dot_product_attention`, in memory linear in the sequence lengths.

    query (..., T_q, D), key (..., T_k, D), value (..., T_k, D_v) -> (..., T_q, D_v); the leading
    axes of the three broadcast against each other (grouped-query attention passes one key/value
    head for G query heads); gradients come back in each input's own shape.
    mask: boolean, broadcastable to (..., T_q, T_k), **True where attention is allowed**.
    is_causal: also hide keys after each query (aligned to the end when T_q < T_k; see causal_mask).
    scale: defaults to 1 / sqrt(D). block_size: rows of queries and of keys per tile
    (the name PyTorch's and FlashAttention's kernels use).
    A query that may attend to no key gets output 0 (and zero gradients), not NaN.
    """
    batch = check_qkv("flash_attention", query, key, value)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"flash_attention: block_size must be a positive integer, got {block_size!r}")
    scores = batch + (query.shape[-2], key.shape[-2])
    if mask is not None:
        mask = checked_mask("flash_attention", mask, scores, query.backend)
        mask = mask.reshape((1,) * (2 - mask.ndim) + mask.shape).data     # tiles slice its last two axes
    scale = default_scale(query.shape[-1]) if scale is None else float(scale)
    return FlashAttention.apply(query, key, value, mask=mask, is_causal=bool(is_causal), scale=scale,
                                tile=block_size)


class FlashAttention(Function):
    """q (..., T_q, D), k (..., T_k, D), v (..., T_k, D_v) -> (..., T_q, D_v); see the module doc.

    Saves q, k, v, the output, the log-sum-exp (..., T_q, 1) of each row and the user's mask (an
    array the caller already holds); it makes nothing of size T_q x T_k.

    Both queries and keys are tiled. Tiling only keys would already avoid the T_q x T_k matrix,
    but its tiles (T_q x tile) still grow with T, and a causal mask could then skip nothing.
    The price of two loops is Python overhead per tile (about ten array calls): with tiles of 128 a
    1024-token sequence is 64 tiles (36 when causal), small next to the matmuls inside them.
    """

    __slots__ = ()
    saves_output = True

    def forward(self, q, k, v, mask, is_causal, scale, tile):
        xp, backend = namespace(q), backend_of(q)
        t_q, t_k = q.shape[-2], k.shape[-2]
        batch = broadcast_shape("flash_attention", q.shape[:-2], k.shape[:-2], v.shape[:-2])
        lowest = masked_fill_value(q.dtype, xp)       # finite: max and exp never meet inf - inf
        # an empty first piece, so that T_q = 0 (no tile at all) concatenates to an empty output
        outs = [backend.zeros(batch + (0, v.shape[-1]), q.dtype)]
        lses = [backend.zeros(batch + (0, 1), q.dtype)]
        for qs in _tiles(0, t_q, tile):
            rows = batch + (qs.stop - qs.start,)
            q_tile = q[..., qs, :] * scale                     # scaling q is cheaper than scaling s
            row_max = xp.full(rows + (1,), lowest, dtype=q.dtype, **backend.place)    # m
            row_sum = backend.zeros(rows + (1,), q.dtype)                             # l
            acc = backend.zeros(rows + (v.shape[-1],), q.dtype)
            for ks in _key_tiles(qs, t_q, t_k, tile, is_causal):
                s = xp.matmul(q_tile, swap_last(xp, k[..., ks, :]))             # (..., bq, bk)
                allowed = _allowed(backend, mask, is_causal, t_q, t_k, qs, ks)
                if allowed is not None:
                    s = xp.where(allowed, s, lowest)
                new_max = xp.maximum(row_max, xp.max(s, axis=-1, keepdims=True))
                p = xp.exp(s - new_max)
                if allowed is not None:      # a row masked so far has new_max = lowest: exp(0) = 1
                    p = xp.where(allowed, p, 0.0)
                rescale = xp.exp(row_max - new_max)            # old sums were taken against row_max
                row_sum = rescale * row_sum + xp.sum(p, axis=-1, keepdims=True)
                acc *= rescale
                acc += xp.matmul(p, v[..., ks, :])
                row_max = new_max
            # a row with no allowed key has acc = 0 and row_sum = 0: divide by 1, giving output 0
            row_sum = xp.where(row_sum > 0.0, row_sum, 1.0)
            outs.append(acc / row_sum)
            lses.append(row_max + xp.log(row_sum))
        out, lse = xp.concat(outs, axis=-2), xp.concat(lses, axis=-2)
        self.saved = (q, k, v, out, lse, mask, is_causal, scale, tile)
        return out

    def backward(self, g):
        q, k, v, out, lse, mask, is_causal, scale, tile = self.saved
        xp, backend = namespace(g), backend_of(g)
        t_q, t_k = q.shape[-2], k.shape[-2]
        batch = out.shape[:-2]
        lowest = masked_fill_value(q.dtype, xp)
        delta = xp.sum(g * out, axis=-1, keepdims=True)         # D_i = dO_i . out_i   (..., T_q, 1)
        dq = backend.zeros(batch + q.shape[-2:], q.dtype)       # summed over broadcast axes at the end
        dks = [backend.zeros(k.shape[:-2] + (0, k.shape[-1]), q.dtype)]        # as outs: T_k = 0
        dvs = [backend.zeros(v.shape[:-2] + (0, v.shape[-1]), q.dtype)]
        # keys outside, queries inside: a key tile's dK and dV are finished when its loop ends
        for ks in _tiles(0, t_k, tile):
            k_tile, v_tile = k[..., ks, :], v[..., ks, :]
            dk = backend.zeros(batch + k_tile.shape[-2:], q.dtype)
            dv = backend.zeros(batch + v_tile.shape[-2:], q.dtype)
            for qs in _query_tiles(ks, t_q, t_k, tile, is_causal):
                q_tile, g_tile = q[..., qs, :] * scale, g[..., qs, :]
                s = xp.matmul(q_tile, swap_last(xp, k_tile)) - lse[..., qs, :]
                allowed = _allowed(backend, mask, is_causal, t_q, t_k, qs, ks)
                if allowed is not None:
                    s = xp.where(allowed, s, lowest)           # exp(lowest) = 0: masked P is 0
                p = xp.exp(s)                                  # the forward's weights, recomputed
                dv += xp.matmul(swap_last(xp, p), g_tile)
                dp = xp.matmul(g_tile, swap_last(xp, v_tile))  # dP; P's row sums of P * dP are D
                ds = softmax_backward(p, dp, total=delta[..., qs, :])   # dS = P * (dP - D)
                dq[..., qs, :] += xp.matmul(ds, k_tile) * scale
                dk += xp.matmul(swap_last(xp, ds), q_tile)     # q_tile already carries the scale
            dks.append(unbroadcast(xp, dk, k.shape[:-2] + dk.shape[-2:]))
            dvs.append(unbroadcast(xp, dv, v.shape[:-2] + dv.shape[-2:]))
        return unbroadcast(xp, dq, q.shape), xp.concat(dks, axis=-2), xp.concat(dvs, axis=-2)


def _tiles(start, stop, tile):
    """Slices of `tile` rows covering start:stop, starting on a multiple of `tile`."""
    first = start // tile * tile
    return [slice(t, min(t + tile, stop)) for t in range(first, stop, tile)]


def _key_tiles(qs, t_q, t_k, tile, is_causal):
    """The key tiles query rows qs may see. Causal: a query sees keys up to its position
    (masks.query_position), so tiles wholly after the last query's position are skipped."""
    return _tiles(0, min(t_k, query_position(qs.stop, t_q, t_k)) if is_causal else t_k, tile)


def _query_tiles(ks, t_q, t_k, tile, is_causal):
    """The query tiles that may see key rows ks: causal, those from the first query at or after
    the first key's position (the same tiles the forward visited)."""
    first_query = ks.start - query_position(0, t_q, t_k)          # the query at the key's position
    return _tiles(max(0, first_query) if is_causal else 0, t_q, tile)


def _allowed(backend, mask, is_causal, t_q, t_k, qs, ks):
    """(..., bq, bk) booleans: may query row i of qs attend to key j of ks? None if all may.

    Built per tile: the causal part from positions (only for tiles that cross the diagonal),
    the user's mask by slicing (an axis of size 1 broadcasts and is not sliced).
    """
    allowed = None
    if is_causal and ks.stop - 1 > query_position(qs.start, t_q, t_k):   # last key after first query
        allowed = causal_allowed(backend, t_q, t_k, qs, ks)
    if mask is not None:
        tile = mask[..., qs if mask.shape[-2] > 1 else slice(None), ks if mask.shape[-1] > 1 else slice(None)]
        allowed = tile if allowed is None else tile & allowed
    return allowed
