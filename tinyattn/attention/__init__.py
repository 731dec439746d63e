"""Attention: scaled dot-product attention, the masks it takes, and its faster variants.

Read reference.py first: attention as a composition of primitives, the code every variant is
tested against. Then masks.py (which query may see which key, as pictures), fused_causal.py
(the same causal self-attention as one node, the default while training), flash.py (the same
numbers in memory linear in T), window.py (a different, local attention at cost T x W).
"""
from .flash import flash_attention
from .masks import causal_mask, padding_mask, sliding_window_mask
from .reference import scaled_dot_product_attention
from .window import window_attention
