"""PyTorch's many ways to change a shape, each composed from the shape primitives of ops/shape.py
(reshape, permute, broadcast_to) or from slicing: flatten, unsqueeze, squeeze, expand,
transpose, t, mT, split.

They add no derivative of their own, only the reading of their arguments (which axes, counted
how, what -1 means), so they live here rather than in the Tensor class, which assigns them as
its methods: x.flatten(1) calls flatten(x, 1).
"""
import math

from .arguments import dim_arg, shape_arg
from .ops.broadcast import broadcast_shape
from .ops.shape import Permute


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim (both included) merged into one; all of them by default."""
    if x.ndim == 0:
        return x.reshape(1)
    start, end = dim_arg("flatten", start_dim, x.ndim), dim_arg("flatten", end_dim, x.ndim)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = math.prod(x.shape[start:end + 1])
    return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])


def unsqueeze(x, axis):
    """A new size-1 axis at position `axis`."""
    axis = dim_arg("unsqueeze", axis, x.ndim, new_axis=True)
    return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None, *, dim=None):
    """Remove size-1 axes: all of them, or those of `axis` (an int or a tuple) that have
    size 1; other axes named are kept, as in PyTorch."""
    axis = dim if dim is not None else axis
    if axis is None:
        return x.reshape(tuple(n for n in x.shape if n != 1))
    axes = dim_arg("squeeze", axis if isinstance(axis, (tuple, list)) else (axis,), x.ndim)
    return x.reshape(tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def expand(x, *sizes):
    """Broadcast to `sizes`, where -1 keeps an axis's size (PyTorch's spelling)."""
    sizes = shape_arg(sizes, "expand", negative="keep")
    lead = len(sizes) - x.ndim
    if lead < 0 or -1 in sizes[:lead]:
        raise ValueError(f"expand: sizes {sizes} do not fit a tensor of shape {x.shape} "
                         "(-1 may only stand for an existing axis)")
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
    if broadcast_shape("expand", x.shape, shape) != shape:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}")
    return x.broadcast_to(shape)


def transpose(x, dim0=-2, dim1=-1):
    """Swap two axes (PyTorch's meaning; NumPy's transpose is `permute`)."""
    dim0, dim1 = dim_arg("transpose", dim0, x.ndim), dim_arg("transpose", dim1, x.ndim)
    if x.ndim == 0:         # 0 and -1 name a 0-d tensor's one "axis", as in PyTorch: nothing to swap
        return x
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def reversed_axes(x):
    """All axes in reverse order (x.T): the transpose of a matrix."""
    return x.permute(*reversed(range(x.ndim)))


def matrix_transpose(x):
    """The last two axes swapped: every matrix of a batch transposed (PyTorch's x.mT)."""
    if x.ndim < 2:
        raise ValueError(f"mT: expects a matrix or a batch of matrices, got shape {x.shape}")
    return transpose(x, -2, -1)


def t(x):
    """The transpose of a matrix (PyTorch's x.t())."""
    if x.ndim != 2:
        raise ValueError(f"t: expects a matrix, got shape {x.shape}; use transpose(d0, d1)")
    return x.T


def split(x, split_size, axis=0, *, dim=None):
    """Pieces of `split_size` along the axis (the last may be smaller), or of the sizes in a
    list, as PyTorch's `split`. Each piece is a slice, so each backpropagates on its own."""
    axis = dim_arg("split", dim if dim is not None else axis, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size, int) and split_size <= 0:
        if split_size < 0 or n:
            raise ValueError(f"split: split_size must be positive, got {split_size} (0 only splits an "
                             f"empty axis); axis {axis} has size {n}")
        return [x]          # an empty axis in pieces of 0: one empty piece, as PyTorch
    sizes = list(split_size) if isinstance(split_size, (list, tuple)) else \
        [min(split_size, n - s) for s in range(0, n, split_size)] or [0]    # empty: one empty piece
    if sum(sizes) != n:
        raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of axis {axis}")
    before = (slice(None),) * axis
    pieces, start = [], 0
    for size in sizes:
        pieces.append(x[before + (slice(start, start + size),)])
        start += size
    return pieces
