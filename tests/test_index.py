"""Indexing: basic indices (views) and integer-array gathers, whose backward is a scatter-add
that must sum the gradients of repeated indices. Against PyTorch, finite differences (float64),
on every backend (array_api_strict takes the portable sort-and-cumsum scatter-add, NumPy add.at)."""
import numpy as np
import pytest
from oracle import check_op

import tinyattn

# Basic keys that every backend accepts. Not here: slices reaching past the end (x[1:10]),
# which array_api_strict refuses because the standard leaves them unspecified.
BASIC_KEYS = {
    "x[1]": 1,
    "x[-1]": -1,
    "x[1:3]": slice(1, 3),
    "x[:, 1]": (slice(None), 1),
    "x[..., -1]": (Ellipsis, -1),
    "x[1, :, ::2]": (1, slice(None), slice(None, None, 2)),
    "x[-2:, 1:-1]": (slice(-2, None), slice(1, -1)),
    "x[::-1]": slice(None, None, -1),                         # torch has no negative steps:
    "x[:, ::-2]": (slice(None), slice(None, None, -2)),       # see TORCH_SPELLING
    "x[None]": None,
    "x[:, None, 1:]": (slice(None), None, slice(1, None)),
    "x[..., None]": (Ellipsis, None),
    "x[1, 2, 0]": (1, 2, 0),                                   # a 0-d result
}
TORCH_SPELLING = {"x[::-1]": lambda x: x.flip(0), "x[:, ::-2]": lambda x: x.flip(1)[:, ::2]}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("key", BASIC_KEYS)
def test_basic_index_matches_torch(key, dtype, backend, torch):
    ours = lambda x: x[BASIC_KEYS[key]]
    check_op(torch, [(3, 4, 2)], TORCH_SPELLING.get(key, ours), ours, dtype=dtype)


def test_a_slice_used_twice_collects_both_gradients(backend, torch):
    check_op(torch, [(4, 3)], lambda x: x[1:3] * x[:2])


# index arrays for x of shape (3, 4, 2), written as nested lists
GATHERS = {
    "repeated rows": [0, 2, 0, 0],
    "negative rows": [-1, 0, -3, -1],
    "2-d index": [[0, 1], [1, 1]],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("index", GATHERS)
def test_gather_sums_the_gradients_of_repeated_rows(index, dtype, backend, torch):
    idx = np.array(GATHERS[index])
    check_op(torch, [(3, 4, 2)], lambda x: x[torch.tensor(idx)], lambda x: x[tinyattn.tensor(idx)],
             dtype=dtype)


def test_gather_accepts_a_python_list(backend, torch):
    check_op(torch, [(3, 2)], lambda x: x[[2, 0, 2]])


def test_gather_with_a_0d_index_picks_one_row(backend, torch):
    check_op(torch, [(3, 2)], lambda x: x[torch.tensor(1)], lambda x: x[tinyattn.tensor(1)])


def test_two_index_arrays_pick_elements_and_sum_repeated_pairs(backend, torch):
    i, j = np.array([0, 2, 2, -1]), np.array([1, -1, 1, 1])    # (2, 1) picked twice, via -1 too
    check_op(torch, [(3, 4, 2)], lambda x: x[torch.tensor(i), torch.tensor(j)],
             lambda x: x[tinyattn.tensor(i), tinyattn.tensor(j)])


# (axis, index): torch's x[..., idx] on that axis is tinyattn.take(x, idx, axis)
TAKES = [(0, [2, 0, 2]), (1, [3, 0, 3, -1]), (1, [[0, 1], [1, 1]]), (-1, [1, 1, 0])]


@pytest.mark.parametrize("axis, index", TAKES, ids=str)
def test_take_along_an_axis_sums_repeated_indices(axis, index, backend, torch):
    idx = np.array(index)
    before = (slice(None),) * (axis % 3)
    check_op(torch, [(3, 4, 2)], lambda x: x[before + (torch.tensor(idx),)],
             lambda x: tinyattn.take(x, tinyattn.tensor(idx), axis))


# slices that run past the end are clamped, as in NumPy and PyTorch (nanoGPT's idx[:, -block:])
CLAMPED = [(slice(None), slice(-10, None)), slice(1, 10), slice(5, None)]


@pytest.mark.parametrize("key", CLAMPED, ids=str)
def test_slices_past_the_end_are_clamped_like_pytorch(key, backend, torch):
    check_op(torch, [(4, 3)], lambda x: x[key], lambda x: x[key])


def test_a_reversed_slice_equals_pytorchs_flip(backend, torch):
    # PyTorch's indexing has no negative steps: x[::-1, 2] is torch.flip(x, [0])[:, 2] there
    check_op(torch, [(4, 3)], lambda x: torch.flip(x, [0])[:, 2], lambda x: x[::-1, 2])


def test_setitem_clamps_slices_too(backend):
    x = tinyattn.zeros(3, 2)
    x[1:10] = 1.0
    np.testing.assert_array_equal(x.numpy(), [[0, 0], [1, 1], [1, 1]])
