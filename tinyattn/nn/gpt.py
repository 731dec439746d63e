"""GPT: a decoder-only language model, a stack of decoder blocks between embeddings and a head.

A decoder block is the Transformer's layer with causal self-attention and no cross-attention:
each position may look only at itself and the positions before it, so the model can be trained
to predict every next token at once. The norms come first in each sublayer (pre-norm, GPT-2's
choice): x = x + attention(norm1(x)), then x = x + feed_forward(norm2(x)).
"""
import json
import math
from pathlib import Path

from ..attention.kv_cache import KVCache
from ..engine.creation import randn
from ..engine.tensor import Tensor
from ..hub import locate
from ..safetensors import load_safetensors, save_safetensors
from . import gpt2_format
from .layers import Dropout, Embedding, FeedForward, LayerNorm, Linear, ModuleList
from .module import Module
from .multi_head_attention import MultiHeadAttention
from .positional import LearnedPositionalEmbedding, RotaryEmbedding
from .transformer import cached_length, keep_weights


class DecoderBlock(Module):
    """Pre-norm causal self-attention then feed-forward, each added to the residual stream.
    x (B, T, d_model) -> same shape. forward(x, cache=None, rotary=None, need_weights=False): a
    KVCache for decoding and a RotaryEmbedding, both passed to the self-attention (see
    MultiHeadAttention); need_weights=True returns (x, self-attention weights (B, H, T, T_k)).
    num_kv_heads (grouped-query attention), attention and window: see MultiHeadAttention.
    The attribute names are TransformerEncoderLayer's, so a GPT's state_dict keys are too."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, activation="gelu", bias=True, dtype=None,
                 *, num_kv_heads=None, attention="standard", window=None):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias, dtype=dtype,
                                            num_kv_heads=num_kv_heads, attention=attention, window=window)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation, bias=bias, dtype=dtype)
        self.norm1 = LayerNorm(d_model, dtype=dtype)
        self.norm2 = LayerNorm(d_model, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, x, cache=None, rotary=None, need_weights=False):
        weights = []                                                           # (B, H, T, T_k), if asked
        attended = self.self_attn(self.norm1(x), is_causal=True, cache=cache, rotary=rotary,
                                  need_weights=need_weights)
        x = x + self.dropout1(keep_weights(attended, need_weights, weights))  # (B, T, d_model)
        x = x + self.dropout2(self.feed_forward(self.norm2(x)))                 # (B, T, d_model)
        return (x, weights[0]) if need_weights else x


class GPT(Module):
    """A decoder-only language model (GPT-2's layout): token and position embeddings, a stack of
    pre-norm causal self-attention blocks, a final norm, and a head back to the vocabulary.

    idx (B, T) token ids -> logits (B, T, vocab_size) for the next token at every position.
    positional="learned" (GPT-2) or "rotary" (RoPE in every attention, no position table).
    tie_weights=True (default) makes the head share the token embedding's weight.
    num_kv_heads: key/value heads per attention, fewer than num_heads for grouped-query attention
    (1: multi-query), which shrinks the decoding cache by num_heads / num_kv_heads.
    attention="standard", "flash" or "window" (with window=W: each token sees the last W, and
    the decoding cache keeps only W - 1 positions): see MultiHeadAttention.
    Weights start as in GPT-2: N(0, 0.02), with the projections into the residual stream
    scaled by 1/sqrt(2 * num_layers) so the residual sum does not grow with depth.
    """

    def __init__(self, vocab_size, d_model, num_heads, num_layers, max_len, d_ff=None, dropout=0.0,
                 positional="learned", tie_weights=True, bias=True, activation="gelu", dtype=None, *,
                 num_kv_heads=None, attention="standard", window=None):
        super().__init__()
        if positional not in ("learned", "rotary"):
            raise ValueError(f"GPT: positional must be 'learned' or 'rotary', got {positional!r}")
        self.max_len = max_len
        self.token_embedding = Embedding(vocab_size, d_model, dtype=dtype)
        self.position_embedding = LearnedPositionalEmbedding(max_len, d_model, dtype=dtype) \
            if positional == "learned" else None
        self.rotary = RotaryEmbedding(d_model // num_heads, max_len, dtype=dtype) \
            if positional == "rotary" else None
        self.dropout = Dropout(dropout)
        attention_args = dict(num_kv_heads=num_kv_heads, attention=attention, window=window)
        self.blocks = ModuleList(
            DecoderBlock(d_model, num_heads, d_ff or 4 * d_model, dropout, activation, bias=bias,
                         dtype=dtype, **attention_args)
            for _ in range(num_layers))
        self.final_norm = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, vocab_size, bias=False, dtype=dtype)
        self._init_weights(num_layers)
        if tie_weights:
            self.head.weight = self.token_embedding.weight

    @classmethod
    def from_pretrained(cls, path_or_name, dtype="float32"):
        """A GPT-2 from Hugging Face's files: a directory holding config.json and model.safetensors
        (as transformers' save_pretrained writes them, or as the hub keeps them), or a hub name
        ("gpt2", "openai-community/gpt2-medium", "distilgpt2", ...) fetched and cached through
        huggingface_hub. The model comes in eval mode, as transformers gives it (call .train()
        to train it further), in float32 unless dtype says otherwise. See gpt2_format.py for
        how GPT-2's names map to ours; a config this GPT cannot compute is a ValueError.
        """
        directory = locate(path_or_name, ("config.json", "model.safetensors"), "GPT.from_pretrained")
        config_path, weights_path = directory / "config.json", directory / "model.safetensors"
        with open(config_path, encoding="utf-8") as f:
            arguments = gpt2_format.gpt_arguments(json.load(f), config_path)
        model = cls(**arguments, dtype=dtype)
        model.load_state_dict(gpt2_format.gpt2_to_gpt(load_safetensors(weights_path), arguments["num_layers"],
                                                      arguments["tie_weights"], weights_path))
        return model.eval()

    def save_pretrained(self, directory):
        """Write config.json and model.safetensors in GPT-2's layout, which
        transformers.GPT2LMHeadModel.from_pretrained(directory) and GPT.from_pretrained load.
        A GPT that GPT-2 cannot hold (rotary positions, grouped-query or window attention) is a
        ValueError naming the option."""
        config = gpt2_format.gpt2_config(self)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_safetensors(gpt2_format.gpt_to_gpt2(self), directory / "model.safetensors",
                         metadata={"format": "pt"})
        with open(directory / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True)
            f.write("\n")

    def _init_weights(self, num_layers):
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.data = p.data * 0.0
            elif p.ndim > 1:
                std = 0.02
                if name.endswith(("out_proj.weight", "linear2.weight")):
                    std = 0.02 / math.sqrt(2 * num_layers)
                p.data = (randn(*p.shape, dtype=p.dtype) * std).data

    def forward(self, idx, cache=None, need_weights=False):
        """idx (B, T) -> logits (B, T, vocab_size). With a cache (a list, empty at first, that
        forward fills with a KVCache per block and that is kept between calls) idx holds only
        the new tokens; positions continue after the cache. need_weights=True returns (logits,
        a list of each block's self-attention weights (B, H, T, T_k)), T_k counting the cached
        positions too; row t is what position t read, zero above the causal diagonal. Asking
        for them takes the readable attention path, which forms the weights (slower)."""
        _check_token_ids(idx)
        start = cached_length(cache)
        if start + idx.shape[1] > self.max_len:
            raise ValueError(f"GPT: sequence of length {start + idx.shape[1]} is longer than "
                             f"max_len={self.max_len}")
        x = self.token_embedding(idx)
        if self.position_embedding is not None:
            x = self.position_embedding(x, start=start)
        x = self.dropout(x)
        if cache is not None and not cache:
            cache.extend(KVCache(window=block.self_attn.window) for block in self.blocks)
        all_weights = []
        for i, block in enumerate(self.blocks):
            x = keep_weights(block(x, cache=None if cache is None else cache[i], rotary=self.rotary,
                                   need_weights=need_weights), need_weights, all_weights)
        logits = self.head(self.final_norm(x))                                 # (B, T, vocab_size)
        return (logits, all_weights) if need_weights else logits


def _check_token_ids(idx):
    """GPT's input must be a (B, T) tensor of integer token ids: say so, rather than fail deep inside."""
    if not isinstance(idx, Tensor):
        raise TypeError(f"GPT: idx must be (B, T) integer token ids, a Tensor; got {type(idx).__name__} "
                        "(make one with tinyattn.tensor(...))")
    if idx.ndim != 2:
        hint = " (one sequence: idx.unsqueeze(0))" if idx.ndim == 1 else ""
        raise ValueError(f"GPT: idx must be (B, T) integer token ids; got a tensor of shape "
                         f"{idx.shape}{hint}")
    if not idx.dtype.startswith(("int", "uint")):
        raise TypeError(f"GPT: idx must be (B, T) integer token ids; got {idx.dtype}")
