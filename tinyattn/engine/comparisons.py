"""Comparisons (x == y, x < 0.5), logic on boolean masks (mask & causal, ~mask), the positions
of the largest or smallest values (argmax): the operations whose results are booleans or
positions, so no gradient flows through them and they need no Function node; and the two that
take a mask, masked_fill and where, which insist that it is one.

The one rule of their own is the dtype they compare in: an int64 tensor compared with 1.5 is
compared in float32, the dtype arithmetic would give (PyTorch's rule; array_api_strict refuses
to compare mixed dtypes at all, and NumPy would use float64).
"""
from .arguments import dim_arg
from .dtypes import result_dtype
from .errors import check_same_backend
from .ops.broadcast import broadcast_shape
from .ops.elementwise import Where


def compare(x, other, name):
    """The boolean tensor `name`(x, other) for a backend function name ("less", "logical_and")."""
    other = x._lift(other)
    check_same_backend(name, [x.data, other.data])
    a, b = x.data, other.data
    xp = x.backend.xp
    if a.dtype != b.dtype:          # int_t > 1.5: compare in the common dtype (strict insists)
        # int8 against uint8 in int64, which holds both (PyTorch's int16, which tinyattn has not)
        common = "int64" if {x.dtype, other.dtype} == {"int8", "uint8"} else result_dtype([x, other])
        a, b = xp.astype(a, x.backend.dtypes[common]), xp.astype(b, x.backend.dtypes[common])
    try:
        return x._make(getattr(xp, name)(a, b), False, None)
    except Exception:
        broadcast_shape(name, x.shape, other.shape)     # a clear error if the shapes clash
        if a.dtype != xp.bool:
            raise
    # masks ordered (False < True) as NumPy and PyTorch do; the array API standard orders numbers only
    return x._make(getattr(xp, name)(xp.astype(a, xp.int8), xp.astype(b, xp.int8)), False, None)


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
    """mask & other, for boolean tensors only: on integers PyTorch's & is bitwise, not logical."""
    return compare(x, _mask("&", x, other), "logical_and")


def logical_or(x, other):
    """mask | other, for boolean tensors only, as &."""
    return compare(x, _mask("|", x, other), "logical_or")


def _mask(op, x, other):
    """other as a tensor, when both it and x are boolean; else a TypeError naming the op."""
    other = x._lift(other)
    if x.dtype != "bool" or other.dtype != "bool":
        raise TypeError(f"{op}: defined for boolean tensors (masks), got {x.dtype} and {other.dtype}; "
                        "tinyattn has no bitwise operations on integers")
    return other


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
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: dim must be a single axis (an int), got {axis}")
    if x.dtype == "bool":
        raise TypeError(f"{name}: not defined for a boolean tensor, as in PyTorch; "
                        "convert it first (x.long())")
    if axis is None:                     # the position in the flattened tensor, as PyTorch
        if x.numel() == 0:
            raise IndexError(f"{name}: the tensor of shape {x.shape} is empty: no position to give")
        flat = getattr(xp, name)(xp.reshape(x.data, (-1,)))
        return x._make(xp.reshape(flat, (1,) * x.ndim) if keepdims else flat, False, None)
    axis = dim_arg(name, axis, x.ndim)
    if x.ndim and x.shape[axis] == 0:
        raise IndexError(f"{name}: axis {axis} of the tensor of shape {x.shape} is empty: "
                         "no position to give")
    return x._make(getattr(xp, name)(x.data, axis=axis, keepdims=keepdims), False, None)


def condition(op, x, mask):
    """The array of a boolean `mask` (a tensor or an array-like) for where and masked_fill; any
    other dtype is a TypeError naming the op, as in PyTorch (NumPy would take it as truthy)."""
    cond = mask.data if hasattr(mask, "creator") else x.backend.asarray(mask)
    if cond.dtype != x.backend.xp.bool:
        kind = x.backend.dtype_names.get(cond.dtype, cond.dtype)
        raise TypeError(f"{op}: the mask (condition) must be boolean, got {kind}; compare first, "
                        "e.g. mask != 0")
    return cond


def masked_fill(x, mask, value):
    """A copy of x with `value` wherever the boolean `mask` (broadcastable) is True, as PyTorch:
    scores.masked_fill(mask == 0, -1e9). The value takes x's dtype, as in PyTorch (an integer x
    filled with 0.5 gets 0); the filled places get no gradient."""
    cond = condition("masked_fill", x, mask)
    if isinstance(value, int) and x.dtype in ("uint8", "int8") and not -128 <= value <= 255:
        raise ValueError(f"masked_fill: the value {value} does not fit dtype {x.dtype}, as in PyTorch")
    value = x._lift(value)
    return Where.apply(value if value.dtype == x.dtype else value.to(dtype=x.dtype), x, cond=cond)
