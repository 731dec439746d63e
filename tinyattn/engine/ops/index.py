"""Indexing: basic slices (views), gathering rows with an integer array (embedding lookup), and
writing values in place (x[mask] = 0).

A gather can read the same row many times (the same token twice in a batch), so its backward
must *add* the gradients of every read into that row: a scatter-add, `backend.index_add`.
Writing them (`grad[idx] = g`) would silently keep only one of them.
"""
import math
import operator

from ...backend import backend_of, namespace
from ..autograd import Function


class GetItem(Function):
    """x[index] for a basic index (ints, slices, None, ...).   backward: g written into zeros."""

    __slots__ = ()

    def forward(self, x, index):
        self.saved = (x.shape, x.dtype, index)
        return x[index]

    def backward(self, g):
        shape, dtype, index = self.saved
        grad = backend_of(g).zeros(shape, dtype)
        if any(k is None for k in index):
            # The standard's setitem takes no None (new axis), though its getitem does: write g
            # through the same index without them, g's new size-1 axes dropped to match.
            index = tuple(k for k in index if k is not None)
            g = namespace(g).reshape(g, tuple(grad[index].shape))
        grad[index] = g
        return (grad,)


class Gather(Function):
    """Rows of x picked by integer `index` (any shape): out[i...] = x[index[i...]].
    x (N, *rest), index (*I) -> out (*I, *rest).   backward: scatter-add g's rows into zeros."""

    __slots__ = ()

    def forward(self, x, index):
        xp = namespace(x)
        flat = xp.reshape(index, (-1,))
        self.saved = (x.shape, flat)
        return xp.reshape(xp.take(x, flat, axis=0), tuple(index.shape) + tuple(x.shape[1:]))

    def backward(self, g):
        shape, flat = self.saved
        rows = namespace(g).reshape(g, (flat.shape[0],) + tuple(shape[1:]))
        return (backend_of(g).index_add(shape, flat, rows),)


def basic_key(key, shape):
    """A basic index (a tuple from `scalars_as_ints`) made explicit for an array of `shape`: one
    entry per axis (plus any None), each slice clamped to its axis, each integer checked.

    NumPy and PyTorch let `x[1:3]` mean `x[1:3, ...]` and clamp slices that run past the end
    (`idx[:, -block_size:]` on a shorter sequence); the array API standard leaves both
    unspecified, and array_api_strict refuses them, so they are resolved here, once, for every
    backend.
    """
    consumed = sum(1 for k in key if k is not None and k is not Ellipsis)
    if consumed > len(shape) or sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError(f"indexing: index {key} does not fit a tensor of shape {shape}")
    explicit, axis = [], 0
    for k in key:
        if k is Ellipsis:
            explicit += [slice(None)] * (len(shape) - consumed)
            axis += len(shape) - consumed
        elif k is None:
            explicit.append(None)
        elif isinstance(k, slice):
            explicit.append(_clamp(k, shape[axis]))
            axis += 1
        else:
            n = shape[axis]
            if not -n <= k < n:
                raise IndexError(f"indexing: index {k} is out of range for axis {axis} of size {n} "
                                 f"(tensor of shape {shape})")
            explicit.append(k)
            axis += 1
    return tuple(explicit) + (slice(None),) * (len(shape) - axis)


def _clamp(s, n):
    """slice s on an axis of size n, with its bounds inside the axis (the same elements)."""
    start, stop, step = s.indices(n)
    if len(range(start, stop, step)) == 0:
        return slice(0, 0, 1)
    return slice(start, stop if stop >= 0 else None, step)     # stop -1 with step < 0: "past 0"


def scalars_as_ints(key):
    """key as a tuple in which every scalar entry is a Python int: a 0-d integer tensor or a NumPy
    integer means the same as the int, as in PyTorch (x[i, :] with i from argmax). A float or a
    bool is refused: int() would silently turn x[1.5] into x[1]."""
    from ..tensor import Tensor
    out = []
    for k in key if isinstance(key, tuple) else (key,):
        if k is None or k is Ellipsis or isinstance(k, (slice, list)) or getattr(k, "ndim", 0) > 0:
            out.append(k)                   # not a scalar: basic_key or the index arrays take it
            continue
        scalar = k.data if isinstance(k, Tensor) else k
        try:
            if isinstance(scalar, bool):    # an int to Python, but x[True] means a new axis to NumPy
                raise TypeError
            out.append(operator.index(scalar))  # ints, NumPy integers, 0-d integer arrays of any backend
        except TypeError:
            raise IndexError(f"indexing: {k!r} is not a valid index; indices are integers, slices, "
                             "None, ... and integer tensors (or a boolean mask, to write)") from None
    return tuple(out)


