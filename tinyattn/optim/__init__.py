"""Optimisers, gradient clipping and learning-rate schedules, shaped like `torch.optim`.

    from tinyattn import optim
    opt = optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    schedule = optim.WarmupCosine(opt, warmup_steps=100, total_steps=5000)
    ...
    loss.backward()
    optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    schedule.step()
    opt.zero_grad()

Read base.py first (Optimizer: groups, state, zero_grad, state_dict), then optimizers.py (SGD,
Adam, AdamW: each step in a few lines of array arithmetic), clip.py (clip_grad_norm_) and
schedules.py (LambdaLR, WarmupInverseSqrt as in the paper, WarmupCosine as in nanoGPT).
"""
from .base import Optimizer
from .clip import clip_grad_norm_
from .optimizers import SGD, Adam, AdamW
from .schedules import LambdaLR, LRScheduler, WarmupCosine, WarmupInverseSqrt

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_",
           "LRScheduler", "LambdaLR", "WarmupInverseSqrt", "WarmupCosine"]
