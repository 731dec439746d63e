"""Fused Functions: softmax and friends, cross-entropy, layer norm and GELU as single nodes.

Each computes exactly what its twin in `composite.py` computes, with a backward derived by hand
(the derivation is in the docstring). One node instead of a dozen means less Python per step,
fewer temporary arrays, and fewer arrays kept alive for backward. Tests prove each equal to its
composite twin and to PyTorch.

Notation: x the input, y the output, g = dL/dy the upstream gradient, sums along `axis`.
"""
import math

from .autograd import Function
from .backend import backend_of, namespace
from .blocks import map_rows, row_blocks
from .ops.broadcast import unbroadcast
from .ops.elementwise import as_floating
from .special import erf


class Softmax(Function):
    """y = exp(x - max x) / sum exp(x - max x).

    Backward: dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx_j = sum_i g_i y_i (delta_ij - y_j)
    = y_j (g_j - sum_i g_i y_i). One elementwise product and one sum: the Jacobian is never built.
    """

    __slots__ = ()

    def forward(self, x, axis):
        x = as_floating(x)                  # integer scores: float32, as PyTorch
        xp = namespace(x)
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        self.saved = (y, axis)
        return y

    def backward(self, g):
        y, axis = self.saved
        gy = g * y
        return (gy - y * namespace(g).sum(gy, axis=axis, keepdims=True),)


