"""Attention masks as boolean tensors: True where a query may attend to a key.

(This is PyTorch's convention for boolean masks in scaled_dot_product_attention. Beware that
nn.MultiheadAttention's key_padding_mask uses the opposite one.)
"""
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
    query_pos = arange(num_keys - num_queries, num_keys, backend=backend).unsqueeze(-1)   # (T_q, 1)
    key_pos = arange(num_keys, backend=backend).unsqueeze(0)                               # (1, T_k)
    return key_pos <= query_pos


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
    query_pos = arange(num_keys - num_queries, num_keys, backend=backend).unsqueeze(-1)   # (T_q, 1)
    key_pos = arange(num_keys, backend=backend).unsqueeze(0)                               # (1, T_k)
    return (key_pos <= query_pos) & (key_pos > query_pos - window)


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
