"""Shape primitives (reshape, permute, broadcast, concat) and the methods built on them: against
PyTorch, finite differences (float64), on every backend. They move values without changing
them, so float32 must agree exactly as well."""
import numpy as np
import pytest
from oracle import check_op

import tinyattn

# name: (input shape, torch's expression, ours when it is spelled differently)
SHAPE_OPS = {
    "reshape": ((2, 3, 4), lambda x: x.reshape(6, 4), None),
    "reshape tuple with -1": ((2, 3, 4), lambda x: x.reshape((4, -1, 2)), None),
    "reshape to 0-d": ((1, 1), lambda x: x.reshape(()), None),
    "view": ((2, 3, 4), lambda x: x.view(3, 8), None),
    "flatten": ((2, 3, 4), lambda x: x.flatten(), None),
    "permute": ((2, 3, 4), lambda x: x.permute(2, 0, 1), None),
    "permute negative dims": ((2, 3, 4), lambda x: x.permute(-1, 0, -2), None),
    "transpose(0, 2)": ((2, 3, 4), lambda x: x.transpose(0, 2), None),
    "transpose(-1, -2)": ((2, 3, 4), lambda x: x.transpose(-1, -2), None),
    "T of a matrix": ((3, 4), lambda x: x.T, None),
    "T of 3 dims": ((2, 3, 4), lambda x: x.permute(2, 1, 0), lambda x: x.T),  # torch deprecates .T here
    "broadcast_to new axes": ((4,), lambda x: x.broadcast_to(2, 3, 4), None),
    "broadcast_to size-1 axes": ((3, 1), lambda x: x.broadcast_to((2, 3, 4)), None),
    "expand with -1": ((3, 1), lambda x: x.expand(2, -1, 4), None),
    "squeeze all": ((1, 3, 1, 2), lambda x: x.squeeze(), None),
    "squeeze(0)": ((1, 3, 1, 2), lambda x: x.squeeze(0), None),
    "squeeze(-2)": ((1, 3, 1, 2), lambda x: x.squeeze(-2), None),
    "squeeze of a non-1 axis": ((1, 3, 1, 2), lambda x: x.squeeze(1), None),   # a no-op, as torch
    "unsqueeze(0)": ((3, 2), lambda x: x.unsqueeze(0), None),
    "unsqueeze(1)": ((3, 2), lambda x: x.unsqueeze(1), None),
    "unsqueeze(-1)": ((3, 2), lambda x: x.unsqueeze(-1), None),
    "contiguous": ((3, 2), lambda x: x.T.contiguous(), None),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", SHAPE_OPS)
def test_shape_op_matches_torch(op, dtype, backend, torch):
    shape, torch_fn, our_fn = SHAPE_OPS[op]
    check_op(torch, [shape], torch_fn, our_fn, dtype=dtype)


# (shapes of the pieces, axis)
CONCATS = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], -1), ([(2, 1, 3), (2, 2, 3)], 1)]


@pytest.mark.parametrize("shapes, axis", CONCATS, ids=str)
def test_concat_sends_each_input_its_slice_of_the_gradient(shapes, axis, backend, torch):
    check_op(torch, shapes, lambda *xs: torch.cat(xs, dim=axis), lambda *xs: tinyattn.concat(xs, axis))


def test_cat_and_dim_are_aliases_of_concat_and_axis(backend, torch):
    check_op(torch, [(2, 3), (2, 2)], lambda *xs: torch.cat(xs, dim=1), lambda *xs: tinyattn.cat(xs, dim=1))


def test_concat_of_a_tensor_with_itself_adds_both_gradients(backend, torch):
    check_op(torch, [(2, 3)], lambda x: torch.cat([x, x * 2.0]), lambda x: tinyattn.concat([x, x * 2.0]))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_joins_along_a_new_axis(axis, backend, torch):
    check_op(torch, [(2, 3)] * 3, lambda *xs: torch.stack(xs, dim=axis),
             lambda *xs: tinyattn.stack(xs, axis=axis))


def test_stack_accepts_dim(backend, torch):
    check_op(torch, [(2, 3)] * 2, lambda *xs: torch.stack(xs, dim=-1), lambda *xs: tinyattn.stack(xs, dim=-1))


# (input shape, split sizes, axis): an int may leave a smaller last piece
SPLITS = [((5, 2), 2, 0), ((5, 2), [1, 3, 1], 0), ((2, 6), 3, 1), ((2, 6), [4, 2], -1)]


@pytest.mark.parametrize("shape, sizes, axis", SPLITS, ids=str)
def test_split_pieces_get_their_own_gradients(shape, sizes, axis, backend, torch):
    # Reassemble the pieces reordered and scaled, leaving out a middle one when there is one:
    # each piece's gradient must land in its own place, and the unused one's must be zero.
    def reassemble(cat, pieces):
        return cat([pieces[-1] * 3.0, pieces[0]] + list(pieces[2:-1]), axis)

    check_op(torch, [shape], lambda x: reassemble(torch.cat, x.split(sizes, dim=axis)),
             lambda x: reassemble(tinyattn.concat, x.split(sizes, axis)))


