"""Normalising what users pass: array-likes to backend arrays, shapes, axes, gradients.

PyTorch and NumPy accept several spellings of the same request (reshape(2, 3) or
reshape((2, 3)); axis= or dim=; keepdims= or keepdim=); these turn each into the one form the
primitives take, and reject what makes no sense with a message naming the op.
"""
import operator

import numpy as np

from ..backend import DTYPE_NAMES, backend_of


def to_array(data, backend, dtype):
    """Any array-like as an array of `backend`. Python floats become float32 (PyTorch's default),
    arrays keep their dtype unless one is asked for."""
    if dtype is not None and dtype not in DTYPE_NAMES:
        dtype = np.dtype(dtype).name
    kind = type(data)
    if kind is np.ndarray or isinstance(data, np.generic):
        return backend.asarray(known_dtype(data, dtype, backend), dtype)
    if kind is backend.array_type:
        if dtype is None and data.dtype not in backend.dtype_names:
            known_dtype(backend.to_numpy(data), dtype, backend)
        return backend.asarray(data, dtype)
    try:
        source = backend_of(data)
    except TypeError:                       # Python numbers and (nested) lists
        values = python_values(data)
        try:
            host = np.asarray(values)
        except ValueError:
            raise ValueError(f"tensor: nested lists of different lengths: {ragged_at(values)}") from None
        if host.dtype == object:
            raise TypeError(f"tensor: cannot make a numeric array of {type(data).__name__} data "
                            "(an integer beyond int64, or objects that are not numbers?)") from None
        if dtype is None and host.dtype == np.float64:
            dtype = "float32"
        if dtype is not None and host.dtype.kind in "if" and "int" in dtype and host.size:
            bounds = np.iinfo(dtype)        # tensor([-1], dtype="uint8") is an error in PyTorch
            if host.min() < bounds.min or host.max() > bounds.max:
                raise ValueError(f"tensor: values from {host.min()} to {host.max()} do not fit "
                                 f"{dtype}") from None
        return backend.asarray(known_dtype(host, dtype, backend), dtype)
    return backend.asarray(known_dtype(source.to_numpy(data), dtype, backend), dtype)


def known_dtype(host, dtype, backend):
    """The NumPy array `host`, if it will become one of tinyattn's dtypes (`dtype` asked for, or
    its own); else a TypeError listing them. Checked once, when a tensor is made from data: a
    string, complex or uint16 array would otherwise fail much later, in repr or .dtype."""
    if dtype is not None or host.dtype.name in backend.dtypes:
        return host
    kind = "str" if host.dtype.kind in "US" else host.dtype.name
    raise TypeError(f"tensor: {kind} data has no tinyattn dtype; tinyattn has {', '.join(backend.dtypes)}")


_NARROW = {"uint8": (0, 255), "int8": (-128, 127), "int32": (-2**31, 2**31 - 1)}


def lift(x, other):
    """`other` as a tensor of x's backend (Tensor._lift). A Python number takes x's dtype: a float
    tensor keeps its dtype, an int tensor with an int too; otherwise the number's own kind (bool + 1
    is int64, int + 0.5 float32), and the op promotes, as PyTorch."""
    if is_tensor(other):
        return other
    if isinstance(other, (int, float)) and not isinstance(other, bool):
        if x.dtype.startswith("float") or (isinstance(other, int) and x.dtype != "bool"):
            dtype = x.dtype
        else:
            dtype = "int64" if isinstance(other, int) else "float32"
        if dtype in _NARROW and not _NARROW[dtype][0] <= other <= _NARROW[dtype][1]:
            dtype = "int64"     # uint8 - 1: the op casts -1 (wrapping, as PyTorch), 3 / -1 is -3.0
        return x._make(x.backend.asarray(other, dtype), False, None)
    return x._make(to_array(other, x.backend, None), False, None)


def ragged_at(values, dim=0):
    """Where nested lists stop being rectangular, in PyTorch's words (the error path only)."""
    lengths = [len(v) if isinstance(v, (list, tuple)) else None for v in values]
    if len(set(lengths)) > 1:
        odd = next(i for i, n in enumerate(lengths) if n != lengths[0])
        got = "a number" if lengths[odd] is None else f"length {lengths[odd]}"
        expected = "a number" if lengths[0] is None else f"sequences of length {lengths[0]}"
        return f"expected {expected} at dim {dim + 1} (entry {odd} has {got})"
    inner = [ragged_at(v, dim + 1) for v in values if isinstance(v, (list, tuple))]
    return next((where for where in inner if where), "")


def python_values(data):
    """Nested lists with tensors, arrays and NumPy scalars inside replaced by Python numbers and
    lists: torch.tensor takes [x.sum(), y.sum()], and a file gives numbers back as NumPy's."""
    if isinstance(data, (list, tuple)):
        return [python_values(item) for item in data]
    return data.tolist() if hasattr(data, "tolist") else data


