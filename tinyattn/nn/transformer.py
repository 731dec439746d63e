"""Transformer layers and the two models built from them: the encoder-decoder of *Attention Is
All You Need* (`Transformer`); gpt.py builds the decoder-only language model from them.

Every layer is two sublayers, attention then feed-forward, each wrapped in a residual
connection and a layer norm. Where the norm goes is the one choice:
    post-norm (the paper):   x = norm(x + sublayer(x))
    pre-norm (GPT-2):        x = x + sublayer(norm(x))     (trains more easily when deep)
"""
import math

from ..attention.kv_cache import DecoderLayerCache
from ..engine.creation import rand
from .layers import Dropout, Embedding, FeedForward, LayerNorm, Linear, ModuleList
from .module import Module
from .multi_head_attention import MultiHeadAttention
from .positional import SinusoidalPositionalEncoding


class TransformerEncoderLayer(Module):
    """Self-attention then feed-forward. x (B, T, d_model) -> same shape.
    forward(x, mask=None, is_causal=False, cache=None, rotary=None, need_weights=False): mask
    and the rest go to the self-attention (see MultiHeadAttention). (GPT's layer, pre-norm and
    always causal, is gpt.py's DecoderBlock.)
    num_kv_heads (grouped-query attention), attention and window: see MultiHeadAttention."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, activation="relu", norm_first=False,
                 bias=True, dtype=None, *, num_kv_heads=None, attention="standard", window=None):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias, dtype=dtype,
                                            num_kv_heads=num_kv_heads, attention=attention, window=window)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation, bias=bias, dtype=dtype)
        self.norm1 = LayerNorm(d_model, dtype=dtype)
        self.norm2 = LayerNorm(d_model, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, x, mask=None, is_causal=False, cache=None, rotary=None, need_weights=False):
        """Returns x, or (x, self-attention weights (B, H, T, T)) with need_weights=True."""
        weights = []

        def attend(h):
            out = self.self_attn(h, mask=mask, is_causal=is_causal, cache=cache, rotary=rotary,
                                 need_weights=need_weights)
            return self.dropout1(keep_weights(out, need_weights, weights))

        def feed(h):
            return self.dropout2(self.feed_forward(h))

        if self.norm_first:
            x = x + attend(self.norm1(x))
            x = x + feed(self.norm2(x))
        else:
            x = self.norm1(x + attend(x))
            x = self.norm2(x + feed(x))
        return (x, weights[0]) if need_weights else x


class TransformerDecoderLayer(Module):
    """Causal self-attention, cross-attention to the encoder's output (memory), feed-forward.
    forward(x (B, T, d), memory (B, S, d), tgt_mask=None, memory_mask=None, cache=None).
    The self-attention is always causal; tgt_mask can hide more (padding). memory_mask hides
    padding in the source. cache: a DecoderLayerCache (attention/kv_cache.py) kept between
    decoding steps, holding the self-attention's and the cross-attention's KVCache.
    num_kv_heads and attention: see MultiHeadAttention; both attentions take them, except that
    attention="window" (with window=W) is for causal self-attention only, so the
    cross-attention then attends the standard way."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1, activation="relu", norm_first=False,
                 bias=True, dtype=None, *, num_kv_heads=None, attention="standard", window=None):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias, dtype=dtype,
                                            num_kv_heads=num_kv_heads, attention=attention, window=window)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout, bias=bias, dtype=dtype,
                                             num_kv_heads=num_kv_heads,
                                             attention="standard" if attention == "window" else attention)
        self.feed_forward = FeedForward(d_model, d_ff, dropout, activation, bias=bias, dtype=dtype)
        self.norm1 = LayerNorm(d_model, dtype=dtype)
        self.norm2 = LayerNorm(d_model, dtype=dtype)
        self.norm3 = LayerNorm(d_model, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, cache=None, need_weights=False):
        """Returns x, or (x, cross-attention weights (B, H, T, S)) with need_weights=True."""
        self_cache = None if cache is None else cache.self_attn
        cross_cache = None if cache is None else cache.cross_attn
        weights = []

        def attend_self(h):
            return self.dropout1(self.self_attn(h, mask=tgt_mask, is_causal=True, cache=self_cache))

        def attend_memory(h):
            out = self.cross_attn(h, memory, mask=memory_mask, need_weights=need_weights, cache=cross_cache)
            return self.dropout2(keep_weights(out, need_weights, weights))

        def feed(h):
            return self.dropout3(self.feed_forward(h))

        if self.norm_first:
            x = x + attend_self(self.norm1(x))
            x = x + attend_memory(self.norm2(x))
            x = x + feed(self.norm3(x))
        else:
            x = self.norm1(x + attend_self(x))
            x = self.norm2(x + attend_memory(x))
            x = self.norm3(x + feed(x))
        return (x, weights[0]) if need_weights else x


