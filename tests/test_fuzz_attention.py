"""Fuzzing the masks and the attention functions against PyTorch (fuzzing.py states the rule):
scaled_dot_product_attention, flash_attention and window_attention on random shapes (empty
sequences and width 0 included), dtypes and masks.

PyTorch's side computes tinyattn's documented meaning where it differs: a causal mask aligned to
the end of the keys (masks.py), combinable with a mask, and output 0 for a query that may attend
to no key.
"""
import numpy as np
import pytest
from fuzzing import FUZZ, Call, agree, dtypes, floats, shape_pairs, shapes, tensor_arg, values
from hypothesis import given
from hypothesis import strategies as st

import tinyattn

torch = pytest.importorskip("torch")

ATTENTION_OPS = {}

# Where tinyattn deliberately refuses what PyTorch computes, and why (each named in a docstring).
DIFFERENCES = {
    "empty window": "window_attention of an empty sequence (T = 0): tinyattn refuses it",
    "key mask": "window_attention's mask hides keys, (..., 1, T) (padding_mask's shape); a mask "
                "over (query, key) pairs is refused",
}


def fuzzed(*names):
    def register(drawer):
        for name in names:
            ATTENTION_OPS[name] = drawer
        return drawer
    return register


# -- masks ---------------------------------------------------------------------------------------
def positions(m, t_q, t_k):
    """PyTorch's side of tinyattn's masks: query i sits at position T_k - T_q + i (masks.py)."""
    return m.t.arange(t_k - t_q, t_k).unsqueeze(-1), m.t.arange(t_k).unsqueeze(0)


@fuzzed("tinyattn.causal_mask", "F.causal_mask", "tinyattn.sliding_window_mask")
def draw_causal_masks(draw):
    t_q, t_k, window = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(-1, 4))

    def causal(m):
        if m.t is tinyattn:
            return tinyattn.causal_mask(t_q, t_k)
        query, key = positions(m, t_q, t_k)
        return key <= query

    def sliding(m):
        if m.t is tinyattn:
            return tinyattn.sliding_window_mask(t_q, window, t_k)
        if window < 1:
            raise ValueError("window must be at least 1")
        query, key = positions(m, t_q, t_k)
        return (key <= query) & (key > query - window)
    if draw(st.booleans()):
        return Call(sliding, [], names=("sliding_window_mask",))
    return Call(causal, [], names=("causal_mask",))


@fuzzed("tinyattn.padding_mask", "F.padding_mask")
def draw_padding_mask(draw):
    if draw(st.booleans()):
        tokens, pad = values(draw, "int64", draw(shapes(min_dims=2, max_dims=2))), draw(st.integers(-1, 3))

        def from_tokens(m, t):
            return m.t.padding_mask(t, pad) if m.t is tinyattn else (t != pad)[:, None, None, :]
        return Call(from_tokens, [tokens], names=("padding_mask",))
    lengths, max_len = np.abs(values(draw, "int64", (draw(st.integers(0, 3)),))), draw(st.integers(0, 4))

    def from_lengths(m, n):
        if m.t is tinyattn:
            return m.t.padding_mask(lengths=n, max_len=max_len)
        return (m.t.arange(max_len)[None, :] < n[:, None])[:, None, None, :]
    return Call(from_lengths, [lengths], names=("padding_mask",))


# -- attention -------------------------------------------------------------------------------------
def attention_args(draw):
    """query, key, value and a mask (or None) with mostly matching shapes."""
    batch_q, batch_k = draw(shape_pairs(max_dims=2))
    t_q, t_k, d, d_v = (draw(st.integers(0, 3)) for _ in range(4))
    dtype = floats(draw)
    q = tensor_arg(draw, dtype=dtype, shape=batch_q + (t_q, d))
    k_width = d if draw(st.integers(0, 5)) else draw(st.integers(0, 3))
    k_dtype = dtype if draw(st.integers(0, 9)) else floats(draw)
    k = tensor_arg(draw, dtype=k_dtype, shape=batch_k + (t_k, k_width))
    v = tensor_arg(draw, dtype=dtype, shape=batch_k + (t_k if draw(st.integers(0, 5)) else 1, d_v))
    mask = None
    if draw(st.booleans()):
        shape = (t_q, t_k) if draw(st.integers(0, 4)) else draw(shapes(max_dims=3))
        mask = values(draw, "bool" if draw(st.integers(0, 5)) else draw(dtypes()), shape)
    return q, k, v, mask


