"""The checks every attention function makes on query, key and value, written once.

scaled_dot_product_attention, flash_attention and window_attention take the same three tensors,
so they reject the same mistakes with the same words, once, where the user's call enters (the
Functions inside trust their arguments). Masks are checked by masks.checked_mask.
"""
import math

from ..engine.dtypes import FLOAT_DTYPES
from ..engine.ops.broadcast import broadcast_shape
from ..engine.tensor import Tensor


def default_scale(d):
    """1 / sqrt(d), the scale of the scores; 1 for d = 0, where every score is 0 whatever the scale
    (1 / sqrt(0) failed with ZeroDivisionError; PyTorch's weights are uniform there)."""
    return 1.0 / math.sqrt(d) if d else 1.0


def check_qkv(op, query, key, value, same_length=False):
    """Clear errors naming `op` unless query (..., T_q, D), key (..., T_k, D) and value
    (..., T_k, D_v) are tensors of one floating dtype whose widths and lengths line up and whose
    leading axes broadcast (same_length: also T_q == T_k, as self-attention needs).
    Returns the broadcast leading axes (the batch shape of the scores)."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{op}: {name} must have shape (..., T, D), got {t.shape}")
    if same_length and not query.shape[-2] == key.shape[-2] == value.shape[-2]:
        raise ValueError(f"{op}: query {query.shape}, key {key.shape} and value {value.shape} must "
                         "have the same length T (self-attention: T_q == T_k)")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"{op}: query {query.shape} and key {key.shape} must share the width D: "
                         f"{query.shape[-1]} != {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: key {key.shape} and value {value.shape} must have the same number "
                         f"of keys T_k: {key.shape[-2]} != {value.shape[-2]}")
    if query.dtype not in FLOAT_DTYPES or key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError(f"{op}: query, key and value must share one floating dtype, "
                        f"got {query.dtype}, {key.dtype}, {value.dtype}")
    return broadcast_shape(f"{op} (leading axes of query, key, value)",
                           query.shape[:-2], key.shape[:-2], value.shape[:-2])
