"""tinyattn.nn.GPT trained 50 steps with tinyattn.optim.AdamW gives the same float64 loss curve
as the same GPT written in PyTorch (benchmarks/torch_gpt.py) trained with torch.optim.AdamW
from the same weights.

Fifty steps of Adam carry any difference in a gradient forward into every later loss, so this
checks the model's forward and backward and the optimiser together, over a whole trajectory.
"""
import sys
from pathlib import Path

import numpy as np
from nn_twins import assert_grads_match, copy_into_torch

import tinyattn
import tinyattn.functional as F
from tinyattn import nn, optim

# the PyTorch twin of GPT lives beside the benchmark that also uses it
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from torch_gpt import torch_gpt  # noqa: E402

VOCAB, D_MODEL, HEADS, LAYERS, MAX_LEN = 13, 16, 2, 2, 8


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
    tinyattn.manual_seed(0)          # the same start whatever ran before (the learning check needs it)
    ours = nn.GPT(VOCAB, D_MODEL, HEADS, LAYERS, MAX_LEN, dtype="float64")
    twin = torch_gpt(torch, VOCAB, D_MODEL, HEADS, LAYERS, MAX_LEN).double()
    return ours, copy_into_torch(ours, twin, torch)


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
