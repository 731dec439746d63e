"""Forward and hand-derived backward of one GPT training step, on buffers allocated once.

The model is tinyattn.nn.GPT's (and benchmarks/torch_gpt.py's): token + learned position embeddings;
L pre-norm blocks, x += attention(LN1(x)) then x += W2 GELU(W1 LN2(x)) (causal multi-head
self-attention with q, k, v, out projections; biases everywhere); a final LayerNorm; logits through
the token embedding (tied head); mean cross-entropy. Shapes: B sequences of T tokens, N = B T rows,
width C, H heads of D = C / H, hidden width F = 4C, vocabulary V.

What makes it fast, each trick saving passes over the activations or NumPy calls:
  * biases ride in the GEMM: a Linear's input is stored (N, in+1) with a last column of ones
    (written once, at allocation) and its weight (out, in+1) (layout.py), so the forward has no
    bias-add pass and the weight gradient's GEMM dY^T [X | 1] yields the bias gradient as its last
    column;
  * each LayerNorm's affine, and the attention scale, are folded into the next weight (folding.py);
  * q, k, v are strided (B, H, T, D) views of one (N, 3C) projection, and their gradients are
    written through the same views into one (N, 3C) buffer: one GEMM each way and no copies; the
    attention output is written through a view straight into out_proj's (N, C+1) input;
  * row reductions are GEMVs (rowwise.py); GELU computes its slope with its forward, in
    cache-sized blocks (kernels.py); every call writes into a buffer allocated here, once.

Profiling: `mark(category)` is called after each piece; the default, no_mark, does nothing.
"""
import numpy as np

from .folding import unfold
from .kernels import GELU_BLOCK_FLOATS, GELU_KERNELS, gelu_in_blocks
from .rowwise import RowOps


def no_mark(category):
    """The profiling hook when not profiling."""


