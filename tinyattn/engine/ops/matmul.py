"""Matrix product with broadcast batch dimensions: (..., n, k) @ (..., k, m) -> (..., n, m).

For out = a @ b and upstream gradient g (..., n, m):
    d/da = g @ b^T   (..., n, k)        d/db = a^T @ g   (..., k, m)
where ^T swaps the last two axes. When a batch dimension was broadcast (a weight (k, m) shared
by every row of (B, T, k), or a mask shared by every head), the gradient is summed over it.
"""
import math

from ...backend import namespace
from ..autograd import Function
from ..dtypes import matmul_operands
from .broadcast import broadcast_shape, unbroadcast


def swap_last(xp, x):
    """x with its last two axes swapped (a view): the matrix transpose of every batch entry."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return xp.permute_dims(x, tuple(axes))


class Matmul(Function):
    """a @ b for a, b with at least 2 dims (Tensor.__matmul__ handles vectors)."""

    __slots__ = ()

    def forward(self, a, b):
        self.saved = (a, b)
        return namespace(a).matmul(a, b)

    def backward(self, g):
        xp = namespace(g)
        a, b = self.saved
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(xp, xp.matmul(g, swap_last(xp, b)), a.shape)
        if self.needs_grad[1]:
            if b.ndim == 2 and a.ndim > 2:
                # A weight shared over the batch: fold the batch into the rows, so the sum over
                # it happens inside one matrix product instead of B products and a sum.
                a2 = xp.reshape(a, (math.prod(a.shape[:-1]), a.shape[-1]))   # not -1: a may be empty
                g2 = xp.reshape(g, (math.prod(g.shape[:-1]), g.shape[-1]))
                gb = xp.matmul(swap_last(xp, a2), g2)
            else:
                gb = unbroadcast(xp, xp.matmul(swap_last(xp, a), g), b.shape)
        return ga, gb

    @classmethod
    def explain_failure(cls, error, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not line up: "
                             f"{a.shape[-1]} != {b.shape[-2]}") from error
        broadcast_shape("matmul (batch dimensions)", a.shape[:-2], b.shape[:-2])
        super().explain_failure(error, a, b)


def matmul(a, b):
    """a @ b for tensors of any rank >= 1, as NumPy and PyTorch define it: a vector operand is
    treated as a one-row (a) or one-column (b) matrix, and that axis is dropped afterwards."""
    matmul_operands(a, b)           # at least 1-d, and one kind of dtype (dtypes.py)
    if a.ndim == 1:
        return matmul(a.unsqueeze(0), b).squeeze(-2 if b.ndim > 1 else -1)     # where a's row axis went
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(-1)).squeeze(-1)
    return Matmul.apply(a, b)
