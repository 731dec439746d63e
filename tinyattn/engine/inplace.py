"""Writing into a tensor's own array: `p -= lr * p.grad` and `x[mask] = 0`, with PyTorch's rules.

Every other operation makes a new tensor; these change an existing one, so every reference to it
(a module's parameter, an optimiser's) sees the new values. Autograd does not differentiate such a
write, so it is refused where backward would need it; under no_grad() it writes values only. Each
write is counted (versions.py): a graph that saved the old values refuses to backpropagate. The result
keeps the tensor's shape and dtype: the other operand broadcasts to it and is cast to its dtype,
and a write that would need a wider dtype (int64 += 0.5) is an error, as in PyTorch.
"""
from .autograd import is_grad_enabled
from .dtypes import dtype_kind
from .errors import check_same_backend
from .indexing import array_of, basic_key, checked_arrays, is_index_array, scalars_as_ints
from .ops.broadcast import broadcast_shape
from .versions import count_write


def update(x, other, name, symbol):
    """x <symbol>= other (x += other, ...) computed with the backend's function `name` ("add")
    and written into x's own array; returns x, which Python binds to the name again."""
    op = symbol + "="
    if x.dtype == "bool":
        raise TypeError(f"{op}: arithmetic on a boolean tensor (a mask); combine masks with & and |")
    other = x._lift(other)
    if is_grad_enabled() and (x.requires_grad or other.requires_grad):
        raise RuntimeError(f"{op}: an in-place update of a tensor that requires grad would be invisible "
                           f"to backward; for a manual update (an SGD step) write it inside "
                           f"`with tinyattn.no_grad():`, or write `x = x {symbol} y` for a new tensor")
    check_same_backend(op, [x.data, other.data])
    shape = broadcast_shape(op, x.shape, other.shape)
    if shape != x.shape:
        raise ValueError(f"{op}: the result has shape {shape}, which does not fit the tensor of shape "
                         f"{x.shape} updated in place; write `x = x {symbol} y` for a new tensor")
    mine, theirs = dtype_kind(x.dtype), dtype_kind(other.dtype)
    if name == "subtract" and theirs == 0:      # PyTorch refuses a boolean in a subtraction
        raise TypeError(f"{op}: subtracting a boolean tensor (a mask) is not supported; convert it first")
    if max(theirs, 2 if name == "divide" else 0) > mine:    # e.g. int64 += 0.5, int64 /= 2
        result = other.dtype if theirs > mine else "float32"
        raise TypeError(f"{op}: the result type {result} can't be cast to {x.dtype}, the dtype of "
                        f"the tensor updated in place; convert it first (x = x.float()) or write "
                        f"`x = x {symbol} y` for a new tensor")
    xp = x.backend.xp
    b = other.data if theirs == mine else xp.astype(other.data, x.data.dtype)    # bool -> int -> float
    result = getattr(xp, name)(x.data, b)                   # float64 into float32: computed, then cast
    result = xp.astype(result, x.data.dtype, copy=False)
    if hasattr(x.data, "__setitem__"):
        x.data[...] = result
    else:               # NumPy hands back 0-d results as immutable scalars, which no one else holds
        x.data = result
    count_write(x)
    return x


def setitem(x, key, value):
    """x[key] = value written into x's own array, as PyTorch: every reference sees it, and value
    (a number or a tensor) broadcasts to the indexed part and takes x's dtype. The key is what
    x[key] reads (ints, slices, None, ..., integer arrays), or one boolean mask over x's leading
    axes: x[mask] = 0.

    With grad mode on it is refused where backward would need it: into a tensor that requires
    grad, or of a value that requires grad (build the tensor with concat, stack or where instead).
    A write into a constant that a graph saved (y = w * c, then c[0] = 5) is allowed, but is
    counted: that graph's backward then refuses, as PyTorch's does (versions.py).

    The array API standard's setitem takes basic indices and a boolean mask but no integer
    arrays; NumPy and CuPy take them, array_api_strict refuses, and the error says so."""
    value = x._lift(value)
    if is_grad_enabled():
        if x.requires_grad:
            raise RuntimeError("setitem: cannot assign into a tensor that requires grad while grad "
                               "mode is on: backward would not see the write; for a manual update "
                               "write it inside `with tinyattn.no_grad():`, or build a new tensor "
                               "with tinyattn.where / concat / stack")
        if value.requires_grad:
            raise RuntimeError("setitem: the value requires grad, but a write into a tensor is not "
                               "tracked, so its gradient would be lost; build the tensor from its "
                               "pieces instead (tinyattn.stack / concat, or tinyattn.where(mask, "
                               "value, x)), or write under `with tinyattn.no_grad():` for values only")
    if value.backend is not x.backend:
        raise TypeError(f"setitem: the tensor lives on backend {x.backend.name!r}, the value on "
                        f"{value.backend.name!r}; move one with `.to(...)`")
    xp = x.backend.xp
    value = value.data if value.data.dtype == x.data.dtype else xp.astype(value.data, x.data.dtype)
    count_write(x)          # before writing: a write that fails half-way must not go unseen
    parts = scalars_as_ints(key)
    if not any(is_index_array(k) for k in parts):
        # without None (new axes): the standard's setitem takes none, and they select nothing
        _write(x, tuple(k for k in basic_key(parts, x.shape) if k is not None), value)
        return
    mask = array_of(x, parts[0]) if len(parts) == 1 else None
    if mask is not None and mask.dtype == xp.bool:
        if tuple(mask.shape) != x.shape[:mask.ndim]:
            raise IndexError(f"setitem: a mask of shape {tuple(mask.shape)} does not fit the leading "
                             f"axes of a tensor of shape {x.shape}")
        _write(x, mask, value)
        return
    arrays = tuple(checked_arrays(x, parts))
    try:
        _write(x, arrays, value)
    except IndexError as e:
        raise IndexError(f"setitem: writing through integer index arrays (x[idx] = v) is not supported "
                         f"on the {x.backend.name} backend; write through a boolean mask, or "
                         f"build a new tensor with tinyattn.where") from e


def _write(x, index, value):
    """x.data[index] = value; a value that does not broadcast to the part written is a ValueError
    naming setitem (NumPy's words would name neither)."""
    try:
        x.data[index] = value
    except (ValueError, TypeError):     # NumPy: TypeError for a value of 2 dims into a mask's part
        raise ValueError(f"setitem: a value of shape {tuple(value.shape)} cannot be broadcast to the "
                         f"part of the tensor of shape {x.shape} that the index selects") from None


def iadd(x, other):
    return update(x, other, "add", "+")


def isub(x, other):
    return update(x, other, "subtract", "-")


def imul(x, other):
    return update(x, other, "multiply", "*")


def itruediv(x, other):
    return update(x, other, "divide", "/")