class Work:
    """Buffers, forward and backward for batches of B sequences of T tokens.

    fwd_bwd(tokens, targets) writes into `grads` (Layout.views of a flat buffer) the gradient of
    (sum of the batch's token losses) / normalizer, and returns that quantity. With normalizer = B T
    it is the mean cross-entropy; two Works over halves of a batch, both with the whole batch's token
    count, give gradients that add up to the whole batch's (step.py). Every gradient entry is
    written, not accumulated, each step, so no zeroing pass is needed. `params` are read only, and
    `folded` (FoldedWeights) must have been built from them."""

    def __init__(self, layout, params, grads, folded, batch, num_heads, normalizer, activation):
        V, C, L, T, F = layout.V, layout.C, layout.L, layout.T, layout.F
        N = batch * T
        self.layout, self.params, self.grads, self.folded = layout, params, grads, folded
        self.B, self.T, self.H, self.D = batch, T, num_heads, C // num_heads
        self.ops = RowOps(batch, T, C, num_heads, V, normalizer)
        self.gelu = GELU_KERNELS[activation]
        empty = lambda *shape: np.empty(shape, np.float32)

        def with_ones(rows, cols):                         # [values | 1]: the input of a Linear
            buffer = empty(rows, cols + 1)
            buffer[:, -1] = 1.0
            return buffer

        # what the backward needs from the forward, per layer
        self.x = [empty(N, C) for _ in range(L + 1)]      # residual stream into layer l (x[L]: the end)
        self.x_mid = [empty(N, C) for _ in range(L)]      # after the attention's residual add
        self.xhat1 = [with_ones(N, C) for _ in range(L)]  # LN1's normalised x
        self.rstd1 = [empty(N, 1) for _ in range(L)]
        self.qkv = [empty(N, 3 * C) for _ in range(L)]
        self.probs = [empty(batch, num_heads, T, T) for _ in range(L)]
        self.attn = [with_ones(N, C) for _ in range(L)]   # attention output, heads merged
        self.xhat2 = [with_ones(N, C) for _ in range(L)]
        self.rstd2 = [empty(N, 1) for _ in range(L)]
        self.hidden = [with_ones(N, F) for _ in range(L)]  # GELU output
        self.slope = [empty(N, F) for _ in range(L)]      # GELU' at the pre-activation
        self.xhat_final, self.rstd_final = with_ones(N, C), empty(N, 1)
        self.logits = empty(N, V)                         # then dL/dlogits
        # scratch, reused from layer to layer
        self.pre_gelu, self.branch = empty(N, F), empty(N, C)
        block_rows = max(1, GELU_BLOCK_FLOATS // F)
        self.gelu_tmp1, self.gelu_tmp2 = empty(block_rows, F), empty(block_rows, F)
        self.d_x, self.d_in = empty(N, C), empty(N, C)    # the residual stream's; a Linear input's
        self.d_hidden, self.d_qkv = empty(N, F), empty(N, 3 * C)
        self.d_scores = empty(batch, num_heads, T, T)
        widest = max(F, 3 * C, V)                         # the most rows of a folded weight
        self.d_weight, self.weight_tmp = empty(widest, C + 1), empty(widest, C)
        self.ones_rows, self.ones_B = np.ones(widest, np.float32), np.ones(batch, np.float32)
        self.token_onehot, self.token_rows = np.zeros((N, V), np.float32), np.arange(N)
        self.d_wte_tokens = empty(V, C)

    def qkv_heads(self, qkv, i):
        """(B, H, T, D) view of q (i = 0), k (1) or v (2) inside an (N, 3C) buffer."""
        B, T, H, D = self.B, self.T, self.H, self.D
        return qkv.reshape(B, T, 3, H, D)[:, :, i].transpose(0, 2, 1, 3)

    def heads(self, a):
        """(B, H, T, D) view of the first C columns of an (N, C) or (N, C+1) buffer (never a copy:
        the results of matmul(..., out=heads(a)) must land in a)."""
        B, T, H, D = self.B, self.T, self.H, self.D
        return a[:, :H * D].reshape(B, T, H, D, copy=False).transpose(0, 2, 1, 3)

    def fwd_bwd(self, tokens, targets, mark=no_mark):
        """Loss of tokens -> targets (B, T) integer arrays; gradients into `grads`."""
        tokens, targets = tokens.reshape(-1), targets.reshape(-1)
        loss = self.forward(tokens, targets, mark)
        self.backward(tokens, mark)
        return loss

    def forward(self, tokens, targets, mark):
        p, ops, folded, L = self.params, self.ops, self.folded, self.layout.L
        np.take(p["wte"], tokens, axis=0, out=self.x[0])
        self.x[0].reshape(self.B, self.T, -1)[...] += p["wpe"]
        mark("embedding")
        for layer in range(L):
            x, x_mid, qkv, probs, attn = (self.x[layer], self.x_mid[layer], self.qkv[layer],
                                          self.probs[layer], self.attn[layer])
            ops.layer_norm(x, self.xhat1[layer], self.rstd1[layer])
            mark("layer norm, folding")
            np.matmul(self.xhat1[layer], folded.qkv[layer].T, out=qkv)   # q (scaled), k, v
            mark("linear GEMMs")
            q, k, v = (self.qkv_heads(qkv, i) for i in range(3))
            np.matmul(q, k.transpose(0, 1, 3, 2), out=probs)           # scores (B, H, T, T)
            mark("attention GEMMs")
            ops.causal_softmax(probs)
            mark("softmax")
            np.matmul(probs, v, out=self.heads(attn))
            mark("attention GEMMs")
            np.matmul(attn, p[f"{layer}.out"].T, out=self.branch)
            mark("linear GEMMs")
            np.add(x, self.branch, out=x_mid)
            mark("residual adds")
            ops.layer_norm(x_mid, self.xhat2[layer], self.rstd2[layer])
            mark("layer norm, folding")
            np.matmul(self.xhat2[layer], folded.ff1[layer].T, out=self.pre_gelu)
            mark("linear GEMMs")
            gelu_in_blocks(self.gelu, self.pre_gelu, self.hidden[layer][:, :-1], self.slope[layer],
                           self.gelu_tmp1, self.gelu_tmp2)
            mark("GELU")
            np.matmul(self.hidden[layer], p[f"{layer}.ff2"].T, out=self.branch)
            mark("linear GEMMs")
            np.add(x_mid, self.branch, out=self.x[layer + 1])
            mark("residual adds")
        ops.layer_norm(self.x[L], self.xhat_final, self.rstd_final)
        mark("layer norm, folding")
        np.matmul(self.xhat_final, folded.head.T, out=self.logits)
        mark("linear GEMMs")
        loss = ops.cross_entropy(self.logits, targets)
        mark("cross-entropy")
        return loss

    def unfold(self, d_folded, key, norm, row_scale=None):
        """Gradients of the Linear `key` and the LayerNorm `norm` before it (parameter names,
        e.g. "0.qkv", "0.norm1") from d_folded = dL/d(folded weight); see folding.unfold."""
        p, g = self.params, self.grads
        unfold(d_folded, p[key], p[norm + ".g"], p[norm + ".b"], g[key], g[norm + ".g"],
               g[norm + ".b"], self.ones_rows, self.weight_tmp, row_scale)

    def backward(self, tokens, mark):
        p, g, ops, folded = self.params, self.grads, self.ops, self.folded
        C, F, V, L = self.layout.C, self.layout.F, self.layout.V, self.layout.L
        d_x, d_in = self.d_x, self.d_in
        # head and final norm: logits = [xhat | 1] head^T
        d_logits = self.logits
        np.matmul(d_logits.T, self.xhat_final, out=self.d_weight[:V])
        np.matmul(d_logits, folded.head[:, :C], out=d_in)
        mark("linear GEMMs")
        self.unfold(self.d_weight[:V], "wte", "final")      # writes wte's gradient; tokens add below
        d_x[...] = 0.0
        ops.layer_norm_back(d_in, self.xhat_final, self.rstd_final, d_x)
        mark("layer norm, folding")
        for layer in reversed(range(L)):
            # feed-forward: x[layer + 1] = x_mid + [GELU(a) | 1] ff2^T,  a = [xhat2 | 1] ff1_folded^T
            np.matmul(d_x.T, self.hidden[layer], out=g[f"{layer}.ff2"])
            np.matmul(d_x, p[f"{layer}.ff2"][:, :F], out=self.d_hidden)
            mark("linear GEMMs")
            self.d_hidden *= self.slope[layer]
            mark("GELU")
            np.matmul(self.d_hidden.T, self.xhat2[layer], out=self.d_weight[:F])
            np.matmul(self.d_hidden, folded.ff1[layer][:, :C], out=d_in)
            mark("linear GEMMs")
            self.unfold(self.d_weight[:F], f"{layer}.ff1", f"{layer}.norm2")
            ops.layer_norm_back(d_in, self.xhat2[layer], self.rstd2[layer], d_x)
            mark("layer norm, folding")
            # attention: x_mid = x + [softmax(q k^T) v | 1] out^T,  [q k v] = [xhat1 | 1] qkv_folded^T
            np.matmul(d_x.T, self.attn[layer], out=g[f"{layer}.out"])
            np.matmul(d_x, p[f"{layer}.out"][:, :C], out=d_in)          # d attn (N, C)
            mark("linear GEMMs")
            d_attn, probs, d_scores = self.heads(d_in), self.probs[layer], self.d_scores
            q, k, v = (self.qkv_heads(self.qkv[layer], i) for i in range(3))
            np.matmul(d_attn, v.transpose(0, 1, 3, 2), out=d_scores)  # d probs
            np.matmul(probs.transpose(0, 1, 3, 2), d_attn, out=self.qkv_heads(self.d_qkv, 2))
            mark("attention GEMMs")
            ops.causal_softmax_back(probs, d_scores)
            mark("softmax")
            np.matmul(d_scores, k, out=self.qkv_heads(self.d_qkv, 0))
            np.matmul(d_scores.transpose(0, 1, 3, 2), q, out=self.qkv_heads(self.d_qkv, 1))
            mark("attention GEMMs")
            np.matmul(self.d_qkv.T, self.xhat1[layer], out=self.d_weight[:3 * C])
            np.matmul(self.d_qkv, folded.qkv[layer][:, :C], out=d_in)
            mark("linear GEMMs")
            self.unfold(self.d_weight[:3 * C], f"{layer}.qkv", f"{layer}.norm1", folded.qkv_row_scale)
            ops.layer_norm_back(d_in, self.xhat1[layer], self.rstd1[layer], d_x)
            mark("layer norm, folding")
        # embeddings: the token rows' scatter-add as one GEMM with a one-hot matrix (V is small;
        # np.add.at would be far slower), and the position gradient summed over the batch as a GEMV
        onehot = self.token_onehot
        onehot.fill(0.0)
        onehot[self.token_rows, tokens] = 1.0
        np.matmul(onehot.T, d_x, out=self.d_wte_tokens)
        g["wte"] += self.d_wte_tokens
        np.matmul(self.ones_B, d_x.reshape(self.B, -1), out=g["wpe"].reshape(-1))
        mark("embedding")
