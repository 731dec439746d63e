"""Bad input gets a clear error: the op's name, and the shapes, dtypes or backends involved.

Each test makes one wrong call and checks the message a user would read.
"""
import math

import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn.functional import fused


# -- shapes ------------------------------------------------------------------------------------
def test_matmul_names_the_shapes_that_do_not_line_up():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not line up: 3 != 4"):
        tinyattn.randn(2, 3) @ tinyattn.randn(4, 5)


def test_matmul_names_batch_dimensions_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"matmul \(batch dimensions\): shapes \(2,\) and \(5,\)"):
        tinyattn.randn(2, 3, 4) @ tinyattn.randn(5, 4, 2)


def test_add_names_shapes_that_cannot_broadcast():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4, 3\) cannot be broadcast together"):
        tinyattn.randn(2, 3) + tinyattn.randn(4, 3)


def test_mul_names_the_axis_where_the_sizes_clash():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(2, 4\) .*axis -1: sizes \[3, 4\]"):
        tinyattn.randn(2, 3) * tinyattn.randn(2, 4)


def test_where_names_all_three_shapes():
    condition = tinyattn.randn(2, 3) > 0
    expected = r"where: shapes \(2, 3\) and \(2, 3\) and \(5,\) cannot be broadcast"
    with pytest.raises(ValueError, match=expected):
        tinyattn.where(condition, tinyattn.randn(2, 3), tinyattn.randn(5))


def test_broadcast_to_names_the_source_and_target_shapes():
    with pytest.raises(ValueError, match=r"broadcast_to: shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        tinyattn.randn(2, 3).broadcast_to(4, 5)


def test_reshape_to_an_impossible_shape_counts_the_elements():
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\) \(6 elements\) "
                                         r"as shape \(4, 2\)"):
        tinyattn.randn(2, 3).reshape(4, 2)


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min", "var", "argmax"])
def test_reduction_over_an_axis_out_of_range_names_op_and_rank(reduction):
    x = tinyattn.randn(2, 3)
    with pytest.raises(IndexError, match=rf"{reduction}: dim 2 is out of range for a tensor with 2 dims"):
        getattr(x, reduction)(axis=2)


# -- backward ----------------------------------------------------------------------------------
def test_backward_from_a_non_scalar_needs_a_gradient():
    y = tinyattn.randn(2, 3, requires_grad=True) * 2
    expected = r"backward: called on a tensor of shape \(2, 3\) without a gradient"
    with pytest.raises(RuntimeError, match=expected):
        y.backward()


def test_backward_with_a_wrongly_shaped_gradient_names_both_shapes():
    y = tinyattn.randn(2, 3, requires_grad=True) * 2
    expected = r"gradient shape \(3, 2\) does not match the tensor's shape \(2, 3\)"
    with pytest.raises(ValueError, match=expected):
        y.backward(tinyattn.ones(3, 2))


def test_backward_with_a_gradient_on_another_backend_names_both():
    y = tinyattn.randn(2, 3, requires_grad=True, backend="numpy") * 2
    upstream = tinyattn.ones(2, 3, backend="array_api_strict")
    with pytest.raises(TypeError, match="gradient lives on backend array_api_strict, the tensor on numpy"):
        y.backward(upstream)


@pytest.mark.parametrize("attend", [F.scaled_dot_product_attention, tinyattn.flash_attention],
                         ids=["standard", "flash"])
@pytest.mark.parametrize("mask, error, message", [
    (np.ones((3, 3), bool), None, None),
    (tinyattn.ones(3, 3, backend="array_api_strict") > 0, TypeError,
     r"the mask lives on backend array_api_strict, the query on numpy; move it with .to\('numpy'\)"),
    (np.ones((3, 3)), TypeError, r"the mask must be boolean \(True = may attend\), got float64"),
    (np.ones((2, 3), bool), ValueError, r"mask of shape \(2, 3\) does not broadcast to the attention "
                                        r"scores \(1, 3, 3\)"),
], ids=["fine", "other backend", "not boolean", "wrong shape"])
def test_attention_masks_are_checked_alike(attend, mask, error, message):
    q = tinyattn.randn(1, 3, 4, backend="numpy")
    if error is None:
        assert attend(q, q, q, mask=mask).shape == (1, 3, 4)
        return
    with pytest.raises(error, match=f"{attend.__name__}: {message}"):
        attend(q, q, q, mask=mask)


