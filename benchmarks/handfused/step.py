"""A whole GPT training step by hand: fold the weights, forward, backward, AdamW. In one thread,
or with the batch split over two.

Both classes are built from a tinyattn GPT's state_dict and train the same model, with the same
optimiser, as benchmarks/gpt_step.py's Pair: AdamW(lr=1e-3, weight_decay=0.1) on every parameter.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

from .adamw import AdamW
from .folding import FoldedWeights
from .layout import Layout
from .work import Work, no_mark


class HandFusedGPT:
    """The step in the calling thread (BLAS uses the threads it is given outside)."""

    def __init__(self, state_dict, vocab_size, activation, d_model, num_layers, num_heads, context, batch):
        self.layout = Layout(vocab_size, d_model, num_layers, context)
        self.params = np.zeros(self.layout.size, np.float32)
        self.grad = np.zeros(self.layout.size, np.float32)
        self.layout.load(self.params, state_dict)
        self.folded = FoldedWeights(self.layout, self.layout.views(self.params), num_heads)
        self.work = Work(self.layout, self.layout.views(self.params), self.layout.views(self.grad),
                         self.folded, batch, num_heads, batch * context, activation)
        self.optimizer = AdamW(self.params, lr=1e-3, weight_decay=0.1)

    def fwd_bwd(self, tokens, targets, mark=no_mark):
        """Mean cross-entropy of tokens -> targets (B, T); its gradient into self.grad."""
        self.folded.build()
        mark("layer norm, folding")
        return self.work.fwd_bwd(tokens, targets, mark)

    def step(self, tokens, targets, mark=no_mark):
        loss = self.fwd_bwd(tokens, targets, mark)
        self.optimizer.step(self.grad)
        mark("AdamW")
        return loss

    def gradients(self):
        """{tinyattn / PyTorch parameter name: gradient} after fwd_bwd."""
        return self.layout.named_views(self.grad)


class SplitHandFusedGPT:
    """The step with the batch split in two halves, one per Python thread (this one and a worker),
    BLAS limited to 1 thread meanwhile so that the two halves run on the two cores side by side.

    NumPy releases the GIL inside its ufuncs and GEMMs, so the halves overlap wherever the arrays
    are large enough; each half has its own Work (buffers, gradient), and both read the same
    parameters and folded weights. AdamW adds the two gradients block by block, in this thread
    (splitting it over the two threads as well measured no faster)."""

    def __init__(self, state_dict, vocab_size, activation, d_model, num_layers, num_heads, context, batch):
        if batch % 2:
            raise ValueError(f"SplitHandFusedGPT: batch {batch} does not split into two halves")
        self.layout = Layout(vocab_size, d_model, num_layers, context)
        self.params = np.zeros(self.layout.size, np.float32)
        self.grads = [np.zeros(self.layout.size, np.float32) for _ in range(2)]
        self.layout.load(self.params, state_dict)
        self.folded = FoldedWeights(self.layout, self.layout.views(self.params), num_heads)
        self.works = [Work(self.layout, self.layout.views(self.params), self.layout.views(grad), self.folded,
                           batch // 2, num_heads, batch * context, activation) for grad in self.grads]
        self.optimizer = AdamW(self.params, lr=1e-3, weight_decay=0.1)
        self.half = batch // 2
        self.worker = ThreadPoolExecutor(max_workers=1)
        self.blas = ThreadpoolController().select(user_api="blas")

    def fwd_bwd(self, tokens, targets):
        """Mean cross-entropy of tokens -> targets (B, T); its gradient in two halves, self.grads."""
        h = self.half
        self.folded.build()
        with self.blas.limit(limits=1):
            second = self.worker.submit(self.works[1].fwd_bwd, tokens[h:], targets[h:])
            first = self.works[0].fwd_bwd(tokens[:h], targets[:h])
            return first + second.result()

    def step(self, tokens, targets):
        loss = self.fwd_bwd(tokens, targets)
        self.optimizer.step(*self.grads)
        return loss

    def gradients(self):
        """{tinyattn / PyTorch parameter name: gradient} after fwd_bwd (the two halves added)."""
        return self.layout.named_views(self.grads[0] + self.grads[1])
