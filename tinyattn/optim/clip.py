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

    As in PyTorch, the factor min(1, max_norm / (total + 1e-6)) stays on the device and every
    gradient is multiplied by it: deciding on the host whether to clip would make the step wait
    for the GPU. Only on a host backend (NumPy), where reading it waits for nothing, is a factor
    of exactly 1 read and the pass over the gradients skipped.
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
    backend = grads[0].backend
    xp = backend.xp
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
    if error_if_nonfinite and not math.isfinite(float(total)):      # asked for: one wait, as in PyTorch
        raise RuntimeError(f"clip_grad_norm_: the total norm of the gradients is {float(total)}; "
                           "a loss or gradient became nan or inf")
    factor = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)      # nan stays nan: every gradient nan
    if not (backend.on_host and float(factor) == 1.0):
        factors = {dtype: factor}
        for p in grads:
            if p.grad.dtype not in factors:
                factors[p.grad.dtype] = xp.astype(factor, p.grad.dtype)
            p.grad *= factors[p.grad.dtype]     # in the gradient's own dtype
    return Tensor._make(xp.asarray(total), False, None)
