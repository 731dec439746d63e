"""tinyattn.nn: modules with PyTorch's names, from Linear to GPT and ViT.

Read module.py first (Module and Parameter: how a model keeps, names, saves and moves its
weights), then layers.py (Linear, Embedding, LayerNorm, Dropout, FeedForward, containers),
positional.py (sinusoidal, learned and rotary positions), multi_head_attention.py (heads as a
reshape; the plain path first, the fused one a named branch), transformer.py (the encoder and
decoder layers and the encoder-decoder Transformer of the paper), gpt.py (DecoderBlock and
GPT, decoder-only; gpt2_format.py maps its weights to GPT-2's files and back) and vit.py
(PatchEmbedding and ViT: images as sequences of patches).
"""
from .gpt import GPT, DecoderBlock
from .layers import (
    GELU,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    FeedForward,
    LayerNorm,
    Linear,
    ModuleList,
    ReLU,
    Sequential,
)
from .module import Module, Parameter
from .multi_head_attention import MultiHeadAttention
from .positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)
from .transformer import Transformer, TransformerDecoderLayer, TransformerEncoderLayer
from .vit import PatchEmbedding, ViT, attention_rollout