def reference_attention(m, q, k, v, mask, is_causal, scale):
    """softmax(q k^T * scale + masking) v in PyTorch, with tinyattn's documented meaning: a causal
    mask aligned to the end of the keys (masks.py), combinable with a mask (PyTorch's SDPA refuses
    both at once), and a query that may attend to nothing gets output 0 (SDPA: NaN). Written
    out rather than through SDPA, whose empty inputs skip its checks and broadcasting."""
    if mask is not None and mask.dtype != m.t.bool:
        raise TypeError("the mask must be boolean")
    if not (q.dtype == k.dtype == v.dtype and q.dtype.is_floating_point):
        raise TypeError("query, key and value must share one floating dtype")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or k.shape[-2] != v.shape[-2]:
        raise ValueError("shapes (..., T, D) with as many keys as values")
    d = q.shape[-1]
    scale = (1.0 / d ** 0.5 if d else 1.0) if scale is None else scale     # width 0: scores are 0
    scores = (q @ k.transpose(-2, -1)) * scale
    allowed = mask
    if is_causal:
        query, key = positions(m, q.shape[-2], k.shape[-2])
        allowed = key <= query if allowed is None else allowed & (key <= query)
    if allowed is not None:
        allowed = allowed.expand(scores.shape)      # the mask must broadcast to the scores
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = m.t.softmax(scores, dim=-1)
    if allowed is not None:
        weights = weights.masked_fill(~allowed, 0.0)        # rows that may attend to nothing: 0
    return weights @ v


@fuzzed("F.scaled_dot_product_attention", "tinyattn.flash_attention")
def draw_attention(draw):
    q, k, v, mask = attention_args(draw)
    is_causal, scale = draw(st.booleans()), draw(st.sampled_from([None, 0.5]))
    flash, block = draw(st.booleans()), draw(st.sampled_from([1, 2, 128, 0]))

    def ours(m, q, k, v, *mask):
        if flash:
            return m.t.flash_attention(q, k, v, *mask, is_causal=is_causal, scale=scale, block_size=block)
        return m.F.scaled_dot_product_attention(q, k, v, *mask, is_causal=is_causal, scale=scale)

    def theirs(m, q, k, v, *mask):
        if flash and block < 1:
            raise ValueError("block_size must be positive")
        return reference_attention(m, q, k, v, mask[0] if mask else None, is_causal, scale)
    return Call(ours, [q, k, v] + ([mask] if mask is not None else []), torch_fn=theirs,
                names=("flash_attention" if flash else "scaled_dot_product_attention",))


@fuzzed("tinyattn.window_attention")
def draw_window_attention(draw):
    q, k, v, mask = attention_args(draw)
    window = draw(st.integers(0, 4))

    def theirs(m, q, k, v, *mask):
        if q.shape[-2] != k.shape[-2]:
            raise ValueError("self-attention: T_q == T_k")
        if window < 1:
            raise ValueError("window must be at least 1")
        query, key = positions(m, q.shape[-2], k.shape[-2])
        near = key > query - window
        return reference_attention(m, q, k, v, near & mask[0] if mask else near, True, None)
    def ours(m, q, k, v, *mask):
        return m.t.window_attention(q, k, v, window, mask=mask[0] if mask else None)
    refuses = DIFFERENCES["empty window"] if q.shape[-2] == 0 else \
        DIFFERENCES["key mask"] if mask is not None and mask.ndim >= 2 and mask.shape[-2] != 1 else None
    return Call(ours, [q, k, v] + ([mask] if mask is not None else []), torch_fn=theirs,
                names=("window_attention",), refuses=refuses)


@FUZZ
@pytest.mark.parametrize("name", sorted(ATTENTION_OPS))
@given(data=st.data())
def test_attention_agrees_with_pytorch_or_raises_naming_itself(name, data):
    agree(torch, ATTENTION_OPS[name](data.draw))
