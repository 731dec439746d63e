"""tinyattn.functional (import as F): the functions a Transformer is built from.

    import tinyattn.functional as F
    probs = F.softmax(scores, axis=-1)          # dim=-1 works too
    loss = F.cross_entropy(logits, targets, ignore_index=0, label_smoothing=0.1)

The package holds each function twice, and dispatch.py picks one:
    reference.py         read it first: each function as a short composition of the engine's
                         primitives (autograd derives every backward)
    fused.py             the same functions as single Functions with hand-derived backwards (the
                         derivations in their docstrings), running kernels/ underneath
    softmax_backward.py  softmax's backward, which fused.py and the attention backwards share
    mode.py              reference_mode() and TINYATTN_REFERENCE=1, which switch F.* to reference.py
    dispatch.py          F.*: check the arguments once, then one visible branch per function,
                         `if is_reference_mode(): return reference.f(...)`, else the fused one
Both paths get the same checks and errors, and compute the same numbers (the tests check that
the two agree, and the whole suite runs in both modes). relu, dropout and embedding are one or
two primitives already, so they have no fused twin.

F also offers attention, as torch.nn.functional does: scaled_dot_product_attention and the
masks, which live a layer up, in attention/. This file only re-exports them (the one exception
in pyproject.toml's layer contract); attention imports functional's modules, never this one,
so no import cycle runs through it.
"""
from ..attention.masks import causal_mask, padding_mask
from ..attention.scaled_dot_product import scaled_dot_product_attention
from .dispatch import (
    cross_entropy,
    dropout,
    embedding,
    gelu,
    layer_norm,
    linear,
    log_softmax,
    logsumexp,
    relu,
    softmax,
)
from .mode import is_reference_mode, reference_mode
