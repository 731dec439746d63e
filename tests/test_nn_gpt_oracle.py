"""tinyattn.nn.GPT trained 50 steps with tinyattn.optim.AdamW gives the same float64 loss curve
as the same GPT written in PyTorch (below) trained with torch.optim.AdamW from the same weights.

Fifty steps of Adam carry any difference in a gradient forward into every later loss, so this
checks the model's forward and backward and the optimiser together, over a whole trajectory.
"""
from collections import OrderedDict

import numpy as np
from nn_twins import assert_grads_match, copy_into_torch

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim

VOCAB, D_MODEL, HEADS, LAYERS, MAX_LEN = 13, 16, 2, 2, 8


def _torch_gpt(torch):
    """GPT-2's layout in PyTorch, with our parameter names: token and learned position
    embeddings, pre-norm blocks of causal self-attention (separate q/k/v projections) and a
    GELU feed-forward, a final norm, and a head tied to the token embedding."""
    tnn, tF = torch.nn, torch.nn.functional

    class CausalSelfAttention(tnn.Module):
        def __init__(self):
            super().__init__()
            self.q_proj, self.k_proj, self.v_proj, self.out_proj = (tnn.Linear(D_MODEL, D_MODEL)
                                                                    for _ in range(4))

        def forward(self, x):
            batch, time, _ = x.shape
            heads = lambda t: t.view(batch, time, HEADS, -1).transpose(1, 2)        # (B, H, T, hd)
            out = tF.scaled_dot_product_attention(heads(self.q_proj(x)), heads(self.k_proj(x)),
                                                  heads(self.v_proj(x)), is_causal=True)
            return self.out_proj(out.transpose(1, 2).reshape(batch, time, D_MODEL))

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.self_attn = CausalSelfAttention()
            self.feed_forward = tnn.Sequential(OrderedDict(linear1=tnn.Linear(D_MODEL, 4 * D_MODEL),
                                                           gelu=tnn.GELU(),            # exact (erf)
                                                           linear2=tnn.Linear(4 * D_MODEL, D_MODEL)))
            self.norm1, self.norm2 = tnn.LayerNorm(D_MODEL), tnn.LayerNorm(D_MODEL)

        def forward(self, x):
            x = x + self.self_attn(self.norm1(x))
            return x + self.feed_forward(self.norm2(x))

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = tnn.Embedding(VOCAB, D_MODEL)
            # a ModuleDict only so that the name is ours: position_embedding.embedding.weight
            self.position_embedding = tnn.ModuleDict({"embedding": tnn.Embedding(MAX_LEN, D_MODEL)})
            self.blocks = tnn.ModuleList(Block() for _ in range(LAYERS))
            self.final_norm = tnn.LayerNorm(D_MODEL)
            self.head = tnn.Linear(D_MODEL, VOCAB, bias=False)
            self.head.weight = self.token_embedding.weight

        def forward(self, idx):
            positions = torch.arange(idx.shape[1])
            x = self.token_embedding(idx) + self.position_embedding["embedding"](positions)
            for block in self.blocks:
                x = block(x)
            return self.head(self.final_norm(x))

    return GPT()


def _batches(steps=50, batch=4, seed=0):
    """Batches drawn from 8 fixed sequences of MAX_LEN + 1 tokens: (inputs, next-token targets).
    Few enough sequences that 50 steps visibly learn them."""
    rng = np.random.default_rng(seed)
    corpus = rng.integers(0, VOCAB, (8, MAX_LEN + 1))
    for _ in range(steps):
        rows = corpus[rng.choice(8, batch, replace=False)]
        yield rows[:, :-1], rows[:, 1:]


def _train_ours(model):
    opt = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for idx, target in _batches():
        loss = F.cross_entropy(model(tinyattn.tensor(idx)), tinyattn.tensor(target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def _train_theirs(torch, model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for idx, target in _batches():
        logits = model(torch.tensor(idx))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), torch.tensor(target).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def _pair(torch):
    ours = nn.GPT(VOCAB, D_MODEL, HEADS, LAYERS, MAX_LEN, dtype="float64")
    return ours, copy_into_torch(ours, _torch_gpt(torch).double(), torch)


def test_gpt_gradients_match_torch(torch, backend):
    ours, twin = _pair(torch)
    idx, target = next(_batches())
    F.cross_entropy(ours(tinyattn.tensor(idx)), tinyattn.tensor(target)).backward()
    torch.nn.functional.cross_entropy(twin(torch.tensor(idx)).reshape(-1, VOCAB),
                                      torch.tensor(target).reshape(-1)).backward()
    assert_grads_match(ours, twin, "float64")        # the tied weight: embedding + head gradients


def test_gpt_trained_50_steps_with_adamw_matches_torch(torch, backend):
    ours, twin = _pair(torch)
    our_losses, their_losses = _train_ours(ours), _train_theirs(torch, twin)
    assert our_losses[-5:].mean() < 0.5 * our_losses[:5].mean()         # it really learned
    # float64 roundings (1e-16) grow through 50 Adam steps but stay far below 1e-8
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-8)