def test_split_accepts_dim(backend, torch):
    check_op(torch, [(2, 4)], lambda x: x.split(3, dim=1)[1], lambda x: x.split(3, dim=1)[1])


@pytest.mark.parametrize("axes", [(1, 3), (0, 1), 3], ids=str)
def test_squeeze_takes_a_tuple_and_keeps_named_axes_that_are_not_size_one(axes, backend, torch):
    check_op(torch, [(2, 1, 3, 1)], lambda x: x.squeeze(axes), lambda x: x.squeeze(axes))


def test_expand_rejects_minus_one_for_a_new_axis():
    with pytest.raises(ValueError, match="-1 may only stand for an existing axis"):
        tinyattn.ones(3).expand(-1, 3)


# Sizes are integers. PyTorch 2.13: torch.zeros(4).reshape((2.7, 2.2)) and torch.randn(2.5)
# raise TypeError "must be tuple of ints" (a bool too: torch.zeros(True)); np.int64(2) and
# torch.tensor(2) are accepted as sizes.
@pytest.mark.parametrize("call, op", [
    (lambda: tinyattn.zeros(4).reshape((2.7, 2.2)), "reshape"),
    (lambda: tinyattn.zeros(4).reshape(2, 2.0), "reshape"),
    (lambda: tinyattn.randn(2.5), "randn"),
    (lambda: tinyattn.zeros(True), "zeros"),
    (lambda: tinyattn.ones((2, False)), "ones"),
    (lambda: tinyattn.rand(tinyattn.tensor(2.0)), "rand"),
    (lambda: tinyattn.zeros(1, 2).expand(3, 2.0), "expand"),
    (lambda: tinyattn.zeros(2, 3).permute(1.0, 0), "permute"),
])
def test_a_size_that_is_not_an_integer_is_a_type_error_naming_the_op(backend, call, op):
    with pytest.raises(TypeError, match=f"{op}: sizes must be integers"):
        call()


def test_numpy_integers_and_0d_integer_tensors_are_sizes(backend):
    assert tinyattn.zeros(np.int64(2), 3).shape == (2, 3)
    assert tinyattn.randn(tinyattn.tensor(3)).shape == (3,)
    assert tinyattn.zeros(6).reshape(tinyattn.tensor(2), np.int32(-1)).shape == (2, 3)


# PyTorch 2.13: torch.zeros(-1) is "Dimension size must be non-negative"; reshape(2, -2)
# "invalid shape dimension -2"; reshape(-1, -1) "only one dimension can be inferred"
# (all RuntimeError; here a ValueError, as other bad values).
@pytest.mark.parametrize("call, op, message", [
    (lambda: tinyattn.zeros(-1), "zeros", "size -1 in"),
    (lambda: tinyattn.randn(2, -3), "randn", "size -3 in"),
    (lambda: tinyattn.zeros(4).reshape(2, -2), "reshape", "size -2 in"),
    (lambda: tinyattn.zeros(4).reshape(-1, -1), "reshape", "only one size can be inferred"),
    (lambda: tinyattn.zeros(1, 2).expand(3, -2), "expand", "size -2 in"),
])
def test_a_negative_size_without_a_meaning_is_a_value_error_naming_the_op(backend, call, op, message):
    with pytest.raises(ValueError, match=f"{op}: {message}"):
        call()


def test_size_of_a_0d_tensor_along_an_axis_names_size(backend):
    """PyTorch: IndexError "Dimension specified as 0 but tensor has no dimensions"; ours was a bare
    "tuple index out of range"."""
    with pytest.raises(IndexError, match="size: dim 0 is out of range for a 0-d tensor"):
        tinyattn.tensor(3.0).size(0)


def test_transpose_of_a_0d_tensor_is_the_tensor(backend):
    """PyTorch lets 0 and -1 name a 0-d tensor's axis: transpose(0, -1) gives it back."""
    assert tinyattn.tensor(3.0).transpose(0, -1).item() == 3.0


def test_expand_to_sizes_that_do_not_fit_names_expand(backend):
    """The error named broadcast_to, which the user never called."""
    with pytest.raises(ValueError, match=r"expand: cannot expand shape \(0,\) to \(1,\)"):
        tinyattn.zeros(0).expand(1)


def test_split_of_an_empty_axis_gives_one_empty_piece(backend):
    """As PyTorch: zeros(0).split(2) is (tensor([]),); ours gave no piece at all."""
    pieces = tinyattn.zeros(0).split(2)
    assert len(pieces) == 1 and pieces[0].shape == (0,)
