"""Result dtypes against PyTorch: the dtype of every gradient. Each case compares the dtype
(and values) with torch's on the same inputs, on every backend."""
import numpy as np
import pytest

import tinyattn
from tinyattn.autograd import Function


def pair(torch, values, dtype, requires_grad=False):
    """The same values as a tinyattn tensor of the active backend and as a torch tensor."""
    ours = tinyattn.tensor(values, dtype=dtype, requires_grad=requires_grad)
    theirs = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    return ours, theirs


def name(dtype):
    """A torch dtype by tinyattn's name for it ("float32"); a backend's dtype likewise."""
    text = str(dtype)
    return text.rsplit(".", 1)[-1]


def assert_same(ours, theirs):
    """Same dtype and values; ours is a Tensor or a backend array, theirs a torch tensor."""
    array = ours.numpy() if isinstance(ours, tinyattn.Tensor) else tinyattn.Tensor(ours).numpy()
    assert name(array.dtype) == name(theirs.dtype)
    np.testing.assert_allclose(array, theirs.detach().numpy(), rtol=1e-6)


# -- 1. a gradient has the dtype of the tensor it belongs to ----------------------------------
MIXED = {
    "x32 * y64": lambda tl, x, y: x * y,
    "y64 - x32": lambda tl, x, y: y - x,
    "where(c, x32, y64)": lambda tl, x, y: tl.where(x > 1.5, x, y),
    "cat([x32, y64])": lambda tl, x, y: tl.cat([x, y]) * 3.0,
}


@pytest.mark.parametrize("expr", MIXED)
def test_leaf_gradient_has_the_leaf_dtype(expr, backend, torch):
    x, tx = pair(torch, [1.0, 2.0, 3.0], "float32", requires_grad=True)
    y, ty = pair(torch, [0.5, -1.0, 4.0], "float64", requires_grad=True)
    MIXED[expr](tinyattn, x, y).sum().backward()
    MIXED[expr](torch, tx, ty).sum().backward()
    assert_same(x.grad, tx.grad)
    assert_same(y.grad, ty.grad)


def test_leaf_gradient_through_a_float32_non_leaf_has_the_leaf_dtype(backend, torch):
    x, tx = pair(torch, [1.0, 2.0], "float32", requires_grad=True)
    y, ty = pair(torch, [3.0, 4.0], "float64", requires_grad=True)
    (x.exp() * y).sum().backward()
    (tx.exp() * ty).sum().backward()
    assert_same(x.grad, tx.grad)


class _RecordGrad(Function):
    """The identity, noting the dtype of the gradient its backward receives."""

    __slots__ = ()
    seen = []

    def forward(self, x):
        return x

    def backward(self, g):
        _RecordGrad.seen.append(tinyattn.Tensor(g).dtype)
        return (g,)


def test_gradient_handed_to_a_non_leaf_has_its_dtype(backend):
    """A float32 intermediate used with a float64 tensor receives a float32 gradient, as in
    PyTorch, so the rest of the float32 graph backpropagates in float32."""
    x = tinyattn.tensor([1.0, 2.0], requires_grad=True)
    y = tinyattn.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    _RecordGrad.seen.clear()
    (_RecordGrad.apply(x * 2.0) * y).sum().backward()
    assert _RecordGrad.seen == ["float32"]
