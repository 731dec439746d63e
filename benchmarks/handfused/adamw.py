"""PyTorch's AdamW over one flat float32 buffer, in cache-sized blocks, with pre-scaled moments."""
import math

import numpy as np

# Elements per block: 32,768 floats are 128 KB, so a block's parameters, gradient, two moments and
# scratch (640 KB) stay in L2 cache through the update's 11 passes, instead of each pass streaming
# the whole buffer from memory.
BLOCK = 32768


class AdamW:
    """torch.optim.AdamW(lr, betas, eps, weight_decay) on params (P,), the whole model's flat buffer.

    It stores m' = m / (1 - b1) and v' = v / (1 - b2) instead of PyTorch's moments m, v, so that
    their updates need no scaling pass:
        m' = b1 m' + g,   v' = b2 v' + g^2,
    and PyTorch's  p = p (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps)  becomes
        p = p (1 - lr wd) - step m' / (sqrt(v') + eps'),
        step = lr (1 - b1) sqrt(bc2) / (bc1 sqrt(1 - b2)),   eps' = eps sqrt(bc2) / sqrt(1 - b2),
    with the bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t: Python floats, once per step."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1):
        self.params, self.lr, self.betas, self.eps, self.weight_decay = params, lr, betas, eps, weight_decay
        self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        self.t = 0
        self.tmp, self.grad_sum = np.empty(BLOCK, np.float32), np.empty(BLOCK, np.float32)
        self.blocks = [slice(i, min(i + BLOCK, params.size)) for i in range(0, params.size, BLOCK)]

    def step(self, grad, grad2=None):
        """One update from grad (P,), or from grad + grad2 when the batch's gradient comes in two
        halves (the sum is formed block by block, in cache)."""
        self.t += 1
        b1, b2 = self.betas
        bc1, sqrt_bc2 = 1.0 - b1 ** self.t, math.sqrt(1.0 - b2 ** self.t)
        neg_step = -self.lr * (1.0 - b1) * sqrt_bc2 / (bc1 * math.sqrt(1.0 - b2))
        eps = self.eps * sqrt_bc2 / math.sqrt(1.0 - b2)
        decay = 1.0 - self.lr * self.weight_decay
        for block in self.blocks:
            n = block.stop - block.start
            p, m, v, tmp, g = self.params[block], self.m[block], self.v[block], self.tmp[:n], grad[block]
            if grad2 is not None:
                g = np.add(g, grad2[block], out=self.grad_sum[:n])
            p *= decay
            m *= b1
            m += g
            v *= b2
            np.multiply(g, g, out=tmp)
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= neg_step
            p += tmp
