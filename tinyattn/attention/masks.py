"""Attention masks as boolean tensors: True where a query may attend to a key.

(This is PyTorch's convention for boolean masks in scaled_dot_product_attention. Beware that
nn.MultiheadAttention's key_padding_mask uses the opposite one.)

The masks first, as pictures; then where each query and key sits in the sequence, decided here
once (`positions`: key j at position j, query i at T_k - T_q + i), from which the masks, flash
attention's tiles and the fused path's causal bias all start; `masked_fill_value`, what a
hidden score becomes; and `checked_mask`, the checks a user's mask goes through.
"""
from ..backend import get_backend
from ..engine.creation import arange
from ..engine.tensor import Tensor


def causal_mask(num_queries, num_keys=None, backend=None):
    """(T_q, T_k) mask letting each query see itself and the keys before it, never after.

    When there are more keys than queries (decoding with a key/value cache: the queries are the
    last T_q positions), the queries are aligned to the *end* of the keys: query i sits at
    position T_k - T_q + i. (PyTorch aligns to the start; the two agree when T_q == T_k.)

        causal_mask(4) =  1 0 0 0
                          1 1 0 0
                          1 1 1 0
                          1 1 1 1
    """
    num_keys = num_queries if num_keys is None else num_keys
    return Tensor._make(causal_allowed(backend, num_queries, num_keys), False, None)


def padding_mask(tokens=None, pad_id=None, lengths=None, max_len=None, backend=None):
    """(B, 1, 1, T) mask that hides padding keys, ready to broadcast over heads and queries.

    Either from token ids (B, T) and the id used for padding: True where tokens != pad_id;
    or from the true lengths (B,) of sequences padded to max_len: True at positions < length.
    """
    if tokens is not None:
        if pad_id is None:
            raise ValueError("padding_mask: give pad_id with tokens (or lengths instead)")
        tokens = tokens if isinstance(tokens, Tensor) else Tensor(tokens, backend=backend)
        keep = tokens != pad_id
    else:
        if lengths is None or max_len is None:
            raise ValueError("padding_mask: give tokens and pad_id, or lengths and max_len")
        lengths = lengths if isinstance(lengths, Tensor) else Tensor(lengths, backend=backend)
        keep = arange(max_len, backend=lengths.backend).unsqueeze(0) < lengths.unsqueeze(-1)
    return keep.unsqueeze(1).unsqueeze(1)


def sliding_window_mask(num_queries, window, num_keys=None, backend=None):
    """(T_q, T_k) mask letting each query see itself and the window - 1 keys just before it.

    Local (sliding-window) causal attention: key j is allowed for the query at position p when
    p - window < j <= p. Queries are aligned to the end of the keys as in causal_mask (query i
    sits at position T_k - T_q + i); with window >= T_k it is causal_mask.

        sliding_window_mask(5, 2) =  1 0 0 0 0
                                     1 1 0 0 0
                                     0 1 1 0 0
                                     0 0 1 1 0
                                     0 0 0 1 1
    """
    if window < 1:
        raise ValueError(f"sliding_window_mask: window must be at least 1 (the query itself), got {window}")
    num_keys = num_queries if num_keys is None else num_keys
    query_pos, key_pos = positions(backend, num_queries, num_keys)          # (T_q, 1), (1, T_k)
    return Tensor._make((key_pos <= query_pos) & (key_pos > query_pos - window), False, None)


def query_position(i, num_queries, num_keys):
    """The position of query i among T_k keys: T_k - T_q + i. The queries are the *last* T_q
    positions (decoding with a key/value cache: the new tokens come after the cached ones)."""
    return num_keys - num_queries + i


def positions(backend, num_queries, num_keys, queries=slice(None), keys=slice(None)):
    """Integer arrays (n_q, 1) and (1, n_k) of the positions of queries and keys (see
    query_position), on `backend` (a name, a Backend, or None for the active one).
    queries, keys: slices of the T_q queries and T_k keys, for a tile (flash.py works in tiles)."""
    backend = get_backend(backend)
    xp, int64 = backend.xp, backend.dtype("int64")
    q_start, q_stop, _ = queries.indices(num_queries)
    k_start, k_stop, _ = keys.indices(num_keys)
    query_pos = backend.arange(query_position(q_start, num_queries, num_keys),
                               query_position(q_stop, num_queries, num_keys), 1, int64)
    key_pos = backend.arange(k_start, k_stop, 1, int64)
    return xp.reshape(query_pos, (-1, 1)), xp.reshape(key_pos, (1, -1))


def causal_allowed(backend, num_queries, num_keys, queries=slice(None), keys=slice(None)):
    """(n_q, n_k) boolean array, True where the key's position is at most the query's: the array
    behind causal_mask, for all queries and keys or for a tile of them (arguments as positions)."""
    query_pos, key_pos = positions(backend, num_queries, num_keys, queries, keys)
    return key_pos <= query_pos


def masked_fill_value(dtype, xp):
    """The score a hidden (query, key) pair gets: the most negative finite number of `dtype`.
    After subtracting the row's max, exp of it is 0; -inf would give inf - inf = NaN in a row
    with nothing allowed."""
    return float(xp.finfo(dtype).min)


def checked_mask(op, mask, scores_shape, backend):
    """`mask` as a boolean Tensor on `backend`, after checking that it can mask scores of shape
    scores_shape (..., T_q, T_k); a clear error naming `op` otherwise. Arrays are wrapped."""
    if isinstance(mask, Tensor) and mask.backend is not backend:
        raise TypeError(f"{op}: the mask lives on backend {mask.backend.name}, the query on "
                        f"{backend.name}; move it with .to({backend.name!r})")
    mask = mask if isinstance(mask, Tensor) else Tensor(mask, backend=backend)
    if mask.dtype != "bool":
        raise TypeError(f"{op}: the mask must be boolean (True = may attend), got {mask.dtype}")
    shape = tuple(scores_shape)
    if mask.ndim > len(shape) or any(m not in (1, s) for m, s in zip(reversed(mask.shape), reversed(shape))):
        raise ValueError(f"{op}: mask of shape {mask.shape} does not broadcast to the attention "
                         f"scores {shape} (..., T_q, T_k)")
    return mask
