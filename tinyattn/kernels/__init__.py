"""Kernels: speed only. Nothing here is needed to understand a number tinyattn computes.

Read it last, or skip it. These are array functions that know no Tensor, no autograd and no
backend object (each takes the array namespace `xp` it should use), which is why they can sit
at the bottom of the tree, below backend/ (DESIGN.md drew them above the engine): the NumPy
backend takes its faster functions from here, and functional/ its fused loops.

fast_numpy.py       NumPy's hot functions without their Python overhead; `out=` for the strict backend
cache_blocking.py   long elementwise chains run in cache-sized chunks of rows, through out= buffers
erf.py              erf's two formulas (float64 series, A&S 7.1.26) and their accuracy
gelu.py             the fused GELU's passes, y and its slope at once
layer_norm.py       the fused layer norm's loops, forward and backward

The Functions that call them, in functional/fused.py, carry the math and the derivations;
tinyattn.reference_mode() bypasses them entirely. The engine and nn/ never import them
(pyproject.toml's import-linter contract checks it).
"""
