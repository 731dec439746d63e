"""F.* itself: each function checks its arguments once, then takes one visible branch:
`if is_reference_mode(): return reference.f(...)`, else the fused Function of fused.py.

Both paths get the same checks and errors, and compute the same numbers.
"""
import math

from ..backend import get_backend
from ..engine import indexing
from ..engine.arguments import dim_arg
from ..engine.autograd import is_grad_enabled
from ..engine.creation import ones, zeros
from ..engine.dtypes import require_floating, require_same_kind
from ..engine.ops.broadcast import broadcast_shape
from ..engine.tensor import Tensor
from ..engine.tensor_functions import relu  # noqa: F401  (F.relu is tinyattn.relu)
from . import fused, reference
from .mode import is_reference_mode


def _axis(op, axis, dim, ndim):
    return dim_arg(op, dim if dim is not None else axis, ndim)


def softmax(x, axis=-1, *, dim=None):
    """Positive weights summing to 1 along `axis`: exp(x_i) / sum_j exp(x_j). Shape kept.
    Integer scores are computed in float32."""
    axis = _axis("softmax", axis, dim, x.ndim)
    if x.ndim == 0:                 # dim 0 (or -1) of a 0-d tensor, as PyTorch: a softmax of one
        return softmax(x.reshape(1)).reshape(())
    if is_reference_mode():
        return reference.softmax(x, axis)
    return fused.Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1, *, dim=None):
    """log(softmax(x)) along `axis`, computed stably as x - logsumexp(x). Shape kept.
    Integer scores are computed in float32."""
    axis = _axis("log_softmax", axis, dim, x.ndim)
    if x.ndim == 0:                 # as softmax
        return log_softmax(x.reshape(1)).reshape(())
    if is_reference_mode():
        return reference.log_softmax(x, axis)
    return fused.LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=-1, keepdims=False, *, dim=None, keepdim=None):
    """log(sum(exp(x))) along `axis` (an int or a tuple; () for every axis, as sum), without
    overflow. (..., C) -> (...). Integers are computed in float32; an empty axis gives -inf."""
    keep = keepdim if keepdim is not None else keepdims
    axis = _axis("logsumexp", axis, dim, x.ndim)
    axes = tuple(range(x.ndim)) if axis == () else axis if isinstance(axis, tuple) else (axis,)
    x = x if x.dtype.startswith("float") else x.float()
    if x.ndim == 0:                 # as softmax: the logsumexp of one number is the number
        return x
    if any(x.shape[a] == 0 for a in axes):      # the log of an empty sum, as PyTorch
        return x.sum(axis=axes, keepdims=keep) - math.inf
    axis = axes if len(axes) > 1 else axes[0]
    if is_reference_mode():
        return reference.logsumexp(x, axis, keep)
    return fused.LogSumExp.apply(x, axis=axis, keepdims=keep)


