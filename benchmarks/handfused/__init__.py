"""A GPT training step written by hand on NumPy, without an autograd engine: the fastest plain-NumPy
step found, the yardstick benchmarks/numpy_ceiling.py holds tinyattn and PyTorch against.

    layout.py    all parameters in one flat buffer; views under tinyattn's parameter names
    folding.py   LayerNorm affines (and the attention scale) folded into the next weight
    kernels.py   GELU with its slope, in cache-sized blocks
    rowwise.py   layer norm, causal softmax, cross-entropy, forward and backward
    work.py      the forward and hand-derived backward of one step, on buffers allocated once
    adamw.py     AdamW over the flat buffer
    step.py      the whole step, in one thread or with the batch split over two
"""