def keep_weights(result, need_weights, weights):
    """A layer's or attention's result without its attention weights, which are appended to the
    list `weights` when asked for (need_weights=True made the call return (output, weights))."""
    if not need_weights:
        return result
    out, w = result
    weights.append(w)
    return out


def xavier_uniform_(module):
    """Re-draw every matrix parameter uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot), as the
    Annotated Transformer and PyTorch's nn.Transformer do; vectors (biases, norms) are kept."""
    for p in module.parameters():
        if p.ndim > 1:
            fan_out, fan_in = p.shape[0], p.shape[1]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            p.data = ((rand(*p.shape, dtype=p.dtype) * 2.0 - 1.0) * bound).data


class Transformer(Module):
    """The encoder-decoder Transformer of *Attention Is All You Need*.

    src (B, S) and tgt (B, T) token ids -> logits (B, T, tgt_vocab_size) for the next target token.
    Embeddings are multiplied by sqrt(d_model) (section 3.4) and get sinusoidal positions.
    src_mask (B, 1, 1, S): True for real source tokens (see padding_mask); tgt_mask: extra
    hiding in the decoder's self-attention, which is causal anyway.
    norm_first=True places the norms GPT-2's way and adds a final norm to each stack.
    tie_weights=True shares the target embedding with the output projection (section 3.4).
    bias=False drops the biases of the attention and feed-forward layers (as GPT's bias does).
    num_kv_heads (grouped-query attention) and attention ("standard" or "flash", which needs
    dropout=0.0) go to every attention: see MultiHeadAttention.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, d_model, num_heads, num_encoder_layers,
                 num_decoder_layers, d_ff, dropout=0.1, max_len=5000, norm_first=False,
                 tie_weights=False, activation="relu", dtype=None, *, bias=True, num_kv_heads=None,
                 attention="standard"):
        super().__init__()
        self.d_model = d_model
        self.src_embed = Embedding(src_vocab_size, d_model, dtype=dtype)
        self.tgt_embed = Embedding(tgt_vocab_size, d_model, dtype=dtype)
        self.positional = SinusoidalPositionalEncoding(d_model, max_len, dropout, dtype=dtype)
        if attention == "window":
            raise ValueError("Transformer: attention='window' is causal self-attention only; the "
                             "encoder's self-attention and the cross-attention see every position. "
                             "Use 'standard' or 'flash'")
        layer_args = (d_model, num_heads, d_ff, dropout, activation, norm_first, bias, dtype)
        attention_args = dict(num_kv_heads=num_kv_heads, attention=attention)
        self.encoder_layers = ModuleList(TransformerEncoderLayer(*layer_args, **attention_args)
                                         for _ in range(num_encoder_layers))
        self.decoder_layers = ModuleList(TransformerDecoderLayer(*layer_args, **attention_args)
                                         for _ in range(num_decoder_layers))
        self.encoder_norm = LayerNorm(d_model, dtype=dtype) if norm_first else None
        self.decoder_norm = LayerNorm(d_model, dtype=dtype) if norm_first else None
        self.generator = Linear(d_model, tgt_vocab_size, dtype=dtype)
        xavier_uniform_(self)
        if tie_weights:
            self.generator.weight = self.tgt_embed.weight

    def encode(self, src, src_mask=None):
        """src (B, S) -> memory (B, S, d_model)."""
        x = self.positional(self.src_embed(src) * math.sqrt(self.d_model))
        for layer in self.encoder_layers:
            x = layer(x, mask=src_mask)
        return self.encoder_norm(x) if self.encoder_norm is not None else x

    def decode(self, tgt, memory, src_mask=None, tgt_mask=None, cache=None, need_weights=False):
        """tgt (B, T) -> logits (B, T, tgt_vocab_size) (and each layer's cross-attention weights).
        With a cache (a list, empty at first, that decode fills with a DecoderLayerCache per layer
        and that is kept between calls), tgt holds only the new tokens and positions continue
        after those already cached."""
        start = cached_length(cache)
        if cache is not None and not cache:
            cache.extend(DecoderLayerCache(window=layer.self_attn.window) for layer in self.decoder_layers)
        x = self.positional(self.tgt_embed(tgt) * math.sqrt(self.d_model), start=start)
        all_weights = []
        for i, layer in enumerate(self.decoder_layers):
            layer_cache = None if cache is None else cache[i]
            out = layer(x, memory, tgt_mask, src_mask, cache=layer_cache, need_weights=need_weights)
            x = keep_weights(out, need_weights, all_weights)
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        logits = self.generator(x)
        return (logits, all_weights) if need_weights else logits

    def forward(self, src, tgt, src_mask=None, tgt_mask=None):
        return self.decode(tgt, self.encode(src, src_mask), src_mask, tgt_mask)


def cached_length(cache):
    """How many positions a model's decoding cache (a list with one cache per layer, empty
    before the first step) has already seen."""
    return cache[0].length if cache else 0
