"""Gradient clipping by the total norm, PyTorch's clip_grad_norm_."""
import math

from ..engine.tensor import Tensor
from .base import _check


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their total norm is at most `max_norm` (in place).

    total = || (||g_1||, ||g_2||, ...) ||  over the parameters that have a gradient, i.e. the norm
    of all gradients joined into one vector; norm_type 2 (default), any p > 0, or math.inf (the
    largest |g|). If total > max_norm, every gradient is multiplied by max_norm / (total + 1e-6)
    (PyTorch's rule); otherwise the gradients are left as they are. A nan total makes every
    gradient nan, as in PyTorch, so that a broken step shows instead of half applying.

    parameters: a tensor or an iterable of tensors (`model.parameters()` is fine).
    Returns the total norm (before clipping) as a 0-d Tensor, as PyTorch, for logging.

    The norm is read to the host once per call (one synchronisation on a GPU) to decide whether
    to scale; PyTorch instead always multiplies by a clamped factor on the device. Reading once
    lets a step that needs no clipping skip a pass over every gradient.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads, seen = [], set()
    for p in parameters:
        if p.grad is not None and id(p) not in seen:     # a tied weight counts once
            seen.add(id(p))
            grads.append(p)
    norm_type = float(norm_type)
    _check(norm_type > 0.0, f"clip_grad_norm_: norm_type must be > 0 or math.inf, got {norm_type}")
    if not grads:
        return Tensor(0.0)
    xp = grads[0].backend.xp
    parts = []                          # per gradient: max |g| (inf-norm) or sum |g|^p
    for p in grads:
        g = p.grad
        if norm_type == math.inf:
            parts.append(xp.max(xp.abs(g)))
        elif norm_type == 2.0:
            parts.append(xp.sum(g * g))
        else:
            parts.append(xp.sum(xp.abs(g) ** norm_type))
    dtype = parts[0].dtype
    parts = xp.stack([x if x.dtype == dtype else xp.astype(x, dtype) for x in parts])
    if norm_type == math.inf:
        total = xp.max(parts)
    elif norm_type == 2.0:
        total = xp.sqrt(xp.sum(parts))
    else:
        total = xp.sum(parts) ** (1.0 / norm_type)
    total_value = float(total)
    if error_if_nonfinite and not math.isfinite(total_value):
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {total_value}; "
                           "a loss or gradient became nan or inf")
    clip = float(max_norm) / (total_value + 1e-6)
    if clip < 1.0 or math.isnan(clip):
        for p in grads:
            p.grad *= clip              # Python float: keeps the gradient's dtype
    return Tensor._make(xp.asarray(total), False, None)
