"""tinyattn: a small tensor-and-autograd engine on NumPy (or CuPy), and Transformers built on it.

Read in this order: backend.py, tensor.py, autograd.py, ops/, functional.py.
"""
from . import functional, nn, optim
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import BackendUnavailable, get_backend, manual_seed, set_backend, use_backend
from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .flash_attention import flash_attention
from .functions import (
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
from .gradcheck import GradcheckError, gradcheck
from .io import load, save
from .masks import causal_mask, padding_mask, sliding_window_mask
from .tensor import Tensor
from .window_attention import window_attention

# dtypes are names, the same on every backend (see tensor.py)
float16 = "float16"
float32 = "float32"
float64 = "float64"
int32 = "int32"
int64 = "int64"
bool_ = "bool"
float = float32      # noqa: A001  (tinyattn.float, as torch.float)
double = float64
long = int64