def shape_arg(shape, op="shape", negative=None):
    """reshape(2, 3) and reshape((2, 3)) both mean the shape (2, 3).

    Sizes must be integers, as in PyTorch: Python or NumPy ints, or 0-d integer tensors; a float
    (2.7) or a bool is a TypeError naming the op, where int() would silently truncate it.
    `negative` says which negative sizes the op gives a meaning: None (sizes of a new tensor:
    none), "infer" (reshape: one -1, for the size the others leave), "keep" (expand: -1 keeps an
    axis) or "any" (permute: dims counted from the end). Others are a ValueError naming the op."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    sizes = tuple(_size(op, n) for n in shape)
    if negative == "any":
        return sizes
    allowed = -1 if negative in ("infer", "keep") else 0
    bad = [n for n in sizes if n < allowed]
    if bad:
        raise ValueError(f"{op}: size {bad[0]} in {sizes} is negative"
                         + (" (only -1 has a meaning here)" if allowed else ""))
    if negative == "infer" and sizes.count(-1) > 1:
        raise ValueError(f"{op}: only one size can be inferred (-1), got {sizes}")
    return sizes


def _size(op, n):
    """One size as a Python int; a float, a bool or a tensor that is not a 0-d integer is a
    TypeError naming the op (PyTorch: "must be tuple of ints")."""
    if is_tensor(n):
        if n.ndim == 0 and n.dtype.startswith(("int", "uint")):
            return int(n.item())
    elif not isinstance(n, (bool, np.bool_)):
        try:
            return operator.index(n)
        except TypeError:
            pass
    kind = f"a tensor of dtype {n.dtype} and shape {n.shape}" if is_tensor(n) else \
        f"{n!r} ({type(n).__name__})"
    raise TypeError(f"{op}: sizes must be integers, got {kind}")


def dim_arg(op, dims, ndim, new_axis=False):
    """One axis (an int) or several (a tuple or list) as numbers >= 0, counting -1 as the last.

    An axis outside -ndim..ndim-1 is an IndexError naming the op, as in PyTorch: NumPy-style
    `d % ndim` would silently pick another axis (softmax(x2d, dim=2) running over dim 0).
    `new_axis` allows the ndim + 1 positions a new axis can take (unsqueeze, stack); a 0-d
    tensor accepts 0 and -1, as in PyTorch. An axis named twice is a ValueError."""
    n = max(ndim + new_axis, 1)
    single = not isinstance(dims, (tuple, list))
    axes = []
    for d in (dims,) if single else dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dims "
                             f"(expected {-n}..{n - 1})")
        axes.append(int(d) % n)
    if len(set(axes)) < len(axes):
        raise ValueError(f"{op}: dims {tuple(dims)} name the same axis more than once")
    return axes[0] if single else tuple(axes)


def reduce_args(op, ndim, axis, dim, keepdims, keepdim):
    """Normalise (axis | dim, keepdims | keepdim) to (a tuple of axes >= 0, a bool)."""
    axis = dim if dim is not None else axis
    keep = keepdim if keepdim is not None else keepdims
    if axis is None or (isinstance(axis, (tuple, list)) and not axis):    # dim=(): all, as PyTorch
        return tuple(range(ndim)), keep
    axes = dim_arg(op, axis if isinstance(axis, (tuple, list)) else (axis,), ndim)
    if ndim == 0:       # PyTorch lets 0 and -1 name the single "axis" of a 0-d tensor; there is none
        return (), keep
    return tuple(sorted(axes)), keep


def is_tensor(obj):
    """True for a tinyattn Tensor, recognised by the slot only it has, `creator` (the node that
    made it): the modules beside tensor.py cannot import the class, as tensor.py imports them."""
    return hasattr(obj, "creator")


def gradient_arg(x, grad):
    """The gradient for x.backward(grad) as an array of x's backend, shape and dtype: the given
    one (a tensor or an array-like), or 1 when x is a scalar and none is given."""
    if not x.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad and has no graph; "
                           "did you create it under no_grad() or from tensors with requires_grad=False?")
    if grad is None:
        if x.ndim != 0 and x.numel() != 1:
            raise RuntimeError(f"backward: called on a tensor of shape {x.shape} without a gradient; "
                               "an implicit gradient exists only for a scalar. Reduce it first (e.g. "
                               ".sum()) or pass a gradient of the same shape: y.backward(grad)")
        return x.backend.ones(x.data.shape, x.data.dtype)
    if is_tensor(grad):
        if grad.backend is not x.backend:
            raise TypeError(f"backward: the gradient lives on backend {grad.backend.name}, the tensor "
                            f"on {x.backend.name}; move it first: grad.to({x.backend.name!r})")
        grad = grad.data
    # in x's dtype (as PyTorch): a float64 gradient must not turn a float32 graph's grads float64
    grad = x.backend.asarray(grad, x.dtype)
    if tuple(grad.shape) != x.shape:
        raise ValueError(f"backward: gradient shape {tuple(grad.shape)} does not match "
                         f"the tensor's shape {x.shape}")
    return grad
