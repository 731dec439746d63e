"""Reading an index key as NumPy and PyTorch do: x[1:3], x[..., -1], x[None], x[i, j], x[idx].

The primitives in ops/index.py take one explicit form, a basic index with an entry per axis or
checked integer arrays; this module turns what users write into it. It also makes the backends
agree: the array API standard leaves slices past the end and short keys unspecified (NumPy clamps
them, array_api_strict refuses them), and CuPy wraps an index out of range around instead of
raising, so the key is resolved and checked here, once, for every backend.
"""
import math
import operator

from ..backend import backend_of
from .arguments import is_tensor
from .ops.index import Gather, GetItem


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
    out = []
    for k in key if isinstance(key, tuple) else (key,):
        if k is None or k is Ellipsis or isinstance(k, (slice, list)) or getattr(k, "ndim", 0) > 0:
            out.append(k)                   # not a scalar: basic_key or the index arrays take it
            continue
        scalar = k.data if is_tensor(k) else k
        try:
            if isinstance(scalar, bool):    # an int to Python, but x[True] means a new axis to NumPy
                raise TypeError
            out.append(_as_int(scalar))
        except TypeError:
            what = f"a 0-d {k.dtype} tensor" if is_tensor(k) else repr(k)
            raise IndexError(f"indexing: {what} is not a valid index; indices are integers, slices, "
                             "None, ... and integer tensors (or a boolean mask, to write)") from None
    return tuple(out)


def _as_int(scalar):
    """A Python int from an int, a NumPy integer or a 0-d integer array of any backend. CuPy's
    arrays have no __index__ (it would wait for the device), so a 0-d integer array without one
    is read through the host; a float or bool one is a TypeError."""
    try:
        return operator.index(scalar)
    except TypeError:
        if getattr(scalar, "ndim", None) != 0:
            raise
        backend = backend_of(scalar)
        if not backend.dtype_names.get(scalar.dtype, "").startswith(("int", "uint")):
            raise
        return int(backend.to_numpy(scalar).item())


def is_index_array(k):
    """True for an integer-array index (a tensor, a list, an array); False for ints, slices, None."""
    return isinstance(k, list) or (hasattr(k, "dtype") and hasattr(k, "shape"))


def getitem(x, key):
    """x[key]: basic indexing, or a gather when the key is integer arrays on leading axes:
    x[idx] picks rows, x[i, j] picks elements (x[i[n], j[n]]), as in NumPy and PyTorch."""
    parts = scalars_as_ints(key)
    if not any(is_index_array(k) for k in parts):
        return GetItem.apply(x, index=basic_key(parts, x.shape))
    return gather(x, checked_arrays(x, parts))


def checked_arrays(x, parts):
    """The checked backend arrays of a key made only of integer arrays, one per leading axis."""
    if not all(is_index_array(k) for k in parts):
        raise IndexError("indexing: mixing slices and integer arrays in one index is not supported; "
                         "index in two steps, or use tinyattn.take(x, index, axis)")
    if len(parts) > x.ndim:
        raise IndexError(f"indexing: {len(parts)} index arrays for a tensor of shape {x.shape}")
    return [index_array(x, k, axis) for axis, k in enumerate(parts)]


def index_array(x, k, axis, allow_negative=True, op="indexing"):
    """An integer index into axis `axis` of x, as a backend array: checked, negatives wrapped
    (or, with allow_negative=False, refused, as an embedding's ids are).

    Checked here because CuPy would not raise on an index out of range: it wraps around. The
    smallest and largest index come to the host in one transfer (on a GPU, each is a wait)."""
    backend = x.backend
    k = array_of(x, k)
    kind = backend.dtype_names.get(k.dtype, str(k.dtype))
    if not kind.startswith(("int", "uint")):
        raise IndexError(f"{op}: index arrays must hold integers, got {kind}")
    n, xp = x.shape[axis], backend.xp
    if math.prod(k.shape) > 0:
        low, high = backend.to_numpy(xp.stack([xp.min(k), xp.max(k)])).tolist()
        smallest = -n if allow_negative else 0
        if low < smallest or high >= n:
            bad = low if low < smallest else high
            allowed = "" if allow_negative else f"; ids must be in [0, {n})"
            raise IndexError(f"{op}: index {bad} is out of range for axis {axis} of size {n} "
                             f"(tensor of shape {x.shape}){allowed}")
        if low < 0:
            k = xp.where(k < 0, k + n, k)
    return k


def array_of(x, k):
    """An index (a tensor, a list, an array) as an array of x's backend, where a tensor must live."""
    if not is_tensor(k):
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
    lead = len(index_arrays)        # the merged size written out: -1 is ambiguous for an empty x
    merged = x if lead == 1 else x.reshape((math.prod(x.shape[:lead]),) + x.shape[lead:])
    return Gather.apply(merged, index=flat)


def length(x):
    """len(x): the size of axis 0, as PyTorch."""
    if x.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return x.shape[0]


def rows(x):
    """`for row in x`: x[0], x[1], ... Without __iter__ Python would call __getitem__ until an
    IndexError, which gives nothing for a 0-d tensor instead of an error."""
    if x.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (x[i] for i in range(x.shape[0]))
