"""The reference versions: each function written as a composition of primitives.

Read these first. Autograd differentiates them for free, one primitive at a time, so they are
correct by construction (the primitives are each gradient-checked). `fused.py` computes the same
functions as single Functions with hand-derived backwards, which are faster and keep fewer
arrays alive; the tests prove each fused function equal to its twin here.
"""
import math

from ..engine.creation import arange


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) over `axis`, stably: with m = max(x), it is m + log(sum(exp(x - m))),
    so exp never sees a number above 0 and cannot overflow. (..., C) -> (...)."""
    m = x.max(axis=axis, keepdims=True).detach()      # any constant works; max keeps exp <= 1
    out = (x - m).exp().sum(axis=axis, keepdims=True).log() + m
    return out if keepdims else out.squeeze(axis)


def softmax(x, axis=-1):
    """exp(x_i) / sum_j exp(x_j) along `axis`: positive weights that sum to 1. Shape kept."""
    e = (x - x.max(axis=axis, keepdims=True).detach()).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """log(softmax(x)) = x - logsumexp(x), without ever taking the log of a tiny number."""
    return x - logsumexp(x, axis=axis, keepdims=True)


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0):
    """Mean negative log-likelihood of the target classes.

    logits (..., C) float; target (...) integer class ids. With label smoothing eps the target
    distribution is (1 - eps) on the true class plus eps/C on every class (as in PyTorch and
    *Attention Is All You Need*). Positions whose target is `ignore_index` count for nothing,
    and the mean is over the other positions. (If all are ignored, the mean is 0/0 = nan, and
    so are the gradients here; the fused F.cross_entropy gives zero gradients, as PyTorch.)
    """
    num_classes = logits.shape[-1]
    logp = log_softmax(logits, axis=-1)
    one_hot = arange(num_classes, backend=logits.backend) == target.unsqueeze(-1)   # (..., C)
    weights = one_hot.to(dtype=logits.dtype) * (1.0 - label_smoothing) + label_smoothing / num_classes
    per_position = -(weights * logp).sum(axis=-1)                 # (...)
    if ignore_index is None:
        return per_position.mean()
    kept = (target != ignore_index).to(dtype=logits.dtype)        # 1 where the target counts
    return (per_position * kept).sum() / kept.sum()


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` axes to mean 0 and variance 1, then scale
    by `weight` and shift by `bias` (both of shape normalized_shape). x (..., *normalized_shape)."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)
    variance = (centred * centred).mean(axis=axes, keepdims=True)    # biased, as in PyTorch
    out = centred / (variance + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def linear(x, weight, bias=None):
    """x @ weight^T + bias: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def gelu(x, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF: a smooth ReLU that lets a little negative through.

    approximate="none":  Phi(x) = (1 + erf(x / sqrt 2)) / 2        (PyTorch's default)
    approximate="tanh":  Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2   (GPT-2's)
    """
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * (inner.tanh() + 1.0) * 0.5
    return x * ((x * (1.0 / math.sqrt(2.0))).erf() + 1.0) * 0.5
