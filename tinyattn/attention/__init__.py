"""Attention: scaled dot-product attention, the masks it takes, its faster variants, the cache.

Read scaled_dot_product.py first: attention as a composition of primitives, the code every
variant is tested against. Then, in this order:

    scaled_dot_product.py  softmax(q k^T / sqrt(d) + mask) v, from the engine's primitives
    masks.py             which query may see which key, as pictures: causal, padding, sliding
                         window; where queries and keys sit (positions); the fill for hidden scores
    checks.py            the errors every attention function raises for a bad query, key or value
    fused_causal.py      the same causal self-attention as one node, the default while training
    flash.py             the same numbers tile by tile, in memory linear in T
    window.py            a different, local attention: each query sees the last W keys, cost T x W
    kv_cache.py          KVCache: the keys and values a layer keeps between decoding steps

Their backwards share softmax's, functional/softmax_backward.py.
nn/multi_head_attention.py puts these to work: it splits the width into heads and picks the path.
"""
from .flash import flash_attention
from .kv_cache import DecoderLayerCache, KVCache
from .masks import causal_mask, padding_mask, sliding_window_mask
from .scaled_dot_product import scaled_dot_product_attention
from .window import window_attention
