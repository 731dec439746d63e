"""Positional information. Attention by itself ignores order (permute the tokens and each output
is permuted the same way), so the position of each token has to be put in explicitly."""
import math

from ..engine.creation import arange, zeros
from ..engine.tensor_functions import concat, cos, sin
from .layers import Dropout, Embedding
from .module import Module


def sinusoidal_table(max_len, d_model, backend=None):
    """(max_len, d_model) table of *Attention Is All You Need*, section 3.5:
        PE[pos, 2i] = sin(pos / 10000^(2i / d_model)),  PE[pos, 2i + 1] = cos(same).
    Each pair of columns is a rotation at its own frequency, so PE[pos + k] is a fixed linear
    function of PE[pos]: relative offsets are easy for attention to read off."""
    position = arange(max_len, dtype="float64", backend=backend).unsqueeze(1)             # (T, 1)
    frequency = (arange(0, d_model, 2, dtype="float64", backend=backend)
                 * (-math.log(10000.0) / d_model)).exp()                                   # (d/2,)
    angle = position * frequency                                                            # (T, d/2)
    table = zeros(max_len, d_model, dtype="float64", backend=backend)
    table[:, 0::2] = sin(angle)
    table[:, 1::2] = cos(angle)[:, : d_model // 2]
    return table


class SinusoidalPositionalEncoding(Module):
    """x + PE[start : start + T], then dropout. x (B, T, d_model). The table is a buffer:
    saved with the model, moved by `to`, never trained."""

    def __init__(self, d_model, max_len=5000, dropout=0.0, dtype=None):
        super().__init__()
        self.register_buffer("pe", sinusoidal_table(max_len, d_model).to(dtype=dtype or "float32"),
                             persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x, start=0):
        _check_length(x.shape[1], start, self.pe.shape[0])
        return self.dropout(x + self.pe[start:start + x.shape[1]])


class LearnedPositionalEmbedding(Module):
    """x + a trained vector per position (GPT-2's wpe). x (B, T, d_model)."""

    def __init__(self, max_len, d_model, dtype=None):
        super().__init__()
        self.embedding = Embedding(max_len, d_model, dtype=dtype)

    def forward(self, x, start=0):
        _check_length(x.shape[1], start, self.embedding.num_embeddings)
        # positions start .. start + T - 1 are consecutive rows of the table: a slice, the same
        # numbers and gradient as looking them up, with no ids to check (on a GPU, no wait)
        return x + self.embedding.weight[start:start + x.shape[1]]


class RotaryEmbedding(Module):
    """Rotary position embedding (RoPE, Su et al. 2021): rotate each pair of features of the
    queries and keys by an angle proportional to the position, at a frequency per pair.

    Then q_m . k_n depends on the positions only through m - n: rotating both by their own
    angle leaves the angle *between* them. Pairs are (i, i + head_dim/2) ("rotate half", as
    GPT-NeoX and Llama): out = x * cos + rotate_half(x) * sin, rotate_half(x1, x2) = (-x2, x1).
    """

    def __init__(self, head_dim, max_len=4096, base=10000.0, dtype=None):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RotaryEmbedding: head_dim must be even, got {head_dim}")
        inverse_frequency = (arange(0, head_dim, 2, dtype="float64") * (-math.log(base) / head_dim)).exp()
        angle = arange(max_len, dtype="float64").unsqueeze(1) * inverse_frequency     # (T, head_dim/2)
        angle = concat([angle, angle], axis=-1)                                            # (T, head_dim)
        dtype = dtype or "float32"
        self.register_buffer("cos", cos(angle).to(dtype=dtype), persistent=False)
        self.register_buffer("sin", sin(angle).to(dtype=dtype), persistent=False)

    def forward(self, x, start=0):
        """x (B, H, T, head_dim) for positions start .. start + T - 1; same shape out."""
        time = x.shape[-2]
        _check_length(time, start, self.cos.shape[0])
        half = x.shape[-1] // 2
        rotated = concat([-x[..., half:], x[..., :half]], axis=-1)
        return x * self.cos[start:start + time] + rotated * self.sin[start:start + time]


def _check_length(time, start, max_len):
    if start + time > max_len:
        raise ValueError(f"positional encoding: positions up to {start + time} asked for, but the "
                         f"table was built for max_len={max_len}")
