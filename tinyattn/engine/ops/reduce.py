"""Reductions over some axes: sum, mean, max (variance, built on the same idea, is in extra_ops.py).

Each backward first puts the reduced axes back as size-1 axes (if keepdims was False), so the
gradient broadcasts against the input: every input element that fed the result gets its share.
`axes` is always a tuple of non-negative axis numbers here; the Tensor methods normalise it.
"""
import math

from ...backend import namespace
from ..autograd import Function


def expand_reduced(xp, g, axes, keepdims):
    """g with the reduced axes re-inserted as size 1, ready to broadcast against the input."""
    if keepdims:
        return g
    shape = list(g.shape)
    for a in sorted(axes):
        shape.insert(a, 1)
    return xp.reshape(g, tuple(shape))


class Sum(Function):
    """sum over axes.   d/dx_i = 1 for every summed element: g is copied back to each."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, x, axes, keepdims):
        self.saved = (x.shape, axes, keepdims)
        return namespace(x).sum(x, axis=axes, keepdims=keepdims)

    def backward(self, g):
        xp = namespace(g)
        shape, axes, keepdims = self.saved
        return (xp.broadcast_to(expand_reduced(xp, g, axes, keepdims), shape),)


class Mean(Function):
    """mean over axes.   d/dx_i = 1/n, n the number of elements averaged."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, x, axes, keepdims):
        self.saved = (x.shape, axes, keepdims)
        return namespace(x).mean(x, axis=axes, keepdims=keepdims)

    def backward(self, g):
        xp = namespace(g)
        shape, axes, keepdims = self.saved
        n = math.prod(shape[a] for a in axes)
        scale = 1.0 / n if n else math.nan       # an empty axis: nan forward, and no element to feed
        return (xp.broadcast_to(expand_reduced(xp, g, axes, keepdims) * scale, shape),)


class Max(Function):
    """max over axes. The gradient goes to the maximal elements; when several tie, they share it
    equally (as torch.amax does), so the total gradient is still g."""

    __slots__ = ()
    saves_output = True

    def forward(self, x, axes, keepdims):
        xp = namespace(x)
        out = xp.max(x, axis=axes, keepdims=True)
        self.saved = (x, out, axes, keepdims)
        return out if keepdims else xp.reshape(out, tuple(n for i, n in enumerate(x.shape) if i not in axes))

    def backward(self, g):
        xp = namespace(g)
        x, out, axes, keepdims = self.saved
        is_max = x == out
        count = xp.sum(xp.astype(is_max, g.dtype), axis=axes, keepdims=True)
        share = expand_reduced(xp, g, axes, keepdims) / count
        return (xp.where(is_max, share, 0.0),)
