"""Each LayerNorm's affine folded into the Linear that follows it, and the gradient back through
the fold.

A LayerNorm ends with z = xhat * g + b, and the Linear after it computes z W^T + c. Then
    z W^T + c = xhat (W diag g)^T + (W b + c),
so the step normalises (xhat) and runs one GEMM against the folded weight A = [W diag g | W b + c]
(out, C+1), its last column meeting the ones column of [xhat | 1]: no scale pass and no shift pass
over the (N, C) activations, only a pass over the (out, C) weight once per step. The q rows of the
attention's projection are also multiplied by the attention scale 1/sqrt(D), so the (B, H, T, T)
scores need no scaling pass either, forward or backward.
"""
import math

import numpy as np


def fold(W, g, b, out, row_scale=None):
    """out (O, C+1) = diag(row_scale) [W[:, :C] diag g | W[:, :C] b + c], where c is W's bias column
    (W (O, C+1)) or 0 (W (O, C), the tied head). g, b (C,); row_scale (O, 1) or None."""
    C = g.shape[0]
    np.multiply(W[:, :C], g, out=out[:, :C])
    np.matmul(W[:, :C], b, out=out[:, C])
    if W.shape[1] > C:
        out[:, C] += W[:, C]
    if row_scale is not None:
        out *= row_scale


def unfold(dA, W, g, b, dW, dg, db, ones, scratch, row_scale=None):
    """Gradients of W, g, b from dA (O, C+1) = dL/dA of the folded A = fold(W, g, b, row_scale):
        dA0 = diag(row_scale) dA              (A = diag(row_scale) A0)
        dW[:, :C] = dA0[:, :C] diag g + dA0[:, C] b^T,    dW[:, C] = dA0[:, C]  (W's bias, if any)
        dg = column sums of W[:, :C] * dA0[:, :C],        db = dA0[:, C]^T W[:, :C].
    Writes dW (W's shape), dg, db (C,); with a row_scale, dA is scaled in place into dA0. ones (at
    least O,) and scratch (at least (O, C)) are the caller's buffers (one set per thread)."""
    C = g.shape[0]
    rows = dA.shape[0]
    tmp = scratch[:rows]
    if row_scale is not None:
        dA *= row_scale
    np.multiply(dA[:, :C], g, out=dW[:, :C])
    np.multiply(dA[:, C:C + 1], b, out=tmp)
    dW[:, :C] += tmp
    if W.shape[1] > C:
        dW[:, C] = dA[:, C]
    np.multiply(W[:, :C], dA[:, :C], out=tmp)
    np.matmul(ones[:rows], tmp, out=dg)             # column sums as a GEMV (faster than np.sum)
    np.matmul(dA[:, C], W[:, :C], out=db)


class FoldedWeights:
    """The folded weights of one step, rebuilt from the parameters (`build`) before each step:
    qkv[l] (3C, C+1) from l.qkv and norm1 (q rows scaled by 1/sqrt(D)), ff1[l] (F, C+1) from l.ff1
    and norm2, head (V, C+1) from wte and the final norm. params: Layout.views of the flat buffer."""

    def __init__(self, layout, params, num_heads):
        C = layout.C
        self.layout, self.params = layout, params
        self.qkv = [np.empty((3 * C, C + 1), np.float32) for _ in range(layout.L)]
        self.ff1 = [np.empty((layout.F, C + 1), np.float32) for _ in range(layout.L)]
        self.head = np.empty((layout.V, C + 1), np.float32)
        scale = 1.0 / math.sqrt(C // num_heads)
        self.qkv_row_scale = np.concatenate([np.full(C, scale, np.float32),
                                             np.ones(2 * C, np.float32)])[:, None]

    def build(self):
        p = self.params
        for layer in range(self.layout.L):
            fold(p[f"{layer}.qkv"], p[f"{layer}.norm1.g"], p[f"{layer}.norm1.b"], self.qkv[layer],
                 self.qkv_row_scale)
            fold(p[f"{layer}.ff1"], p[f"{layer}.norm2.g"], p[f"{layer}.norm2.b"], self.ff1[layer])
        fold(p["wte"], p["final.g"], p["final.b"], self.head)