def _is_index_array(k):
    """True for an integer-array index (a tensor, a list, an array); False for ints, slices, None."""
    from ..tensor import Tensor
    return isinstance(k, (Tensor, list)) or (hasattr(k, "dtype") and hasattr(k, "shape"))


def getitem(x, key):
    """x[key]: basic indexing, or a gather when the key is integer arrays on leading axes:
    x[idx] picks rows, x[i, j] picks elements (x[i[n], j[n]]), as in NumPy and PyTorch."""
    parts = scalars_as_ints(key)
    if not any(_is_index_array(k) for k in parts):
        return GetItem.apply(x, index=basic_key(parts, x.shape))
    return gather(x, _checked_arrays(x, parts))


def _checked_arrays(x, parts):
    """The checked backend arrays of a key made only of integer arrays, one per leading axis."""
    if not all(_is_index_array(k) for k in parts):
        raise IndexError("indexing: mixing slices and integer arrays in one index is not supported; "
                         "index in two steps, or use tinyattn.take(x, index, axis)")
    if len(parts) > x.ndim:
        raise IndexError(f"indexing: {len(parts)} index arrays for a tensor of shape {x.shape}")
    return [index_array(x, k, axis) for axis, k in enumerate(parts)]


def setitem(x, key, value):
    """x[key] = value (a Tensor, cast to x's dtype) written into x's own array, values only: the
    caller (Tensor.__setitem__) decides whether autograd allows it. The key is a basic index, one
    boolean mask over x's leading axes (x[mask] = 0), or integer arrays as getitem takes them.

    The array API standard's setitem takes basic indices and a boolean mask but no integer
    arrays; NumPy and CuPy take them, array_api_strict refuses, and says so below."""
    if value.backend is not x.backend:
        raise TypeError(f"setitem: the tensor lives on backend {x.backend.name!r}, the value on "
                        f"{value.backend.name!r}; move one with `.to(...)`")
    xp = x.backend.xp
    value = value.data if value.data.dtype == x.data.dtype else xp.astype(value.data, x.data.dtype)
    parts = scalars_as_ints(key)
    if not any(_is_index_array(k) for k in parts):
        x.data[basic_key(parts, x.shape)] = value
        return
    mask = _array_of(x, parts[0]) if len(parts) == 1 else None
    if mask is not None and mask.dtype == xp.bool:
        if tuple(mask.shape) != x.shape[:mask.ndim]:
            raise IndexError(f"setitem: a mask of shape {tuple(mask.shape)} does not fit the leading "
                             f"axes of a tensor of shape {x.shape}")
        x.data[mask] = value
        return
    arrays = tuple(_checked_arrays(x, parts))
    try:
        x.data[arrays] = value
    except IndexError as e:
        raise IndexError(f"setitem: writing through integer index arrays (x[idx] = v) is not supported "
                         f"on the {x.backend.name} backend ({e}); write through a boolean mask, or "
                         f"build a new tensor with tinyattn.where") from e


def index_array(x, k, axis):
    """An integer index into axis `axis` of x, as a backend array: checked, negatives wrapped.

    Checked here because CuPy would not raise on an index out of range: it wraps around."""
    backend = x.backend
    k = _array_of(x, k)
    kind = backend.dtype_names.get(k.dtype, str(k.dtype))
    if not kind.startswith(("int", "uint")):
        raise IndexError(f"indexing: index arrays must hold integers, got {kind}")
    n, xp = x.shape[axis], backend.xp
    if math.prod(k.shape) > 0:
        low, high = int(xp.min(k)), int(xp.max(k))
        if low < -n or high >= n:
            bad = low if low < -n else high
            raise IndexError(f"indexing: index {bad} is out of range for axis {axis} of size {n} "
                             f"(tensor of shape {x.shape})")
        if low < 0:
            k = xp.where(k < 0, k + n, k)
    return k


def _array_of(x, k):
    """An index (a tensor, a list, an array) as an array of x's backend, where a tensor must live."""
    from ..tensor import Tensor
    if not isinstance(k, Tensor):
        return x.backend.asarray(k)
    if k.backend is not x.backend:
        raise TypeError(f"indexing: the tensor lives on backend {x.backend.name!r}, the index on "
                        f"{k.backend.name!r}; move one with `.to(...)`")
    return k.data


def gather(x, index_arrays):
    """x[i0, i1, ...] for checked integer arrays on the leading axes: merge those axes into one
    and pick its rows with a single Gather, so the backward is a single scatter-add."""
    flat = index_arrays[0]
    for axis in range(1, len(index_arrays)):           # row-major position in the merged axes
        flat = flat * x.shape[axis] + index_arrays[axis]
    merged = x if len(index_arrays) == 1 else x.reshape((-1,) + x.shape[len(index_arrays):])
    return Gather.apply(merged, index=flat)
