"""The engine: Tensor, Function and backward, and the primitives, on the arrays of a backend.

The core, about 1,100 lines read in one sitting, in this order:

    tensor.py         a Tensor: an array, its gradient, the node that made it; operators and
                      methods turn their arguments into arrays and apply a primitive
    autograd.py       Function nodes, grad mode, and the iterative backward pass, with
                      versions.py (a value changed in place after the forward is refused)
                      and errors.py (the checks every op shares)
    ops/              the primitives a Transformer needs, each forward beside its backward:
                      broadcast.py (the one place gradients are summed back to an input's
                      shape), elementwise.py, reduce.py, shape.py, matmul.py, index.py

Beside the core, each in a module named for what it does, PyTorch's rules, which a learner may
skip (Tensor's methods are one-line calls into them):

    dtypes.py         which dtype a result of mixed dtypes has (PyTorch's promotion rules)
    arguments.py      the spellings users pass: array-likes, shapes, axes (dim=/axis=), gradients
    indexing.py       reading an index key (x[1:3, None], x[i, j]) into what ops/index.py takes
    inplace.py        writing into a tensor: x += y, x[mask] = 0, and when autograd allows it
    conversion.py     x.to(backend or dtype), x.float(), x.item(), float(x)
    comparisons.py    x < y, mask & causal, ~mask, argmax: boolean or integer results, no gradient;
                      masked_fill and where, which take a mask
    reductions.py     sum, mean, max, min by PyTorch's dtype rules: integers sum to int64, mean
                      of floats only, no max of an empty axis
    reshaping.py      flatten, unsqueeze, squeeze, expand, transpose, t, mT, split, composed
                      from the shape primitives
    extra_ops.py      PyTorch's operators a Transformer does not need, with their backward:
                      //, %, maximum, abs, x ** p and base ** x, var and std

And the functions built on Tensor:

    creation.py          tensor, zeros, randn, arange, ...
    tensor_functions.py  the functional spelling: tinyattn.exp(x), concat, stack, where, take
    gradcheck.py         a backward checked against finite differences

Imports go one way: autograd imports versions.py and errors.py, ops/ import autograd (never
tensor.py), the modules beside the core take tensors and use their methods, tensor.py imports all
of them, and the last three import tensor.py.
"""