def test_backward_from_a_tensor_without_a_graph_says_so():
    with pytest.raises(RuntimeError, match="backward: this tensor does not require grad"):
        tinyattn.randn(3).sum().backward()


def test_second_backward_through_a_freed_graph_asks_for_retain_graph():
    x = tinyattn.randn(3, requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="already freed.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates_exactly_twice():
    x = tinyattn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(tinyattn.tensor(x.grad).numpy(), [4.0, -8.0, 12.0])


# -- backends ----------------------------------------------------------------------------------
def test_adding_tensors_of_two_backends_names_both():
    a = tinyattn.randn(2, 3, backend="numpy")
    b = tinyattn.randn(2, 3, backend="array_api_strict")
    expected = r"add: inputs live on different backends \(numpy, array_api_strict\)"
    with pytest.raises(TypeError, match=expected):
        a + b


def test_matmul_of_tensors_of_two_backends_names_both():
    a = tinyattn.randn(2, 3, backend="array_api_strict")
    b = tinyattn.randn(3, 2, backend="numpy")
    expected = r"matmul: inputs live on different backends \(array_api_strict, numpy\)"
    with pytest.raises(TypeError, match=expected):
        a @ b


def test_unknown_backend_lists_the_known_ones():
    expected = r"unknown backend 'jax'; choose one of \['array_api_strict', 'cupy', 'numpy'\]"
    with pytest.raises(ValueError, match=expected):
        tinyattn.set_backend("jax")


# -- dtypes ------------------------------------------------------------------------------------
def test_integer_tensor_cannot_be_created_requiring_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, this one is int64"):
        tinyattn.tensor([1, 2, 3], requires_grad=True)


def test_integer_tensor_cannot_be_marked_requires_grad_later():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad, this one is int64"):
        tinyattn.arange(3).requires_grad_()


def test_unknown_dtype_lists_the_backends_dtypes():
    expected = "dtype 'float128' is not available on backend 'numpy'; it has float32, float64"
    with pytest.raises(TypeError, match=expected):
        tinyattn.zeros(2, dtype="float128", backend="numpy")


def test_dtype_missing_on_a_backend_names_the_backend():
    with pytest.raises(TypeError, match="dtype 'float16' is not available on backend 'array_api_strict'"):
        tinyattn.ones(2, dtype="float16", backend="array_api_strict")


def test_randn_with_an_integer_dtype_says_samples_are_floating_point():
    with pytest.raises(TypeError, match="randn: random samples are floating point; dtype int64 is not"):
        tinyattn.randn(2, dtype="int64")


def test_pow_with_a_tensor_exponent_points_to_exp_log():
    x = tinyattn.rand(3) + 1.0
    expected = r"pow: the exponent must be a Python number, got Tensor.*exp\(y \* log\(x\)\)"
    with pytest.raises(TypeError, match=expected):
        x ** x


# -- indexing ----------------------------------------------------------------------------------
def test_gather_index_out_of_range_names_index_axis_and_size():
    table = tinyattn.randn(4, 3)
    expected = r"index 4 is out of range for axis 0 of size 4 \(tensor of shape \(4, 3\)\)"
    with pytest.raises(IndexError, match=expected):
        table[tinyattn.tensor([0, 4])]


def test_gather_negative_index_out_of_range_is_caught_too():
    table = tinyattn.randn(4, 3)
    with pytest.raises(IndexError, match="index -5 is out of range for axis 0 of size 4"):
        table[tinyattn.tensor([-5])]


def test_gather_with_a_float_index_asks_for_integers():
    table = tinyattn.randn(4, 3)
    with pytest.raises(IndexError, match="index arrays must hold integers, got float32"):
        table[tinyattn.tensor([0.0, 1.0])]


def test_setitem_into_a_tensor_requiring_grad_is_refused():
    x = tinyattn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: cannot assign into a tensor that requires grad"):
        x[0] = 1.0


def test_take_names_the_axis_the_user_asked_for():
    with pytest.raises(IndexError, match="index 5 is out of range for axis 1 of size 3"):
        tinyattn.take(tinyattn.randn(4, 3), tinyattn.tensor([5]), axis=1)


def test_to_an_unknown_name_says_it_is_neither_backend_nor_dtype():
    with pytest.raises(ValueError, match="'float128' is neither a backend"):
        tinyattn.randn(2).to("float128")


def test_an_index_from_another_backend_is_named():
    with tinyattn.use_backend("array_api_strict"):
        index = tinyattn.tensor([0])
    with pytest.raises(TypeError, match="index on 'array_api_strict'"):
        tinyattn.randn(3, backend="numpy")[index]


@pytest.mark.parametrize("call, op", [
    (lambda: fused.Gelu.apply(tinyattn.arange(3), approximate="none"), "gelu"),
    (lambda: fused.LayerNorm.apply(tinyattn.arange(4).reshape(1, 4), tinyattn.ones(4, dtype="int64"),
                                   tinyattn.zeros(4, dtype="int64"), eps=1e-5), "layernorm"),
])
def test_a_numpy_error_that_needs_more_than_a_message_is_still_named(call, op):
    # NumPy's casting errors take more than a message: the clearer error falls back to TypeError.
    # F.gelu and F.layer_norm refuse integers before they reach here, so the fused Functions
    # are called directly, as F.* did with integer input before it checked.
    with pytest.raises(TypeError, match=f"{op}: failed on inputs .*int64"):
        call()


# PyTorch 2.13: F.layer_norm and F.gelu of a long tensor raise NotImplementedError
# ("LayerNormKernelImpl" / "GeluKernelImpl" not implemented for 'Long'); here a TypeError naming
# the op, the same in reference mode (which used to return float32) and the fused default.
@pytest.mark.parametrize("call, op", [
    (lambda x: F.layer_norm(x, 4), "layer_norm"),
    (lambda x: F.layer_norm(x, 4, tinyattn.ones(4), tinyattn.zeros(4)), "layer_norm"),
    (lambda x: F.gelu(x), "gelu"),
    (lambda x: F.gelu(x, approximate="tanh"), "gelu"),
])
@pytest.mark.parametrize("reference", [False, True], ids=["fused", "reference"])
def test_layer_norm_and_gelu_of_integers_are_a_type_error_in_both_modes(call, op, reference, backend):
    with tinyattn.reference_mode(reference):
        with pytest.raises(TypeError, match=f"{op}: the input must be floating point, got int64"):
            call(tinyattn.arange(8).reshape(2, 4))


def test_linear_with_a_weight_that_is_not_a_matrix_says_so():
    expected = r"linear: the weight must be \(out_features, in_features\), got shape \(4,\)"
    with pytest.raises(ValueError, match=expected):
        F.linear(tinyattn.randn(2, 4), tinyattn.randn(4))


# PyTorch 2.13: IndexError "Target 3 is out of bounds." (likewise -1, and 0 with C = 0); a take
# with -1 would silently read the last class on NumPy
@pytest.mark.parametrize("logits, target, example", [
    ((2, 3), [0, 3], 3), ((2, 3), [-1, 0], -1), ((2, 0), [0, 0], 0),
], ids=["past C", "negative", "C = 0"])
def test_cross_entropy_of_a_target_that_is_no_class_id_names_it(backend, logits, target, example):
    classes = logits[-1]
    with pytest.raises(IndexError, match=rf"cross_entropy: target {example} is out of range: not a class "
                                         rf"id in \[0, {classes}\) nor ignore_index -100"):
        F.cross_entropy(tinyattn.zeros(*logits), tinyattn.tensor(target))


def test_cross_entropy_with_an_unknown_reduction_names_the_choices():
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(tinyattn.randn(2, 3), tinyattn.tensor([0, 1]), reduction="avg")


# -- making and joining tensors: each wrong call, with what PyTorch 2.13 does beside it ---------
BAD_DATA = [
    # torch.tensor([[1, 2], [3]]): ValueError: expected sequence of length 2 at dim 1 (got 1)
    ([[1, 2], [3]], ValueError,
     r"tensor: nested lists of different lengths: expected sequences of length 2 at dim 1 "
     r"\(entry 1 has length 1\)"),
    # torch.tensor([[1, 2], [3, [4]]]): TypeError: 'list' object cannot be interpreted as an integer
    ([[1, 2], [3, [4]]], ValueError, r"tensor: nested lists .*: expected a number at dim 2"),
    # torch.tensor('abc'): TypeError: new(): invalid data type 'str'
    ("abc", TypeError, "tensor: str data has no tinyattn dtype; tinyattn has float32, float64"),
    # torch.tensor([1 + 2j]) is complex64, which tinyattn does not have
    ([1 + 2j], TypeError, "tensor: complex128 data has no tinyattn dtype; tinyattn has float32"),
    # torch.tensor(np.array([1], np.uint16)) is torch.uint16, which tinyattn does not have
    (np.array([1], np.uint16), TypeError, "tensor: uint16 data has no tinyattn dtype; tinyattn has"),
    (np.array([1 + 2j]), TypeError, "tensor: complex128 data has no tinyattn dtype"),
]


@pytest.mark.parametrize("data, error, message", BAD_DATA,
                         ids=["ragged", "ragged deeper", "str", "complex", "uint16", "complex array"])
def test_tensor_refuses_data_it_cannot_hold_at_creation(backend, data, error, message):
    with pytest.raises(error, match=message):
        tinyattn.tensor(data)


def test_a_dtype_asked_for_converts_data_of_a_dtype_tinyattn_lacks(backend):
    np.testing.assert_array_equal(tinyattn.tensor(np.array([1, 2], np.uint16), dtype="float32").numpy(),
                                  [1.0, 2.0])


BAD_JOINS = [
    # torch.cat([]): ValueError: torch.cat(): expected a non-empty list of Tensors
    (lambda: tinyattn.cat([]), ValueError, "concat: expected a non-empty list of tensors"),
    # torch.stack([]): RuntimeError: stack expects a non-empty TensorList
    (lambda: tinyattn.stack([]), ValueError, "stack: expected a non-empty list of tensors"),
    # torch.stack([zeros(2, 3), zeros(2, 4)]): RuntimeError: stack expects each tensor to be equal
    # size, but got [2, 3] at entry 0 and [2, 4] at entry 1
    (lambda: tinyattn.stack([tinyattn.zeros(2, 3), tinyattn.zeros(2, 4)]), ValueError,
     r"stack: every tensor must have the same shape, got \(2, 3\) at entry 0 and \(2, 4\) at entry 1"),
    # torch.arange(0, 10, 0): RuntimeError: step must be nonzero
    (lambda: tinyattn.arange(0, 10, 0), ValueError, "arange: step must be nonzero"),
    # torch.arange(0, 10, -1) and torch.arange(10, 0, 1): RuntimeError: upper bound and lower bound
    # inconsistent with step sign (NumPy returns an empty range)
    (lambda: tinyattn.arange(0, 10, -1), ValueError,
     "arange: a step of -1 never gets from start 0 to stop 10; its sign must be that of stop - start"),
    (lambda: tinyattn.arange(10.0, 0.0, 0.5), ValueError, "arange: a step of 0.5 never gets from start 10.0"),
    # torch.arange(0, float('inf')): RuntimeError: unsupported range: 0 -> inf (NumPy: "Maximum
    # allowed size exceeded"; with nan, "cannot compute length")
    (lambda: tinyattn.arange(0, math.inf), ValueError,
     "arange: start, stop and step must be finite, got 0, inf"),
    (lambda: tinyattn.arange(math.nan), ValueError, "arange: start, stop and step must be finite"),
    # torch.zeros(4).split(0): RuntimeError: split_size can only be 0 if dimension size is 0, but
    # got dimension size of 4
    (lambda: tinyattn.zeros(4).split(0), ValueError,
     r"split: split_size must be positive, got 0 \(0 only splits an empty axis\); axis 0 has size 4"),
    # torch.zeros(4).split(-1): RuntimeError: split expects split_size be non-negative, but got -1
    (lambda: tinyattn.zeros(4).split(-1), ValueError, "split: split_size must be positive, got -1"),
]


@pytest.mark.parametrize("call, error, message", BAD_JOINS,
                         ids=["cat of none", "stack of none", "stack of two shapes", "arange step 0",
                              "arange step away from stop", "arange float step away from stop",
                              "arange to inf", "arange to nan", "split 0", "split -1"])
def test_making_and_joining_name_the_op_and_what_was_wrong(backend, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_arange_from_a_value_to_itself_is_empty_whatever_the_step_sign(backend):
    # torch.arange(0, 0, -1) and torch.arange(5, 5, 1) are empty, not errors
    assert tinyattn.arange(0, 0, -1).shape == tinyattn.arange(5, 5, 1).shape == (0,)
    np.testing.assert_array_equal(tinyattn.arange(10, 0, -3).numpy(), [10, 7, 4, 1])


def test_an_empty_axis_splits_into_one_empty_piece_of_size_0(backend):
    # torch.zeros(0).split(0) == (tensor([]),)
    pieces = tinyattn.zeros(0).split(0)
    assert [p.shape for p in pieces] == [(0,)]


# -- models and losses fed the wrong kind of input ----------------------------------------------
def test_cross_entropy_of_0d_logits_asks_for_a_class_axis():
    # torch: F.cross_entropy(tensor(1.), tensor(0)): RuntimeError: Expected floating point type for
    # target with class probabilities, got Long
    with pytest.raises(ValueError, match=r"cross_entropy: logits must have a class axis, \(\.\.\., C\); "
                                         r"got a 0-d tensor"):
        F.cross_entropy(tinyattn.tensor(1.0), tinyattn.tensor(0))


@pytest.mark.parametrize("idx, error, message", [
    # PyTorch has no GPT; nanoGPT's forward unpacks `b, t = idx.size()`: ValueError: not enough
    # values to unpack (expected 2, got 1)
    ([1, 2, 3], ValueError, r"GPT: idx must be \(B, T\) integer token ids; got a tensor of shape "
                            r"\(3,\) \(one sequence: idx.unsqueeze\(0\)\)"),
    # torch.nn.Embedding(11, 8)([[1, 2]]): TypeError: embedding(): argument 'indices' (position 2)
    # must be Tensor, not list
    ("list", TypeError, r"GPT: idx must be \(B, T\) integer token ids, a Tensor; got list"),
    # float ids in torch.nn.Embedding: RuntimeError: Expected tensor for argument #1 'indices' to
    # have one of the following scalar types: Long, Int; but got torch.FloatTensor instead
    ([[1.0, 2.0]], TypeError, r"GPT: idx must be \(B, T\) integer token ids; got float32"),
], ids=["1-D", "list", "float"])
def test_gpt_says_idx_must_be_batches_of_integer_token_ids(backend, idx, error, message):
    model = tinyattn.nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=1, max_len=16)
    idx = [[1, 2, 3]] if idx == "list" else tinyattn.tensor(idx)
    with pytest.raises(error, match=message):
        model(idx)