class LogSoftmax(Function):
    """y = x - logsumexp(x).

    Backward: dy_i/dx_j = delta_ij - softmax_j, so dL/dx_j = g_j - softmax_j * sum_i g_i,
    with softmax = exp(y), recovered from the output instead of stored.
    """

    __slots__ = ()

    def forward(self, x, axis):
        x = as_floating(x)                  # integer scores: float32, as PyTorch
        xp = namespace(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
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

    def forward(self, x, axis, keepdims):
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
    When every position is ignored the loss is 0/0 = nan and the gradient is 0, as in PyTorch:
    one all-padding batch must not put nan into every weight.
    """

    __slots__ = ()

    def forward(self, logits, target, ignore_index, label_smoothing, reduction="mean"):
        xp = namespace(logits)
        num_classes = logits.shape[-1]
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        logp = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))    # (N, C)
        if ignore_index is None:
            keep, safe_target = None, target
        else:
            keep = target != ignore_index
            safe_target = xp.where(keep, target, xp.zeros_like(target))
        picked = xp.take_along_axis(logp, safe_target[:, None], axis=-1)[:, 0]       # (N,)
        per_row = -(1.0 - label_smoothing) * picked
        if label_smoothing:
            per_row = per_row - (label_smoothing / num_classes) * xp.sum(logp, axis=-1)
        if keep is None:
            weight, count = None, target.shape[0]
        else:
            weight = xp.astype(keep, logp.dtype)
            count = xp.sum(weight)
            per_row = per_row * weight
        self.saved = (logp, safe_target, weight, count, label_smoothing, reduction)
        if reduction == "none":
            return per_row
        return xp.sum(per_row) / count if reduction == "mean" else xp.sum(per_row)

    def backward(self, g):
        logp, target, weight, count, eps, reduction = self.saved
        xp = namespace(g)
        num_classes = logp.shape[-1]
        classes = backend_of(g).arange(0, num_classes, 1, target.dtype)
        one_hot = xp.astype(classes[None, :] == target[:, None], logp.dtype)       # (N, C)
        grad = xp.exp(logp) - (one_hot * (1.0 - eps) + eps / num_classes)          # p - q
        if weight is not None:
            grad = grad * weight[:, None]
        if reduction == "none":                 # g (N,): one upstream gradient per position
            return grad * g[:, None], None
        if reduction == "sum":
            return grad * g, None
        if weight is not None:
            count = xp.where(count > 0, count, xp.ones_like(count))     # n = 0: every weight is 0
        return grad * (g / count), None


class LayerNorm(Function):
    """y = xhat * w + b with xhat = (x - mean) * r, r = 1 / sqrt(var + eps), over the last D axes.

    Backward, with n elements per normalised group and dxhat = g * w:
        dL/dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    (the two means remove the parts of dxhat that only shift the mean or scale the variance,
    which normalisation undoes), dL/dw = sum over the batch of g * xhat, dL/db = sum of g.

    The normalised axes are folded into one, x seen as (N, n), and the work runs in blocks of
    rows (blocks.py). A row mean is a product with a column of 1/n: NumPy sums short rows one
    scalar at a time, while the matrix-vector product is vectorised (6x faster on rows of 64).
    """

    __slots__ = ()

    def forward(self, x, weight, bias, eps):
        xp = namespace(x)
        backend = backend_of(x)
        rows = xp.reshape(x, (-1, math.prod(weight.shape)))                       # (N, n)
        w, b = xp.reshape(weight, (-1,)), xp.reshape(bias, (-1,))
        averager = backend.ones((rows.shape[1], 1), x.dtype) / rows.shape[1]         # (n, 1)
        xhat, y = xp.empty_like(rows), xp.empty_like(rows)
        r = xp.empty((rows.shape[0], 1), dtype=x.dtype, **backend.place)

        for block in row_blocks(rows.shape[0], rows.shape[1], backend):
            xb, hb, yb = rows[block, ...], xhat[block, ...], y[block, ...]
            xp.subtract(xb, xp.matmul(xb, averager), out=hb)                   # centred
            # the variance's sums of squares in one pass: vecdot reads the rows, makes no square
            var = xp.reshape(xp.vecdot(hb, hb), (-1, 1)) / rows.shape[1]
            rb = 1.0 / xp.sqrt(var + eps)
            hb *= rb
            r[block, ...] = rb
            xp.multiply(hb, w, out=yb)
            yb += b
        self.saved = (xhat, r, weight)
        return xp.reshape(y, x.shape)

    def backward(self, g):
        # mean(dxhat) = g @ w / n and mean(dxhat * xhat) = (g * xhat) @ w / n: two matrix-vector
        # products, and g * xhat is also what dw sums, so it is formed once
        xhat, r, weight = self.saved
        xp = namespace(g)
        g2 = xp.reshape(g, xhat.shape)
        w = xp.reshape(weight, (-1,))
        w_over_n = xp.reshape(w, (-1, 1)) / w.shape[0]                              # (n, 1)
        dx = xp.empty_like(g2) if self.needs_grad[0] else None

        dw = xp.zeros(w.shape, dtype=g.dtype, **backend_of(g).place)        # summed block by block
        blocks = row_blocks(g2.shape[0], g2.shape[1], backend_of(g))
        scratch = xp.empty_like(g2[blocks[0], ...])
        for block in blocks:
            gb, xb = g2[block, ...], xhat[block, ...]
            gx = xp.multiply(gb, xb, out=scratch[:gb.shape[0], ...])
            if self.needs_grad[1]:
                dw += xp.sum(gx, axis=0)
            if dx is not None:
                dxb = dx[block, ...]
                mean_g, mean_gx = xp.matmul(gb, w_over_n), xp.matmul(gx, w_over_n)      # (n, 1)
                xp.multiply(gb, w, out=dxb)
                dxb -= mean_g
                dxb -= xp.multiply(xb, mean_gx, out=gx)
                dxb *= r[block, ...]
        dw = xp.reshape(dw, weight.shape) if self.needs_grad[1] else None
        db = xp.reshape(xp.sum(g2, axis=0), weight.shape) if self.needs_grad[2] else None
        return None if dx is None else xp.reshape(dx, g.shape), dw, db


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Gelu(Function):
    """y = x * Phi(x), exact (Phi through erf) or with GELU's tanh approximation.

    Exact: dy/dx = Phi(x) + x * phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) the normal density.
    Tanh:  with u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh(u), y = x (1 + t) / 2:
           dy/dx = (1 + t) / 2 + x (1 - t^2) / 2 * sqrt(2/pi) (1 + 3 * 0.044715 x^2).
    The slope dy/dx is computed in the forward, while the pieces it shares with y are at hand,
    and saved: backward is then one product, g * slope. with_slope=False (no gradient will be
    asked for: inference) skips the slope's passes. Both run block by block (blocks.py): the
    chains are long, and a block stays in cache.
    """

    __slots__ = ()

    def forward(self, x, approximate, with_slope=True):
        if approximate == "tanh":
            kernel = _gelu_tanh
        else:
            kernel = _gelu_exact_float32 if x.dtype == namespace(x).float32 else _gelu_exact
        if not with_slope:      # the slope's block becomes a second scratch block
            return map_rows(lambda *blocks: kernel(*blocks, with_slope=False), x, outputs=1, scratch=2)
        y, slope = map_rows(kernel, x, outputs=2, scratch=1)
        self.saved = slope
        return y

    def backward(self, g):
        return (g * self.saved,)


# The kernels below fill y and slope for one block of rows, through `out=` (blocks.py says why);
# s is a scratch block. With with_slope=False, slope is scratch too and y alone is filled.

def _gelu_exact(x, y, slope, s, with_slope=True):
    """Through special.erf: accurate to float64 for gradient checks, to float32's relative
    precision (tails included) in other dtypes."""
    xp = namespace(x)
    xp.multiply(x, _INV_SQRT_2, out=s)
    s[...] = erf(s)
    s += 1.0
    s *= 0.5                                    # Phi(x)
    if with_slope:
        xp.multiply(x, x, out=slope)            # then x phi(x) + Phi(x)
        slope *= -0.5
        xp.exp(slope, out=slope)
        slope *= x
        slope *= _INV_SQRT_2PI
        slope += s
    xp.multiply(x, s, out=y)


# Abramowitz & Stegun 7.1.26: erfc(z) = t (a1 + a2 t + ... + a5 t^4) exp(-z^2), t = 1 / (1 + p z),
# z >= 0, with |error| < 1.5e-7. PyTorch's vectorised float32 erf uses the same formula.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _gelu_exact_float32(x, y, slope, s, with_slope=True):
    """Exact GELU in float32 in 27 array passes, 21 without the slope (through special.erf it
    takes about 45).

    With h = Phi(-|x|) = erfc(|x| / sqrt 2) / 2, which A&S gives directly (1 - erf would cancel),
        y = relu(x) - |x| h           (x >= 0: x (1 - h);  x < 0: x h)
        Phi(x) = 1 - h or h,          dy/dx = Phi(x) + x phi(x),
    and phi's exp(-x^2 / 2) is the same exp that erfc needs. Phi is off by at most 7.5e-8
    (absolute), as in PyTorch's GELU.
    """
    xp = namespace(x)
    xp.multiply(x, x, out=slope)                # slope <- exp(-x^2 / 2), for now
    slope *= -0.5
    xp.exp(slope, out=slope)
    xp.abs(x, out=s)                            # s <- t = 1 / (1 + p |x| / sqrt 2)
    s *= _AS_P * _INV_SQRT_2
    s += 1.0
    xp.divide(1.0, s, out=s)
    xp.multiply(s, 0.5 * _AS_A[4], out=y)       # y <- h: Horner, the coefficients halved
    for c in reversed(_AS_A[:4]):
        y += 0.5 * c
        y *= s
    y *= slope
    if with_slope:
        # Phi(x) = 0.5 + sign(x) (0.5 - h); copysign, not a `where`, which costs 25 NumPy passes
        xp.subtract(0.5, y, out=s)
        xp.copysign(s, x, out=s)
        s += 0.5
        slope *= x                              # slope <- x phi(x) + Phi(x)
        slope *= _INV_SQRT_2PI
        slope += s
    xp.abs(x, out=s)                            # y <- relu(x) - |x| h, relu(x) = (x + |x|) / 2
    y *= s
    s += x
    s *= 0.5
    xp.subtract(s, y, out=y)


def _gelu_tanh(x, y, slope, s, with_slope=True):
    """GPT-2's tanh GELU: y = x (1 + t) / 2 and its slope (class docstring) in 18 passes, y
    alone in 8."""
    xp = namespace(x)
    xp.multiply(x, x, out=s)                    # s <- u = sqrt(2/pi) (x + 0.044715 x^3)
    s *= 0.044715 * _SQRT_2_OVER_PI
    s += _SQRT_2_OVER_PI
    s *= x
    xp.tanh(s, out=s)                           # s <- t
    if with_slope:
        xp.multiply(s, s, out=y)                # y <- 1 - t^2, for now
        xp.subtract(1.0, y, out=y)
        xp.multiply(x, x, out=slope)            # slope <- x du/dx
        slope *= 3 * 0.044715 * _SQRT_2_OVER_PI
        slope += _SQRT_2_OVER_PI
        slope *= x
        slope *= y                              # slope <- (1 + t + x du/dx (1 - t^2)) / 2
        slope += s
        slope += 1.0
        slope *= 0.5
    xp.add(s, 1.0, out=y)                       # y <- x (1 + t) / 2
    y *= x
    y *= 0.5


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
        rows = xp.reshape(x, (-1, x.shape[-1]))
        y = xp.matmul(rows, xp.permute_dims(weight, (1, 0)))
        y = xp.reshape(y, tuple(x.shape[:-1]) + (weight.shape[0],))
        if bias is not None:
            y += bias
        return y

    def backward(self, g):
        x, weight, bias_shape = self.saved
        xp = namespace(g)
        g2 = xp.reshape(g, (-1, g.shape[-1]))
        dx = xp.reshape(xp.matmul(g2, weight), x.shape) if self.needs_grad[0] else None
        dw = xp.matmul(xp.permute_dims(g2, (1, 0)), xp.reshape(x, (-1, x.shape[-1]))) \
            if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return dx, dw
        if not self.needs_grad[2]:
            return dx, dw, None
        db = xp.sum(g2, axis=0) if bias_shape == (weight.shape[0],) else unbroadcast(xp, g, bias_shape)
        return dx, dw, db

    @classmethod
    def explain_failure(cls, error, x, weight, bias=None):
        if weight.ndim != 2:
            raise ValueError(f"linear: the weight must be (out_features, in_features), got shape "
                             f"{weight.shape}") from error
        if x.shape[-1] != weight.shape[-1]:
            raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1]} features, the weight "
                             f"{weight.shape} expects {weight.shape[-1]}") from error
        super().explain_failure(error, x, weight, *([bias] if bias is not None else []))
