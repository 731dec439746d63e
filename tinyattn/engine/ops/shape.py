"""Shape primitives: they move elements around without changing them, so each backward moves
the gradient back the same way (reshape back, permute back, sum what was broadcast, slice
what was concatenated)."""
from ...backend import namespace
from ..autograd import Function
from .broadcast import broadcast_shape, unbroadcast


class Reshape(Function):
    """x viewed with a new shape (same elements, same order).   backward: reshape g back."""

    __slots__ = ()
    saves_inputs, view = False, True

    def forward(self, x, shape):
        self.saved = x.shape
        return namespace(x).reshape(x, shape)

    def backward(self, g):
        return (namespace(g).reshape(g, self.saved),)

    @classmethod
    def explain_failure(cls, error, x, shape):
        raise ValueError(f"reshape: cannot view a tensor of shape {x.shape} ({x.numel()} elements) "
                         f"as shape {tuple(shape)}") from error


class Permute(Function):
    """x with its axes reordered: out axis i is input axis dims[i].
    backward: apply the inverse permutation to g."""

    __slots__ = ()
    saves_inputs, view = False, True

    def forward(self, x, dims):
        self.saved = dims
        return namespace(x).permute_dims(x, dims)

    def backward(self, g):
        inverse = [0] * len(self.saved)
        for i, d in enumerate(self.saved):
            inverse[d] = i
        return (namespace(g).permute_dims(g, tuple(inverse)),)


class BroadcastTo(Function):
    """x repeated (without copying) to a larger shape.   backward: sum the copies' gradients."""

    __slots__ = ()
    saves_inputs, view = False, True

    def forward(self, x, shape):
        self.saved = x.shape
        return namespace(x).broadcast_to(x, shape)

    def backward(self, g):
        return (unbroadcast(namespace(g), g, self.saved),)

    @classmethod
    def explain_failure(cls, error, x, shape):
        broadcast_shape("broadcast_to", x.shape, tuple(shape))
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {tuple(shape)}") from error


class Concat(Function):
    """Tensors joined along `axis`.   backward: cut g into the pieces' sizes along that axis."""

    __slots__ = ()
    saves_inputs = False

    def forward(self, *arrays, axis):
        self.saved = (axis, [a.shape[axis] for a in arrays])
        return namespace(arrays[0]).concat(arrays, axis=axis)

    def backward(self, g):
        axis, sizes = self.saved
        before = (slice(None),) * (axis % g.ndim)
        grads, start = [], 0
        for n in sizes:
            grads.append(g[before + (slice(start, start + n), ...)])
            start += n
        return grads

    @classmethod
    def explain_failure(cls, error, *tensors, axis):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concat: shapes {shapes} must agree on every axis but {axis}") from error
