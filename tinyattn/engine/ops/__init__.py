"""The differentiable primitives: each a Function with its forward and backward side by side.

Read broadcast.py first (the one place a gradient is summed back to its input's shape), then
the rest in this order:

broadcast    unbroadcast, broadcast_shape
elementwise  add, sub, mul, div, neg, pow, exp, log, sqrt, tanh, sigmoid, relu, erf, where, cast
reduce       sum, mean, max
shape        reshape, permute, broadcast_to, concat
matmul       matrix products with broadcast batch dimensions
index        basic slicing and integer-array gather (embedding lookup)
"""
