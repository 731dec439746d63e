"""Indexing primitives: basic slices (views), and gathering rows with an integer array (embedding
lookup). Reading the key a user wrote (x[1:3, None], x[i, j]) happens before, in indexing.py.

A gather can read the same row many times (the same token twice in a batch), so its backward
must *add* the gradients of every read into that row: a scatter-add, `backend.index_add`.
Writing them (`grad[idx] = g`) would silently keep only one of them.
"""
from ...backend import backend_of, namespace
from ..autograd import Function


class GetItem(Function):
    """x[index] for a basic index (ints, slices, None, ...).   backward: g written into zeros."""

    __slots__ = ()
    saves_inputs, view = False, True

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
    saves_inputs = False

    def forward(self, x, index):
        xp = namespace(x)
        flat = xp.reshape(index, (-1,))
        self.saved = (x.shape, xp.asarray(flat, copy=True))    # a copy of the ids: see versions.py
        return xp.reshape(xp.take(x, flat, axis=0), tuple(index.shape) + tuple(x.shape[1:]))

    def backward(self, g):
        shape, flat = self.saved
        rows = namespace(g).reshape(g, (flat.shape[0],) + tuple(shape[1:]))
        return (backend_of(g).index_add(shape, flat, rows),)
