"""Comparisons (x == y, x < 0.5), logic on boolean masks (mask & causal, ~mask), and the positions
of the largest or smallest values (argmax): the operations whose results are booleans or
positions, so no gradient flows through them and they need no Function node.

The one rule of their own is the dtype they compare in: an int64 tensor compared with 1.5 is
compared in float32, the dtype arithmetic would give (PyTorch's rule; array_api_strict refuses
to compare mixed dtypes at all, and NumPy would use float64).
"""
from .arguments import dim_arg
from .dtypes import result_dtype
from .errors import check_same_backend


def compare(x, other, name):
    """The boolean tensor `name`(x, other) for a backend function name ("less", "logical_and")."""
    other = x._lift(other)
    check_same_backend(name, [x.data, other.data])
    a, b = x.data, other.data
    xp = x.backend.xp
    if a.dtype != b.dtype:          # int_t > 1.5: compare in the common dtype (strict insists)
        common = x.backend.dtypes[result_dtype([x, other])]
        a, b = xp.astype(a, common), xp.astype(b, common)
    return x._make(getattr(xp, name)(a, b), False, None)


def equal(x, other):
    return compare(x, other, "equal")


def not_equal(x, other):
    return compare(x, other, "not_equal")


def less(x, other):
    return compare(x, other, "less")


def less_equal(x, other):
    return compare(x, other, "less_equal")


def greater(x, other):
    return compare(x, other, "greater")


def greater_equal(x, other):
    return compare(x, other, "greater_equal")


def logical_and(x, other):
    return compare(x, other, "logical_and")


def logical_or(x, other):
    return compare(x, other, "logical_or")


def logical_not(x):
    """~mask, for boolean tensors only (~ on integers flips bits in NumPy: not a mask's meaning)."""
    if x.dtype != "bool":
        raise TypeError(f"~: defined for boolean tensors (masks), got {x.dtype}")
    return x._make(x.backend.xp.logical_not(x.data), False, None)


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Positions of the largest values (not differentiable)."""
    return _position_of(x, "argmax", dim if dim is not None else axis,
                        keepdim if keepdim is not None else keepdims)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Positions of the smallest values (not differentiable)."""
    return _position_of(x, "argmin", dim if dim is not None else axis,
                        keepdim if keepdim is not None else keepdims)


def _position_of(x, name, axis, keepdims):
    xp = x.backend.xp
    if axis is None:                     # the position in the flattened tensor, as PyTorch
        return x._make(getattr(xp, name)(xp.reshape(x.data, (-1,))), False, None)
    axis = dim_arg(name, axis, x.ndim)
    return x._make(getattr(xp, name)(x.data, axis=axis, keepdims=keepdims), False, None)
