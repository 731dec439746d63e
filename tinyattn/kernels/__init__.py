"""Kernels: speed only. Nothing here is needed to understand a number tinyattn computes.

Array functions that know no Tensor and no autograd: fast_numpy.py (NumPy's hot functions
without their Python overhead), cache_blocking.py (long elementwise chains run in cache-sized
chunks, through out= buffers), erf.py (erf's two formulas and their accuracy), gelu.py and
layer_norm.py (the fused GELU and layer norm's loops). The Functions that call them, in
functional/fused.py, carry the math; tinyattn.reference_mode() bypasses them entirely.
"""
