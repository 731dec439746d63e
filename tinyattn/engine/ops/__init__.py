"""The differentiable primitives: each a Function with its forward and backward side by side.

elementwise  add, sub, mul, div, neg, pow, exp, log, sqrt, tanh, sigmoid, relu, erf, where, cast
reduce       sum, mean, max
shape        reshape, permute, broadcast_to, concat
matmul       matrix products with broadcast batch dimensions
index        basic slicing and integer-array gather (embedding lookup)
"""
