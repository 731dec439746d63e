"""The differentiable primitives: each a Function with its forward and backward side by side.

elementwise  add, sub, mul, div, neg, pow, rpow, exp, log, sqrt, tanh, sigmoid, relu, erf, maximum,
             where, cast
reduce       sum, mean, max, var
shape        reshape, permute, broadcast_to, concat
matmul       matrix products with broadcast batch dimensions
index        basic slicing and integer-array gather (embedding lookup)
"""
