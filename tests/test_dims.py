"""Axis arguments: an out-of-range dim is an IndexError naming the op and the dim, as in PyTorch,
never NumPy-style wrapping onto another axis (softmax(x2d, dim=2) running over dim 0)."""
import re

import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F


def x2d():
    return tinyattn.tensor(np.arange(6.0).reshape(2, 3))


# op name in the message, the dim, the call on a (2, 3) tensor x
OUT_OF_RANGE = {
    "softmax": ("softmax", 2, lambda x: F.softmax(x, dim=2)),
    "log_softmax": ("log_softmax", -3, lambda x: F.log_softmax(x, dim=-3)),
    "logsumexp": ("logsumexp", 2, lambda x: F.logsumexp(x, dim=2)),
    "cat": ("concat", 3, lambda x: tinyattn.cat([x, x], dim=3)),
    "stack": ("stack", 3, lambda x: tinyattn.stack([x, x], dim=3)),
    "squeeze": ("squeeze", 5, lambda x: x.squeeze(5)),
    "squeeze tuple": ("squeeze", 5, lambda x: x.squeeze((0, 5))),
    "unsqueeze": ("unsqueeze", 5, lambda x: x.unsqueeze(5)),
    "unsqueeze negative": ("unsqueeze", -4, lambda x: x.unsqueeze(-4)),
    "split": ("split", 5, lambda x: x.split(1, dim=5)),
    "take": ("take", 5, lambda x: tinyattn.take(x, tinyattn.tensor([0]), axis=5)),
    "permute": ("permute", 4, lambda x: x.permute(0, 4)),
    "transpose": ("transpose", 5, lambda x: x.transpose(0, 5)),
    "sum": ("sum", 2, lambda x: x.sum(2)),
    "sum tuple": ("sum", -3, lambda x: x.sum(dim=(0, -3))),
    "mean": ("mean", 2, lambda x: x.mean(dim=2)),
    "max": ("max", -3, lambda x: x.max(axis=-3)),
    "min": ("min", 2, lambda x: x.min(2)),
    "var": ("var", 2, lambda x: x.var(2)),
    "argmax": ("argmax", 2, lambda x: x.argmax(dim=2)),
    "flatten": ("flatten", 3, lambda x: x.flatten(3)),
    "size": ("size", 2, lambda x: x.size(2)),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_a_dim_out_of_range_is_an_index_error_naming_the_op_and_the_dim(case, backend):
    op, dim, call = OUT_OF_RANGE[case]
    n = 3 if op in ("stack", "unsqueeze") else 2        # a new axis has ndim + 1 places
    expected = re.escape(f"{op}: dim {dim} is out of range for a tensor with 2 dims (expected {-n}..{n - 1})")
    with pytest.raises(IndexError, match=expected):
        call(x2d())


# the same call with a negative dim and with the positive dim it stands for
NEGATIVE = {
    "softmax": (lambda x: F.softmax(x, dim=-2), lambda x: F.softmax(x, dim=0)),
    "log_softmax": (lambda x: F.log_softmax(x, axis=-1), lambda x: F.log_softmax(x, axis=1)),
    "logsumexp": (lambda x: F.logsumexp(x, dim=-2), lambda x: F.logsumexp(x, dim=0)),
    "cat": (lambda x: tinyattn.cat([x, x], dim=-2), lambda x: tinyattn.cat([x, x], dim=0)),
    "stack": (lambda x: tinyattn.stack([x, x], dim=-1), lambda x: tinyattn.stack([x, x], dim=2)),
    "squeeze": (lambda x: x.unsqueeze(1).squeeze(-2), lambda x: x.unsqueeze(1).squeeze(1)),
    "unsqueeze": (lambda x: x.unsqueeze(-3), lambda x: x.unsqueeze(0)),
    "split": (lambda x: x.split(2, dim=-1)[1], lambda x: x.split(2, dim=1)[1]),
    "take": (lambda x: tinyattn.take(x, tinyattn.tensor([2, 0]), axis=-1),
             lambda x: tinyattn.take(x, tinyattn.tensor([2, 0]), axis=1)),
    "permute": (lambda x: x.permute(-1, -2), lambda x: x.permute(1, 0)),
    "transpose": (lambda x: x.transpose(-2, 1), lambda x: x.transpose(0, 1)),
    "sum": (lambda x: x.sum((-2, -1)), lambda x: x.sum((0, 1))),
    "mean": (lambda x: x.mean(dim=-1), lambda x: x.mean(dim=1)),
    "max": (lambda x: x.max(-2), lambda x: x.max(0)),
    "min": (lambda x: x.min(-1), lambda x: x.min(1)),
    "var": (lambda x: x.var(-2), lambda x: x.var(0)),
    "argmax": (lambda x: x.argmax(dim=-2), lambda x: x.argmax(dim=0)),
    "flatten": (lambda x: x.unsqueeze(0).flatten(-2), lambda x: x.unsqueeze(0).flatten(1, 2)),
    "size": (lambda x: tinyattn.tensor(x.size(-2)), lambda x: tinyattn.tensor(x.size(0))),
}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_a_valid_negative_dim_counts_from_the_end(case, backend):
    negative, positive = NEGATIVE[case]
    got, expected = negative(x2d()), positive(x2d())
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("call", [lambda x: x.sum((0, -2)), lambda x: x.permute(1, -1),
                                  lambda x: x.squeeze((0, 0))], ids=["sum", "permute", "squeeze"])
def test_an_axis_named_twice_is_a_value_error(call, backend):
    with pytest.raises(ValueError, match="name the same axis more than once"):
        call(x2d())


def test_flatten_merges_the_axes_between_start_and_end_dim(backend):
    x = tinyattn.zeros(2, 3, 4, 5)
    assert x.flatten().shape == (120,)
    assert x.flatten(1).shape == (2, 60)
    assert x.flatten(1, 2).shape == (2, 12, 5)
    assert tinyattn.tensor(1.0).flatten().shape == (1,)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)


def test_a_0d_tensor_accepts_dim_0_and_minus_1_as_in_pytorch(backend):
    s = tinyattn.tensor(2.0)
    assert s.sum(0).shape == () and s.unsqueeze(-1).shape == (1,) and s.squeeze(0).shape == ()
    with pytest.raises(IndexError, match=re.escape("sum: dim 1 is out of range for a tensor with 0 dims")):
        s.sum(1)


def test_a_vector_times_a_vector_is_a_0d_tensor(backend):
    a, b = tinyattn.tensor([1.0, 2.0]), tinyattn.tensor([3.0, 4.0])
    assert (a @ b).shape == () and (a @ b).item() == 11.0
