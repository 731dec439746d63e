"""Fused Functions: softmax and friends, cross-entropy, layer norm and GELU as single nodes.

Each computes exactly what its twin in `reference.py` computes, with a backward derived by hand
(the derivation is in the docstring). One node instead of a dozen means less Python per step,
fewer temporary arrays, and fewer arrays kept alive for backward. Tests prove each equal to its
composite twin and to PyTorch.

Notation: x the input, y the output, g = dL/dy the upstream gradient, sums along `axis`.
"""
import math

from ..backend import backend_of, namespace
from ..engine.autograd import Function
from ..engine.dtypes import as_floating
from ..engine.ops.broadcast import unbroadcast
from ..kernels.cache_blocking import map_row_chunks
from ..kernels.gelu import gelu_kernel
from ..kernels.layer_norm import layer_norm_backward, layer_norm_forward
from .softmax_backward import softmax_backward


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x).

    Backward: dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx_j = sum_i g_i y_i (delta_ij - y_j)
    = y_j (g_j - sum_i g_i y_i). One elementwise product and one sum: the Jacobian is never built
    (softmax_backward.py, which the attention backwards share).
    """

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x, axis):
        x = as_floating(x)                  # integer scores: float32, as PyTorch
        xp = namespace(x)
        e = xp.exp(x - _max_or_zero(xp, x, axis))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        self.saved = (y, axis)
        return y

    def backward(self, g):
        y, axis = self.saved
        copy = namespace(g).astype(g, g.dtype, copy=True)           # softmax_backward writes into it
        return (softmax_backward(y, copy, axis),)


def _max_or_zero(xp, x, axis):
    """The max along `axis` (kept), which the softmaxes subtract; 0 when the axis is empty: a max
    of nothing has no value, and an empty axis gives an empty result (as in PyTorch) anyway."""
    return xp.max(x, axis=axis, keepdims=True) if x.shape[axis] else 0.0


class LogSoftmax(Function):
    """y = x - logsumexp(x).

    Backward: dy_i/dx_j = delta_ij - softmax_j, so dL/dx_j = g_j - softmax_j * sum_i g_i,
    with softmax = exp(y), recovered from the output instead of stored.
    """

    __slots__ = ()
    saves_inputs, saves_output = False, True

    def forward(self, x, axis):
        x = as_floating(x)                  # integer scores: float32, as PyTorch
        xp = namespace(x)
        shifted = x - _max_or_zero(xp, x, axis)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        self.saved = (y, axis)
        return y

    def backward(self, g):
        y, axis = self.saved
        xp = namespace(g)
        return (g - xp.exp(y) * xp.sum(g, axis=axis, keepdims=True),)


class LogSumExp(Function):
    """y = m + log sum exp(x - m), m = max x (stable for any x). An infinite m is taken as 0,
    as PyTorch does: x - m would be nan (inf - inf), and the sum gives -inf or inf by itself.

    Backward: dy/dx_j = exp(x_j - y) = softmax_j, so dL/dx = g * softmax (g broadcast over axis).
    """

    __slots__ = ()
    saves_output = True

    def forward(self, x, axis, keepdims):
        x = as_floating(x)                  # integer scores: float32, as PyTorch
        xp = namespace(x)
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        y = m + xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True))
        self.saved = (x, y, axis, keepdims)
        return y if keepdims else xp.squeeze(y, axis=axis)

    def backward(self, g):
        x, y, axis, keepdims = self.saved
        xp = namespace(g)
        if not keepdims:
            g = xp.expand_dims(g, axis=axis)
        return (g * xp.exp(x - y),)


class CrossEntropy(Function):
    """Mean over counted positions of  -sum_c q_c log softmax(x)_c,  for logits x (N, C);
    reduction="sum" adds them up instead, "none" returns them (N,) (0 where ignored).

    q is the target distribution: (1 - eps) on the target class plus eps/C everywhere (label
    smoothing eps). A position whose target is ignore_index has weight 0; n counts the others.
    Backward: d/dx_c [-sum_c' q_c' log p_c'] = p_c - q_c (the q's sum to 1), so
    dL/dx = g * weight * (softmax(x) - q) / n. Targets are not differentiated.
    When no position counts (all ignored, or N = 0) the mean is 0/0 = nan and the gradient is 0,
    as in PyTorch: one all-padding batch must not put nan into every weight. An ignored
    position counts for nothing even when its logits are not finite: its logits are replaced by 0
    before anything is computed from them (multiplying its loss by 0 would keep a nan, and inf - inf
    in the max-shift would make NumPy warn about a result that is well defined).
    """

    __slots__ = ()
    saves_inputs = False

    def forward(self, logits, target, ignore_index, label_smoothing, reduction="mean"):
        xp = namespace(logits)
        num_classes = logits.shape[-1]
        if ignore_index is None:        # a copy of the targets, as Gather's of its ids: versions.py
            keep, safe_target = None, xp.asarray(target, copy=True)
            count = xp.sum(xp.ones_like(target, dtype=logits.dtype))
        else:
            keep = target != ignore_index
            safe_target = xp.where(keep, target, xp.zeros_like(target))
            logits = xp.where(keep[:, None], logits, 0.0)
            count = xp.sum(xp.astype(keep, logits.dtype))
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))    # (N, C)
        picked = xp.take_along_axis(logp, safe_target[:, None], axis=-1)[:, 0]       # (N,)
        per_row = -(1.0 - label_smoothing) * picked
        if label_smoothing:
            per_row = per_row - (label_smoothing / num_classes) * xp.sum(logp, axis=-1)
        if keep is not None:
            per_row = xp.where(keep, per_row, 0.0)
        divisor = xp.where(count > 0, count, 1.0)           # n = 0: every weight is 0
        self.saved = (logp, safe_target, keep, divisor, label_smoothing, reduction)
        if reduction == "none":
            return per_row
        if reduction == "sum":
            return xp.sum(per_row)
        return xp.where(count > 0, xp.sum(per_row) / divisor, math.nan)   # n = 0: nan, as 0/0

    def backward(self, g):
        logp, target, keep, divisor, eps, reduction = self.saved
        xp = namespace(g)
        num_classes = logp.shape[-1]
        classes = backend_of(g).arange(0, num_classes, 1, target.dtype)
        one_hot = xp.astype(classes[None, :] == target[:, None], logp.dtype)       # (N, C)
        grad = xp.exp(logp) - (one_hot * (1.0 - eps) + eps / num_classes)          # p - q
        if keep is not None:
            grad = xp.where(keep[:, None], grad, 0.0)
        if reduction == "none":                 # g (N,): one upstream gradient per position
            return grad * g[:, None], None
        if reduction == "sum":
            return grad * g, None
        return grad * (g / divisor), None


class LayerNorm(Function):
    """y = xhat * w + b with xhat = (x - mean) * r, r = 1 / sqrt(var + eps), over the last D axes.

    Backward, with n elements per normalised group and dxhat = g * w:
        dL/dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    (the two means remove the parts of dxhat that only shift the mean or scale the variance,
    which normalisation undoes), dL/dw = sum over the batch of g * xhat, dL/db = sum of g.

    The normalised axes are folded into one, x seen as (N, n); kernels/layer_norm.py runs the
    arithmetic in cache-sized chunks of rows.
    """

    __slots__ = ()

    def forward(self, x, weight, bias, eps):
        xp, backend = namespace(x), backend_of(x)
        rows = xp.reshape(x, (math.prod(x.shape[:x.ndim - weight.ndim]), math.prod(weight.shape)))  # (N, n)
        w, b = xp.reshape(weight, (-1,)), xp.reshape(bias, (-1,))
        y, xhat, r = layer_norm_forward(xp, backend.place, backend.chunk_elements, rows, w, b, eps)
        self.saved = (xhat, r, weight)
        return xp.reshape(y, x.shape)

    def backward(self, g):
        xhat, r, weight = self.saved
        xp, backend = namespace(g), backend_of(g)
        g2 = xp.reshape(g, xhat.shape)
        dx, dw = layer_norm_backward(xp, backend.place, backend.chunk_elements, g2, xhat, r,
                                     xp.reshape(weight, (-1,)), self.needs_grad[0], self.needs_grad[1])
        dw = None if dw is None else xp.reshape(dw, weight.shape)
        db = xp.reshape(xp.sum(g2, axis=0), weight.shape) if self.needs_grad[2] else None
        return None if dx is None else xp.reshape(dx, g.shape), dw, db


class Gelu(Function):
    """y = x * Phi(x), exact (Phi through erf) or with GELU's tanh approximation.

    Exact: dy/dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) the normal density.
    Tanh:  with u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh(u), y = x (1 + t) / 2:
           dy/dx = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    The slope dy/dx is computed in the forward, while the pieces it shares with y are at hand,
    and saved: backward is then one product, g * slope. with_slope=False (no gradient will be
    asked for: inference) skips the slope's passes. kernels/gelu.py does the arithmetic, in
    cache-sized chunks of rows: the chains are long, and a chunk stays in cache.
    """

    __slots__ = ()
    saves_inputs = False

    def forward(self, x, approximate, with_slope=True):
        xp, chunk = namespace(x), backend_of(x).chunk_elements
        kernel = gelu_kernel(xp, x.dtype, approximate)
        if not with_slope:      # the slope's chunk becomes a second scratch chunk
            return map_row_chunks(xp, chunk, lambda *c: kernel(xp, *c, with_slope=False), x,
                                  outputs=1, scratch=2)
        y, slope = map_row_chunks(xp, chunk, lambda *c: kernel(xp, *c), x, outputs=2, scratch=1)
        self.saved = slope
        return y

    def backward(self, g):
        return (g * self.saved,)


class Linear(Function):
    """y = x @ W^T + b, for x (..., in), W (out, in), b (out,): one node instead of three.

    Backward, with the leading axes of x and g folded into rows (x2 (N, in), g2 (N, out)):
        dL/dx = g @ W,   dL/dW = g2^T @ x2 (one matrix product sums over every row),
        dL/db = sum of g over the rows (over the axes b was broadcast along, for another shape
        of b, such as (1, out)).
    """

    __slots__ = ()

    def forward(self, x, weight, bias=None):
        xp = namespace(x)
        self.saved = (x, weight, None if bias is None else bias.shape)
        # (B, T, in) as one (B*T, in) matrix: one large product instead of B small ones
        rows = xp.reshape(x, (math.prod(x.shape[:-1]), x.shape[-1]))      # not -1: x may be empty
        y = xp.matmul(rows, xp.permute_dims(weight, (1, 0)))
        y = xp.reshape(y, tuple(x.shape[:-1]) + (weight.shape[0],))
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        x, weight, bias_shape = self.saved
        xp = namespace(g)
        g2 = xp.reshape(g, (math.prod(g.shape[:-1]), g.shape[-1]))
        dx = xp.reshape(xp.matmul(g2, weight), x.shape) if self.needs_grad[0] else None
        dw = xp.matmul(xp.permute_dims(g2, (1, 0)), xp.reshape(x, (g2.shape[0], x.shape[-1]))) \
            if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return dx, dw
        if not self.needs_grad[2]:
            return dx, dw, None
        db = xp.sum(g2, axis=0) if bias_shape == (weight.shape[0],) else unbroadcast(xp, g, bias_shape)
        return dx, dw, db
