"""Broadcasting's backward, in one place: reduce a gradient back to the shape of an input.

If x of shape (3, 1) was broadcast to (B, 3, 4) in the forward, each element of x was used
B * 4 times, so its gradient is the sum of the gradients of all its copies:
sum over the leading axis B, and over axis 2 where x had size 1.
"""


def unbroadcast(xp, grad, shape):
    """Sum `grad` over the axes along which an input of `shape` was broadcast; return `shape`."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    return xp.reshape(grad, shape)


def broadcast_shape(op, *shapes):
    """The broadcast shape of `shapes`, or a ValueError naming the op and the shapes that clash."""
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        sizes = {s[axis] for s in shapes if len(s) >= -axis} - {1}
        if len(sizes) > 1:
            listed = " and ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"{op}: shapes {listed} cannot be broadcast together "
                             f"(axis {axis}: sizes {sorted(sizes)})")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)
