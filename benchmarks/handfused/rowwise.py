"""Layer norm, causal softmax and cross-entropy, forward and backward, on preallocated buffers.

Each reduces along rows (over C channels, T keys, V classes), and each reduction is a GEMV against
a vector of ones (or of 1/C for a mean): about 3x faster here than np.sum over rows this short. One
RowOps serves one batch shape and one thread (its scratch buffers are its own).
"""
import numpy as np

LAYER_NORM_EPS = 1e-5          # nn.LayerNorm's default, in tinyattn and PyTorch


class RowOps:
    """Row-wise pieces of a step over N = B T rows of width C, B H attention rows of T keys, and
    vocabulary V. Losses and their gradients are divided by `normalizer` (a token count)."""

    def __init__(self, batch, context, d_model, num_heads, vocab_size, normalizer):
        B, T, C, H, V = batch, context, d_model, num_heads, vocab_size
        N = B * T
        empty = lambda *shape: np.empty(shape, np.float32)
        self.C, self.inv_normalizer = C, 1.0 / normalizer
        self.centred, self.squares = empty(N, C), empty(N, C)
        self.mean, self.var, self.row_mean, self.row_mean2 = (empty(N, 1) for _ in range(4))
        self.mean_weights = np.full(C, 1.0 / C, np.float32)
        self.causal_mask = np.triu(np.full((T, T), -np.inf, np.float32), 1)
        self.row_max, self.row_sum = empty(B, H, T, 1), empty(B, H, T, 1)
        self.ones_T, self.ones_V = np.ones(T, np.float32), np.ones(V, np.float32)
        self.logit_max, self.logit_sum = empty(N, 1), empty(N, 1)
        self.rows = np.arange(N)

    def layer_norm(self, x, xhat, rstd):
        """xhat[:, :C] = (x - mean) rstd, with rstd = 1 / sqrt(var + eps) (N, 1) over the C channels
        of x (N, C). The affine g, b is left to the next weight (folding.py)."""
        centred = self.centred
        np.matmul(x, self.mean_weights, out=self.mean[:, 0])
        np.subtract(x, self.mean, out=centred)
        np.multiply(centred, centred, out=self.squares)
        np.matmul(self.squares, self.mean_weights, out=self.var[:, 0])
        self.var += LAYER_NORM_EPS
        np.sqrt(self.var, out=self.var)
        np.divide(1.0, self.var, out=rstd)
        np.multiply(centred, rstd, out=xhat[:, :self.C])

    def layer_norm_back(self, d_xhat, xhat, rstd, d_x):
        """d_x (N, C) += dL/dx, from d_xhat = dL/dxhat (N, C), which is overwritten:
            dL/dx = rstd (d_xhat - mean(d_xhat) - xhat mean(d_xhat xhat))    (means over channels)"""
        xhat, tmp = xhat[:, :self.C], self.centred
        np.matmul(d_xhat, self.mean_weights, out=self.row_mean[:, 0])
        np.multiply(d_xhat, xhat, out=tmp)
        np.matmul(tmp, self.mean_weights, out=self.row_mean2[:, 0])
        self.row_mean *= rstd
        self.row_mean2 *= rstd
        np.multiply(xhat, self.row_mean2, out=tmp)
        d_xhat *= rstd
        d_xhat -= tmp
        d_xhat -= self.row_mean
        d_x += d_xhat

    def causal_softmax(self, scores):
        """Softmax over the last axis of scores (B, H, T, T), in place, each query's later keys masked."""
        scores += self.causal_mask
        np.max(scores, axis=-1, keepdims=True, out=self.row_max)
        scores -= self.row_max
        np.exp(scores, out=scores)
        np.matmul(scores, self.ones_T, out=self.row_sum[..., 0])
        np.divide(1.0, self.row_sum, out=self.row_sum)
        scores *= self.row_sum

    def causal_softmax_back(self, probs, d_probs):
        """d_probs (B, H, T, T) becomes dL/dscores = P (dP - rowsum(P dP)); probs P is overwritten.
        Masked entries have P = 0, so their gradient is 0 with no mask needed."""
        d_probs *= probs
        np.matmul(d_probs, self.ones_T, out=self.row_sum[..., 0])
        probs *= self.row_sum
        d_probs -= probs

    def cross_entropy(self, logits, targets):
        """The loss from logits z (N, V) and targets y (N,), leaving dL/dz in logits' place:
            loss = sum_n [log sum_v exp(z_nv - m_n) - (z_n,y_n - m_n)] / normalizer,  m_n = max_v z_nv
            dL/dz = (softmax(z) - onehot(y)) / normalizer"""
        rows = self.rows
        np.max(logits, axis=1, keepdims=True, out=self.logit_max)
        logits -= self.logit_max
        picked = logits[rows, targets]                  # a copy, taken before exp overwrites logits
        np.exp(logits, out=logits)
        np.matmul(logits, self.ones_V, out=self.logit_sum[:, 0])
        loss = (float(np.log(self.logit_sum).sum()) - float(picked.sum())) * self.inv_normalizer
        np.divide(self.inv_normalizer, self.logit_sum, out=self.logit_sum)
        logits *= self.logit_sum
        logits[rows, targets] -= self.inv_normalizer
        return loss