def cross_entropy(logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Mean negative log-likelihood of integer `target` classes under softmax(logits).

    logits (..., C), target (...) of integer class ids. Positions whose target equals
    `ignore_index` (-100 by default, as in PyTorch; None for none) are left out of the mean.
    With `label_smoothing` eps, the target distribution is (1 - eps) on the true class plus
    eps/C on every class. reduction: "mean" (over the positions not ignored), "sum", or "none"
    for the loss of every position, of target's shape (0 where ignored), as in PyTorch.
    Differs from PyTorch: classes are the *last* axis for any rank (PyTorch puts them on axis 1
    for inputs of more than 2 dims), which is what (B, T, vocab) language-model logits need.
    """
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have a class axis, (..., C); got a 0-d tensor")
    if not isinstance(target, Tensor):
        target = Tensor(target, backend=logits.backend)
    if target.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits {logits.shape} need targets of shape {logits.shape[:-1]}, "
                         f"got {target.shape}")
    require_floating("cross_entropy", logits, "logits")
    if not target.dtype.startswith(("int", "uint")):
        raise TypeError(f"cross_entropy: targets must be integer class ids, got {target.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:       # PyTorch checks <= 1 only; below 0 is no smoothing
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    num_classes = logits.shape[-1]
    target = target if target.dtype == "int64" else target.long()     # ids of any integer dtype
    _check_classes(target, num_classes, ignore_index)
    if num_classes == 0:
        return _no_classes(logits, label_smoothing, reduction)
    if is_reference_mode():
        return reference.cross_entropy(logits, target, ignore_index, label_smoothing, reduction)
    rows = math.prod(target.shape)          # not -1: with 0 classes, -1 would be ambiguous
    loss = fused.CrossEntropy.apply(logits.reshape(rows, num_classes), target.reshape(rows),
                                    ignore_index=ignore_index, label_smoothing=label_smoothing,
                                    reduction=reduction)
    return loss.reshape(target.shape) if reduction == "none" else loss


def _no_classes(logits, label_smoothing, reduction):
    """The loss when C = 0. No target can be a class then (_check_classes let only ignore_index
    through), so every position is ignored: each loses 0, their sum is 0 and their mean, over no
    counted position, nan, as in PyTorch. With label smoothing each position is nan, as PyTorch's
    eps / C = 0 / 0."""
    losses = logits.sum(axis=-1)        # zeros of target's shape, with an (empty) gradient to logits
    if label_smoothing:
        losses = losses * math.nan
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() + math.nan


def _check_classes(target, num_classes, ignore_index):
    """Targets must be class ids in [0, C) or ignore_index: a take with -1 would silently pick
    the last class on NumPy."""
    t, xp = target.data, target.backend.xp
    bad = (t < 0) | (t >= num_classes)
    if ignore_index is not None:
        bad = bad & (t != ignore_index)
    if bool(xp.any(bad)):
        example = int(xp.max(xp.where(bad, t, -(2 ** 31))))
        raise IndexError(f"cross_entropy: target {example} is out of range: not a class id in "
                         f"[0, {num_classes})"
                         + (f" nor ignore_index {ignore_index}" if ignore_index is not None else ""))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` axes to mean 0, variance 1 (biased, as in
    PyTorch), then y = xhat * weight + bias. x (..., *normalized_shape)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape:
        raise ValueError("layer_norm: normalized_shape must name at least one axis, got ()")
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {shape}")
    require_floating("layer_norm", x)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: the {name} must have normalized_shape {shape}, got {p.shape}")
    if is_reference_mode():
        return reference.layer_norm(x, shape, weight, bias, eps)
    weight = weight if weight is not None else ones(shape, dtype=x.dtype, backend=x.backend)
    bias = bias if bias is not None else zeros(shape, dtype=x.dtype, backend=x.backend)
    return fused.LayerNorm.apply(x, weight, bias, eps=eps)


def linear(x, weight, bias=None):
    """x @ weight^T + bias: x (..., in), weight (out, in), bias (out,) -> (..., out).
    A bias of another shape broadcasts against the output, as long as it leaves its shape alone."""
    if weight.ndim != 2:
        raise ValueError(f"linear: the weight must be (out_features, in_features), got shape {weight.shape}")
    features = x.shape[-1] if x.ndim else 0
    if features != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {features} features, the weight "
                         f"{weight.shape} expects {weight.shape[1]}")
    if bias is not None and bias.shape != weight.shape[:1]:
        out_shape = x.shape[:-1] + weight.shape[:1]
        if broadcast_shape("linear", out_shape, bias.shape) != out_shape:
            raise ValueError(f"linear: a bias of shape {bias.shape} would change the output's shape "
                             f"{out_shape}; it must broadcast to it")
    operands = [t for t in (x, weight, bias) if t is not None]
    if any(t.dtype == "bool" for t in operands):
        raise TypeError("linear: no matrix product of boolean tensors (masks), as in PyTorch")
    require_same_kind("linear", *operands)
    if is_reference_mode():
        return reference.linear(x, weight, bias)
    if bias is None:
        return fused.Linear.apply(x, weight)
    return fused.Linear.apply(x, weight, bias)


def embedding(index, weight):
    """Rows of `weight` (num_embeddings, dim) picked by integer `index` (any shape):
    (*index.shape) -> (*index.shape, dim). The backward adds into each row once per use.
    Ids must be in [0, num_embeddings), as in PyTorch: a negative id is refused, not read from
    the end (a stray -100 ignore_index passed as input would otherwise embed as the last row)."""
    ids = index if isinstance(index, Tensor) else Tensor(index, backend=weight.backend)
    if not ids.dtype.startswith(("int", "uint")):
        raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
    return indexing.gather(weight, [indexing.index_array(weight, index, 0, allow_negative=False,
                                                         op="embedding")])


def gelu(x, approximate="none"):
    """x * Phi(x), Phi the normal CDF: "none" is exact (through erf, PyTorch's default),
    "tanh" is the approximation GPT-2 used."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    require_floating("gelu", x)
    if is_reference_mode():
        return reference.gelu(x, approximate)
    with_slope = is_grad_enabled() and x.requires_grad          # else nothing will ask for it
    return fused.Gelu.apply(x, approximate=approximate, with_slope=with_slope)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1 - p), so the expected
    value is unchanged; the identity when not training or p == 0. The mask comes from the
    backend's generator (seeded by tinyattn.manual_seed). A product with a constant mask is one
    primitive already, so there is no fused twin."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    require_floating("dropout", x)      # the kept values are scaled by 1 / (1 - p)
    if p == 1.0:
        return x * 0.0
    backend = get_backend(x.backend)
    keep = backend.rand(x.shape, x.dtype) >= p
    mask = backend.xp.astype(keep, x.data.dtype) * (1.0 / (1.0 - p))
    return x * Tensor._make(mask, False, None)
