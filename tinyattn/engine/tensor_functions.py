"""The functional spelling of tensor operations: tinyattn.exp(x), tinyattn.concat([a, b]), ...

PyTorch code writes `torch.exp(x)` as often as `x.exp()`; both work here. Functions that combine
several tensors (concat, stack, where, maximum) live only here.
"""
from . import comparisons, extra_ops, indexing
from .arguments import dim_arg
from .creation import arange
from .dtypes import as_floating, promote
from .ops import shape as _shp
from .ops.elementwise import Where
from .ops.matmul import matmul
from .tensor import Tensor


def exp(x):
    return x.exp()


def log(x):
    return x.log()


def sqrt(x):
    return x.sqrt()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def relu(x):
    return x.relu()


def sin(x):
    """sin(x) of a tensor that needs no gradient (positional encodings); not differentiable."""
    return _constant_map(x, "sin")


def cos(x):
    """cos(x) of a tensor that needs no gradient (positional encodings); not differentiable."""
    return _constant_map(x, "cos")


def _constant_map(x, name):
    if x.requires_grad:
        raise RuntimeError(f"{name}: not differentiable in tinyattn; call it on a tensor that needs no grad")
    return Tensor._make(getattr(x.backend.xp, name)(as_floating(x.data)), False, None)   # ints: float32


def maximum(a, b):
    """Elementwise max of two tensors (broadcasting); at ties each gets half the gradient."""
    a, b = _pair(a, b)
    return extra_ops.Maximum.apply(a, b)


def where(condition, a, b):
    """a where the boolean condition is True, else b (all three broadcast; mixed dtypes promote).
    condition is not differentiated."""
    a, b = _pair(a, b)
    return Where.apply(a, b, cond=comparisons.condition("where", a, condition))


def tril(x, diagonal=0):
    """The lower triangle of the last two axes of x (elements on or below `diagonal`), zeros above."""
    return x.masked_fill(~_triangle("tril", x, diagonal), 0)     # the 0 takes x's dtype


def triu(x, diagonal=0):
    """The upper triangle of the last two axes of x (elements on or above `diagonal`), zeros below.
    The Annotated Transformer's mask: triu(ones(T, T), diagonal=1) == 0 is the causal mask."""
    return x.masked_fill(_triangle("triu", x, diagonal - 1), 0)


def _triangle(op, x, diagonal):
    """Boolean (rows, cols): True where col - row <= diagonal. x must be a (batch of) matrices."""
    if x.ndim < 2:
        raise ValueError(f"{op}: expects a matrix or a batch of matrices, got shape {x.shape}")
    rows = arange(x.shape[-2], backend=x.backend).unsqueeze(-1)
    cols = arange(x.shape[-1], backend=x.backend).unsqueeze(0)
    return (cols - rows) <= diagonal


def _pair(a, b):
    """Two operands as tensors; a Python number takes the other's dtype."""
    if isinstance(a, Tensor):
        return a, a._lift(b)
    return b._lift(a), b


def concat(tensors, axis=0, *, dim=None):
    """Tensors joined along an existing axis: shapes agree on every other axis. Mixed dtypes
    are promoted as in arithmetic (int64 with float32 gives float32)."""
    tensors = _nonempty("concat", tensors)
    if len({t.dtype for t in tensors}) > 1:
        tensors = promote(tensors, "concat")
    axis = dim if dim is not None else axis
    return _shp.Concat.apply(*tensors, axis=dim_arg("concat", axis, tensors[0].ndim))


cat = concat


def stack(tensors, axis=0, *, dim=None):
    """Tensors of one shape joined along a new axis."""
    tensors = _nonempty("stack", tensors)
    shapes = [t.shape for t in tensors]
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(f"stack: every tensor must have the same shape, got {shapes[0]} at entry 0 "
                             f"and {shape} at entry {i}")
    axis = dim_arg("stack", dim if dim is not None else axis, tensors[0].ndim, new_axis=True)
    return concat([t.unsqueeze(axis) for t in tensors], axis=axis)


def _nonempty(op, tensors):
    """The tensors as a list, which must hold at least one."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors, got an empty one")
    return tensors


def take(x, index, axis=0):
    """Slices of x along `axis` picked by an integer tensor `index` (any shape): the axis is
    replaced by index's axes. take(embedding_table, token_ids) is an embedding lookup."""
    axis = dim_arg("take", axis, x.ndim)
    checked = indexing.index_array(x, index, axis)
    if axis == 0:
        return indexing.gather(x, [checked])
    moved = x.permute(axis, *[a for a in range(x.ndim) if a != axis])
    picked = indexing.gather(moved, [checked])                               # (*I, rest...)
    k = picked.ndim - (x.ndim - 1)                                      # index's rank
    order = list(range(k, k + axis)) + list(range(k)) + list(range(k + axis, picked.ndim))
    return picked.permute(*order)


__all__ = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "maximum", "where",
           "tril", "triu", "concat", "cat", "stack", "take", "matmul"]
