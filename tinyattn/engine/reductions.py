"""PyTorch's rules for the reductions of ops/reduce.py: sums of integers in int64, mean of
floating point only, max and min of every dtype, and no max or min over an empty axis.

sum of booleans and integers is int64, as in PyTorch: NumPy (and the array API standard) would
sum uint8 into uint64, a dtype tinyattn has not, and int32 into int32 on some platforms.
mean of integers is refused, as PyTorch refuses it ("could not infer output dtype"): NumPy would
quietly compute it in float64. min is the max of -x for floating point (so it shares max's
backward) but is taken directly for integers and booleans, which need no gradient: negating a
uint8 wraps around (-0 is 0, but -1 is 255) and a boolean cannot be negated at all.
"""
from .arguments import reduce_args
from .dtypes import require_floating
from .ops.reduce import Max, Mean, Sum


def sum_of(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The sum over `axis` (all axes by default); `dim`, `keepdim` as in PyTorch."""
    axes, keep = reduce_args("sum", x.ndim, axis, dim, keepdims, keepdim)
    if not x.dtype.startswith(("float", "int64")):
        x = x.to(dtype="int64")
    return Sum.apply(x, axes=axes, keepdims=keep)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The mean over `axis` (all axes by default); `dim`, `keepdim` as in PyTorch."""
    axes, keep = reduce_args("mean", x.ndim, axis, dim, keepdims, keepdim)
    require_floating("mean", x)
    return Mean.apply(x, axes=axes, keepdims=keep)


def amax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The largest values (ties share the gradient). Unlike PyTorch's `max(dim)`, returns only
    the values; use `argmax` for the positions."""
    axes, keep = reduce_args("max", x.ndim, axis, dim, keepdims, keepdim)
    check_not_empty("max", x, axes)
    if x.dtype == "bool":       # any(): the array API standard has no max of booleans
        return x._make(x.backend.xp.any(x.data, axis=axes, keepdims=keep), False, None)
    return Max.apply(x, axes=axes, keepdims=keep)


def amin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The smallest values (ties share the gradient); see amax."""
    axes, keep = reduce_args("min", x.ndim, axis, dim, keepdims, keepdim)
    check_not_empty("min", x, axes)
    if x.dtype.startswith("float"):
        return -Max.apply(-x, axes=axes, keepdims=keep)
    smallest = x.backend.xp.all if x.dtype == "bool" else x.backend.xp.min
    return x._make(smallest(x.data, axis=axes, keepdims=keep), False, None)


def check_not_empty(op, x, axes):
    """An IndexError naming the op when an axis to reduce has size 0: a max of nothing has no
    value (PyTorch: "Expected reduction dim to have non-zero size")."""
    empty = [a for a in axes if x.shape[a] == 0]
    if empty:
        raise IndexError(f"{op}: axis {empty[0]} of the tensor of shape {x.shape} is empty, and the "
                         f"{op} of no values is undefined")
