"""The engine: Tensor, Function and backward, and the primitives, on the arrays of a backend.

Read tensor.py (a Tensor: an array, its gradient, the node that made it), autograd.py
(Function nodes, grad mode and the backward pass), then ops/ (each primitive's forward beside
its backward). Those are the core. Beside it, each in a module named for what it does:
dtypes.py (PyTorch's promotion rules), arguments.py (the spellings users pass), indexing.py
(reading an index key), inplace.py (x += y, x[mask] = 0, and when autograd allows it), creation.py
(zeros, randn, ...), tensor_functions.py (tinyattn.exp(x), concat, where), gradcheck.py, and
extra_ops.py: PyTorch's operators a Transformer does not need (//, %, maximum, abs, base ** x,
var and std), kept out of the core.
"""
