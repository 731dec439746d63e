"""A tensor converted: moved to another backend or cast to another dtype (x.to(...), x.float(),
x.long()), or turned into Python values (x.item(), x.tolist(), float(x), int(x), bool(x)), or
into the host NumPy array a file is written from (host_array).

PyTorch's `to` takes a device, a dtype, or both, by position or keyword; here a backend name
stands for the device ("numpy", "cupy", "array_api_strict", or PyTorch's "cpu" and "cuda").
A move copies the values through host memory and starts a new leaf; a dtype change is the
Cast primitive, so gradients flow back through it (only to floating dtypes, as in PyTorch).
"""
import numpy as np

from ..backend import DTYPE_NAMES, backend_of, get_backend
from .arguments import dim_arg, is_tensor
from .dtypes import FLOAT_DTYPES
from .ops.elementwise import Cast


def to(x, target=None, dtype=None):
    """This tensor on another backend ("numpy", "cupy", "array_api_strict") or with another
    dtype: `x.to("cupy")`, `x.to("float64")`, `x.to("cupy", dtype="float64")`.
    A backend move makes a new leaf (keeping requires_grad); a dtype change is differentiable."""
    if target in DTYPE_NAMES:
        target, dtype = None, target
    if dtype is not None and dtype not in DTYPE_NAMES:
        raise TypeError(f"to: unknown dtype {dtype!r}; tinyattn knows {', '.join(DTYPE_NAMES)}")
    if isinstance(target, str):
        try:
            get_backend(target)
        except ValueError:
            raise ValueError(f"to: {target!r} is neither a backend (numpy, cupy, array_api_strict, "
                             f"cpu, cuda) nor a dtype ({', '.join(DTYPE_NAMES)})") from None
    out = x
    if target is not None and get_backend(target) is not x.backend:
        moved = get_backend(target).asarray(x.backend.to_numpy(x.data))
        out = x._make(moved, x.requires_grad, None)
    if dtype is not None and dtype != out.dtype:
        if dtype not in FLOAT_DTYPES:       # integers carry no gradient (as in PyTorch)
            out = out.detach()
        out = Cast.apply(out, dtype=out.backend.dtypes[dtype])
    return out


def to_float32(x):
    """x.float(), PyTorch's shorthand for x.to(dtype="float32")."""
    return x.to(dtype="float32")


def to_float64(x):
    """x.double(): x.to(dtype="float64"), the dtype gradient checks run in."""
    return x.to(dtype="float64")


def to_int64(x):
    """x.long(): x.to(dtype="int64"), the dtype of token ids and class targets."""
    return x.to(dtype="int64")


def size(x, dim=None):
    """x.size(): the shape, or x.size(dim) the size of one axis (PyTorch's spelling)."""
    if dim is None:
        return x.shape
    if x.ndim == 0:         # dim_arg lets 0 and -1 name a 0-d tensor's axis for reductions
        raise IndexError(f"size: dim {dim} is out of range for a 0-d tensor, which has no axes")
    return x.shape[dim_arg("size", dim, x.ndim)]


def item(x):
    """The value of a one-element tensor as a Python number."""
    if x.numel() != 1:
        raise ValueError(f"item: only a one-element tensor has a single value; shape is {x.shape}")
    return x.numpy().reshape(-1)[0].item()


def tolist(x):
    """The values as (nested) Python lists of Python numbers."""
    return x.numpy().tolist()


def python_float(x):
    """float(x), for a one-element tensor."""
    return float(item(x))


def python_int(x):
    """int(x), for a one-element tensor."""
    return int(item(x))


def python_bool(x):
    """bool(x) (and `if x:`), for a one-element tensor."""
    return bool(item(x))


def describe(x):
    """repr(x) in PyTorch's form: tensor([1., 2.]), with the dtype where it is not the default
    (float32, int64), the backend where it is not NumPy, and requires_grad=True."""
    body = np.array2string(x.numpy(), separator=", ", prefix="tensor(")
    extras = [f"dtype={x.dtype}"] if x.dtype not in ("float32", "int64") else []
    if x.backend.name != "numpy":
        extras.append(f"backend={x.backend.name}")
    if x.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"


def host_array(value):
    """A tensor, or an array of any backend, as a host NumPy array (a NumPy array as it is):
    what files are written from."""
    if isinstance(value, np.ndarray):
        return value
    if is_tensor(value):
        return value.numpy()
    return backend_of(value).to_numpy(value)
