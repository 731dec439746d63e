"""tinyattn.nn: modules with PyTorch's names, from Linear to GPT."""
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
