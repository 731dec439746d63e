"""The reference versions: each function written as a composition of the engine's primitives.

Read these first: they are what F.softmax, F.cross_entropy, F.layer_norm, F.gelu and F.linear
compute. Autograd differentiates them one primitive at a time, so they are correct by
construction (each primitive is gradient-checked). `fused.py` computes the same functions as
single Functions with hand-derived backwards, which are faster and keep fewer arrays alive;
F.* runs those by default and these inside `tinyattn.reference_mode()` (or with
TINYATTN_REFERENCE=1), and the tests prove each fused function equal to its twin here.

The functions here take arguments already checked by F.* (functional/__init__.py).
"""
import math

from ..engine.creation import arange
from ..engine.dtypes import FLOAT_DTYPES
from ..engine.tensor_functions import maximum, where


def _floating(x):
    """x, or x in float32 if it holds integers: integer scores give float32 weights, as exp does."""
    return x if x.dtype in FLOAT_DTYPES else x.float()


def softmax(x, axis=-1):
    """exp(x_i) / sum_j exp(x_j) along `axis`: positive weights that sum to 1. Shape kept.
    Subtracting the max first changes nothing (it cancels) but keeps exp from overflowing."""
    x = _floating(x)
    e = (x - _max_or_zero(x, axis)).exp()
    return e / e.sum(axis=axis, keepdims=True)


def _max_or_zero(x, axis):
    """The max along `axis` (kept), a constant: no gradient flows through it. 0 when the axis is
    empty: a max of nothing has no value, and the softmax of an empty axis is empty anyway."""
    return x.detach().max(axis=axis, keepdims=True) if x.shape[axis] else 0.0


def log_softmax(x, axis=-1):
    """log(softmax(x)) = x - logsumexp(x), without ever taking the log of a tiny number:
    with s = x - max(x), it is s - log(sum(exp(s))), and the sum is at least 1."""
    x = _floating(x)
    shifted = x - _max_or_zero(x, axis)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) over `axis`, stably: with m = max(x), it is m + log(sum(exp(x - m))),
    so exp never sees a number above 0 and cannot overflow. (..., C) -> (...).
    An infinite m is taken as 0, as PyTorch does: x - m would be inf - inf = nan, while the sum
    alone gives the right -inf (every x is -inf) or inf."""
    x = _floating(x)
    m = x.detach().max(axis=axis, keepdims=True)                 # any constant works
    m = where((m > -math.inf) & (m < math.inf), m, 0.0)
    out = (x - m).exp().sum(axis=axis, keepdims=True).log() + m
    return out if keepdims else out.squeeze(axis)


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """The negative log-likelihood of the target classes, averaged over the positions.

    logits (..., C) float; target (...) integer class ids. With label smoothing eps the target
    distribution q is (1 - eps) on the true class plus eps/C on every class (as in PyTorch and
    *Attention Is All You Need*), so a position's loss is
        -sum_c q_c log p_c = -(1 - eps) log p_target - eps * mean_c log p_c.
    Positions whose target is `ignore_index` (None: no id) count for nothing. reduction:
    "mean" over the counted positions, "sum", or "none" for every position's loss (0 where
    ignored). If every position is ignored, the mean is 0/0 = nan with zero gradients, as in
    PyTorch: one batch of padding must not put nan into every weight. An ignored position's
    logits are replaced by 0 first, so that even a nan or inf there adds nothing to the loss or
    the gradients (a loss multiplied by 0 would still be nan).
    """
    num_classes = logits.shape[-1]
    logits = logits.reshape(-1, num_classes)                               # (N, C)
    targets = target.reshape(-1)                                           # (N,)
    if ignore_index is not None:
        counted = targets != ignore_index                                  # (N,) bool
        targets = where(counted, targets, 0)        # read class 0 there; its loss is dropped below
        logits = where(counted.unsqueeze(-1), logits, 0.0)       # ignored rows: no gradient, no nan
    logp = log_softmax(logits, axis=-1)                                    # (N, C)
    rows = arange(targets.shape[0], backend=logits.backend)
    picked = logp[rows, targets]                                           # (N,) log p_target
    per_position = -(1.0 - label_smoothing) * picked
    if label_smoothing:
        per_position = per_position - label_smoothing * logp.mean(axis=-1)
    if ignore_index is not None:
        per_position = where(counted, per_position, 0.0)
    if reduction == "none":
        return per_position.reshape(target.shape)
    if reduction == "sum":
        return per_position.sum()
    if ignore_index is None:        # N = 0: the mean of nothing is nan, as in PyTorch (NumPy would warn)
        return per_position.mean() if targets.shape[0] else per_position.sum() + math.nan
    count = counted.to(dtype=logits.dtype).sum()
    # sum / count would also make the gradients 0/0 = nan when count is 0; divided by at least 1
    # they stay 0, and where passes no gradient to the nan it picks then
    return where(count > 0, per_position.sum() / maximum(count, 1.0), math.nan)


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
