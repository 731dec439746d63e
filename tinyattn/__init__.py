"""tinyattn: a small tensor-and-autograd engine on NumPy (or CuPy), and Transformers built on it.

The tree is the architecture; each layer imports only the layers below it (pyproject.toml's
import-linter contract checks that):

    backend/     which array library computes (NumPy, CuPy, array_api_strict)
    kernels/     speed only, skippable: cache blocking, out= buffers, the float32 erfc
    hub.py       a local directory or a name on the Hugging Face hub (through huggingface_hub)
    engine/      Tensor, Function and backward, the primitives, and PyTorch's rules beside them
    functional/  F.*: softmax, cross-entropy, layer norm, GELU... readable and fused
    attention/   scaled dot-product attention, masks, the fused, flash and window variants, the cache
    safetensors.py  Hugging Face's weights format, NumPy alone (a layer under nn/, which reads it)
    nn/          Module, layers, multi-head attention, Transformer, GPT, ViT
    optim/, generate.py, io.py, data.py, viz.py    training, decoding, checkpoints, data, pictures
    tokenizers/  byte-level BPE as GPT-2 does it (text <-> token ids; uses none of the above)

README.md's "Reading the code" lists every module in reading order.
"""
from . import functional, generate, nn, optim, tokenizers
from .attention.flash import flash_attention
from .attention.masks import causal_mask, padding_mask, sliding_window_mask
from .attention.window import window_attention
from .backend import BackendUnavailable, get_backend, manual_seed, set_backend, use_backend
from .engine.autograd import Function, enable_grad, is_grad_enabled, no_grad
from .engine.creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .engine.gradcheck import GradcheckError, gradcheck
from .engine.tensor import Tensor
from .engine.tensor_functions import (
    cat,
    concat,
    cos,
    exp,
    log,
    matmul,
    maximum,
    relu,
    sigmoid,
    sin,
    sqrt,
    stack,
    take,
    tanh,
    tril,
    triu,
    where,
)
from .functional.mode import reference_mode
from .io import load, save
from .safetensors import load_safetensors, save_safetensors

# dtypes are names, the same on every backend (see engine/tensor.py)
float16 = "float16"
float32 = "float32"
float64 = "float64"
int32 = "int32"
int64 = "int64"
bool_ = "bool"
float = float32      # noqa: A001  (tinyattn.float, as torch.float)
double = float64
long = int64
