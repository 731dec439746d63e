"""Result dtypes against PyTorch: the dtype of every gradient, integer inputs to functions of real
numbers, and promotion when dtypes mix. Each case compares the dtype (and values) with torch's on
the same inputs, on every backend."""
import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn.engine.autograd import Function


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


# -- 2. functions of real numbers compute integer inputs in float32 -------------------------
UNARY = {
    "exp": lambda tl, x: x.exp(),
    "sqrt": lambda tl, x: x.sqrt(),
    "log": lambda tl, x: x.log(),
    "sigmoid": lambda tl, x: x.sigmoid(),
    "tanh": lambda tl, x: x.tanh(),
    "erf": lambda tl, x: x.erf(),
    "x ** 0.5": lambda tl, x: x ** 0.5,
    "relu": lambda tl, x: x.relu(),
}
# torch 2.13 has no integer softmax kernel (it raises); ours computes it in float32 like exp, which
# is torch's softmax of the same values in float32. torch.logsumexp of integers is float32 itself
# (the fused logsumexp here used to give float64 for int64 and fail for bool).
SOFTMAX = {   # name: (ours, torch's)
    "softmax": (lambda x: F.softmax(x, -1), lambda tx: tx.float().softmax(-1)),
    "log_softmax": (lambda x: F.log_softmax(x, -1), lambda tx: tx.float().log_softmax(-1)),
    "logsumexp": (lambda x: F.logsumexp(x, -1), lambda tx: tx.logsumexp(-1)),
    "logsumexp of bool": (lambda x: F.logsumexp(x > 2, -1), lambda tx: (tx > 2).logsumexp(-1)),
}


@pytest.mark.parametrize("expr", UNARY)
def test_function_of_an_integer_tensor_has_torch_dtype(expr, backend, torch):
    x, tx = pair(torch, [[1, 2, 3], [4, 0, 6]], "int64")
    if expr == "log":           # log(0) is -inf in both; keep the comparison finite
        x, tx = pair(torch, [[1, 2, 3], [4, 5, 6]], "int64")
    if expr == "relu":
        x, tx = pair(torch, [[1, -2, 3], [-4, 0, 6]], "int64")
    assert_same(UNARY[expr](tinyattn, x), UNARY[expr](torch, tx))


@pytest.mark.parametrize("expr", SOFTMAX)
def test_softmax_and_logsumexp_of_an_integer_tensor_are_float32(expr, backend, torch):
    x, tx = pair(torch, [[1, 2, 3], [4, 0, 6]], "int64")
    ours, theirs = SOFTMAX[expr]
    assert_same(ours(x), theirs(tx))


# -- 3. mixed integer and floating operands: the floating dtype ----------------------------
MIXED_KINDS = {
    "where(c, int, float32)": lambda tl, i, f: tl.where(f > 1.5, i, f),
    "where(c, float32, int)": lambda tl, i, f: tl.where(f > 1.5, f, i),
    "cat([int, float32])": lambda tl, i, f: tl.cat([i, f]),
    "cat([float32, int, float64])": lambda tl, i, f: tl.cat([f, i, f.double()]),
    "tril(int)": lambda tl, i, f: tl.tril(i[None, :] * i[:, None]),
    "triu(int)": lambda tl, i, f: tl.triu(i[None, :] * i[:, None], diagonal=1),
}


@pytest.mark.parametrize("expr", MIXED_KINDS)
def test_integer_with_float_takes_the_float_dtype(expr, backend, torch):
    i, ti = pair(torch, [1, 2, 3], "int64")
    f, tf = pair(torch, [0.5, 2.5, 1.0], "float32")
    assert_same(MIXED_KINDS[expr](tinyattn, i, f), MIXED_KINDS[expr](torch, ti, tf))


# Every binary op with int64 and float32 operands, either way round: float32 as in PyTorch 2.13
# (torch.arange(3) + torch.ones(3) is float32, comparisons bool), or a clear error where
# tinyattn or PyTorch refuses: torch.arange(3) @ torch.ones(3, 2) (either way round) raises
# RuntimeError "expected m1 and m2 to have the same dtype" (here a TypeError naming matmul and
# the dtypes; NumPy would compute it in float64);
# a tensor exponent is refused by tinyattn's pow (x ** 2 takes a Python number).
BINARY = {
    "+": (lambda a, b: a + b, "float32"), "-": (lambda a, b: a - b, "float32"),
    "*": (lambda a, b: a * b, "float32"), "/": (lambda a, b: a / b, "float32"),
    "//": (lambda a, b: a // b, "float32"), "%": (lambda a, b: a % b, "float32"),
    "maximum": (tinyattn.maximum, "float32"),
    "where": (lambda a, b: tinyattn.where(tinyattn.tensor([True, False, True]), a, b), "float32"),
    "<": (lambda a, b: a < b, "bool"), "==": (lambda a, b: a == b, "bool"),
    "@": (lambda a, b: a @ b, (TypeError, r"matmul: cannot mix integer and floating-point operands "
                                          r"\((int64 and float32|float32 and int64)\)")),
    "**": (lambda a, b: a ** b, (TypeError, "pow: the exponent must be a Python number")),
}


@pytest.mark.parametrize("int_first", [True, False], ids=["int64 op float32", "float32 op int64"])
@pytest.mark.parametrize("op", BINARY)
def test_binary_op_of_int64_and_float32_is_float32_or_a_clear_error(op, int_first, backend):
    i, f = tinyattn.arange(1, 4), tinyattn.tensor([0.5, 2.5, 1.0])
    a, b = (i, f) if int_first else (f, i)
    call, expected = BINARY[op]
    if isinstance(expected, tuple):
        with pytest.raises(expected[0], match=expected[1]):
            call(a, b)
    else:
        assert call(a, b).dtype == expected


# PyTorch 2.13: nn.Linear(3, 2)(long tensor) raises RuntimeError "mat1 and mat2 must have the same
# dtype, but got Long and Float"; F.linear likewise. NumPy would compute them in float64.
@pytest.mark.parametrize("call", [
    lambda x: tinyattn.nn.Linear(3, 2)(x),
    lambda x: F.linear(x, tinyattn.randn(2, 3)),
    lambda x: F.linear(x.float(), tinyattn.randn(2, 3), tinyattn.arange(2)),
], ids=["nn.Linear", "F.linear", "F.linear integer bias"])
def test_linear_of_integers_and_floats_is_a_type_error_naming_linear(call, backend):
    x = tinyattn.arange(6).reshape(2, 3)
    for mode in (False, True):
        with tinyattn.reference_mode(mode):
            with pytest.raises(TypeError, match="linear: cannot mix integer and floating-point"):
                call(x)


# PyTorch 2.13: F.cross_entropy of long logits raises NotImplementedError
# "log_softmax_lastdim_kernel_impl" not implemented for 'Long'; here a TypeError naming the op.
def test_cross_entropy_of_integer_logits_is_a_type_error(backend):
    for mode in (False, True):
        with tinyattn.reference_mode(mode):
            with pytest.raises(TypeError, match="cross_entropy: the logits must be floating point, "
                                                "got int64"):
                F.cross_entropy(tinyattn.arange(6).reshape(2, 3), tinyattn.tensor([0, 1]))


def test_bool_with_integer_tensor_is_integer(backend, torch):
    b, tb = pair(torch, [True, False], "bool")
    i, ti = pair(torch, [3, 4], "int64")
    assert_same(b + i, tb + ti)
    assert_same(b * i.float(), tb * ti.float())


# -- 4. a 0-d tensor of the same kind does not raise the dtype --------------------------------
ZERO_D = {
    "x32 + 0-d float64": lambda tl, x, s: x + s,
    "0-d float64 * x32": lambda tl, x, s: s * x,
    "where(c, x32, 0-d float64)": lambda tl, x, s: tl.where(x > 1, x, s),
}


@pytest.mark.parametrize("expr", ZERO_D)
def test_zero_dim_tensor_of_the_same_kind_keeps_the_dtype(expr, backend, torch):
    x, tx = pair(torch, [1.0, 2.0, 3.0], "float32", requires_grad=True)
    s, ts = pair(torch, 2.5, "float64", requires_grad=True)
    out, tout = ZERO_D[expr](tinyattn, x, s), ZERO_D[expr](torch, tx, ts)
    assert_same(out, tout)
    out.sum().backward()
    tout.sum().backward()
    assert_same(x.grad, tx.grad)
    assert_same(s.grad, ts.grad)
    i, ti = pair(torch, [1, 2, 3], "int64")     # of a higher kind, it sets the dtype
    assert_same(ZERO_D[expr](tinyattn, i, s), ZERO_D[expr](torch, ti, ts))


# -- 5. bool with a Python int ----------------------------------------------------------------
def test_bool_plus_python_int_is_int64(backend, torch):
    b, tb = pair(torch, [True, False], "bool")
    assert_same(b + 1, tb + 1)


def test_an_int_tensor_compares_with_a_float_in_the_common_dtype(backend, torch):
    i, ti = pair(torch, [1, 2, 3], "int64")
    assert_same(i > 1.5, ti > 1.5)
    assert_same(i == 2.0, ti == 2.0)


# -- mixes and masks the fuzz suite (test_fuzz.py) found -------------------------------------------
@pytest.mark.parametrize("op", ["__and__", "__or__"])
def test_and_and_or_of_integers_are_refused_not_taken_as_logic(op, backend):
    """PyTorch's & and | are bitwise on integers (2 & 1 == 0); tinyattn's are logic on masks, so
    an integer operand is refused rather than silently answered True."""
    with pytest.raises(TypeError, match=r"[&|]: defined for boolean tensors \(masks\), got int64"):
        getattr(tinyattn.tensor([2]), op)(tinyattn.tensor([1]))


def test_comparing_shapes_that_do_not_broadcast_names_the_comparison(backend):
    """PyTorch: "The size of tensor a (2) must match the size of tensor b (3)"."""
    with pytest.raises(ValueError, match=r"less: shapes \(2,\) and \(3,\) cannot be broadcast"):
        tinyattn.ones(2).__lt__(tinyattn.ones(3))


def test_masks_are_ordered_false_before_true(backend):
    """As in PyTorch and NumPy; the array API standard orders numbers only."""
    assert (tinyattn.tensor([False, True]) < tinyattn.tensor([True, True])).tolist() == [True, False]


def test_int8_compared_with_uint8_uses_both_values(backend):
    """PyTorch compares in int16; in uint8, -1 would become 255 and exceed 3."""
    a = tinyattn.tensor(np.array([-1], dtype="int8"))
    assert (a < tinyattn.tensor(np.array([3], dtype="uint8"))).tolist() == [True]


def test_int8_with_uint8_in_arithmetic_is_refused_naming_the_op(backend):
    """PyTorch computes in int16, which tinyattn has not (it failed with KeyError: int16)."""
    a, b = tinyattn.tensor(np.array([-1], dtype="int8")), tinyattn.tensor(np.array([3], dtype="uint8"))
    with pytest.raises(TypeError, match="add: int8 and uint8 together need int16"):
        a + b


@pytest.mark.parametrize("expression", [lambda m: m - m, lambda m: tinyattn.tensor([1, 2]) - m,
                                        lambda m: tinyattn.tensor([1, 2]) - True])
def test_subtraction_with_a_mask_is_refused_naming_sub(expression, backend):
    """PyTorch: "Subtraction, the `-` operator, with a bool tensor is not supported"."""
    with pytest.raises(TypeError, match="sub: subtraction with a boolean tensor"):
        expression(tinyattn.tensor([True, False]))


def test_subtracting_a_mask_in_place_is_refused(backend):
    """PyTorch refuses x -= mask as x - mask; uint8 -= True was computed."""
    x = tinyattn.tensor(np.array([3], dtype="uint8"))
    with pytest.raises(TypeError, match="-=: subtracting a boolean tensor"):
        x -= tinyattn.tensor([True])


@pytest.mark.parametrize("op", ["__neg__", "relu", "abs"])
def test_negation_relu_and_abs_of_a_mask_are_refused_naming_the_op(op, backend):
    """PyTorch refuses all three for bool ("Negation ... on a bool tensor is not supported");
    relu of a mask gave int64."""
    name = {"__neg__": "neg"}.get(op, op)
    with pytest.raises(TypeError, match=f"{name}: not defined for a boolean tensor"):
        getattr(tinyattn.tensor([True]), op)()


def test_arithmetic_on_two_masks_names_the_op_on_array_api_strict():
    """NumPy and PyTorch add masks (logical or); the array API standard does not: a clear error."""
    with tinyattn.use_backend("array_api_strict"), \
            pytest.raises(TypeError, match="add: arithmetic on boolean tensors"):
        tinyattn.tensor([True]) + tinyattn.tensor([False])


def test_a_number_outside_a_uint8_tensors_range_keeps_its_value(backend, torch):
    """PyTorch: uint8 - 4 wraps around (3 - 4 = 255) but -1 / uint8 is -1 / x in float; lifting -1
    into uint8 failed with OverflowError (and wrapping it first would give 1 / 255)."""
    values = np.array([3, 2], dtype="uint8")
    x, t = tinyattn.tensor(values), torch.tensor(values)
    for fn in (lambda a: a - 4, lambda a: -1 / a, lambda a: a < -1):
        ours, theirs = fn(x), fn(t)
        assert ours.dtype == name(theirs.dtype)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_powers_of_integers_and_masks_follow_pytorch(backend):
    """PyTorch: a mask ** 2 is int64, and an integer to a negative integer power is refused."""
    assert (tinyattn.tensor([True, False]) ** 2).dtype == "int64"
    assert (2 ** tinyattn.tensor([True, False])).tolist() == [2, 1]
    with pytest.raises(ValueError, match=r"pow: an integer tensor \(int64\) to a negative integer power"):
        tinyattn.tensor([2]) ** -1


def test_floor_division_by_zero_is_checked_after_the_shapes(backend):
    """A shape clash is the error to report, and an empty dividend divides by anything (PyTorch)."""
    with pytest.raises(ValueError, match=r"//: shapes \(3,\) and \(2,\) cannot be broadcast"):
        tinyattn.tensor([1, 2, 3]) // tinyattn.tensor([0, 1])
    assert (tinyattn.zeros(0, dtype="int64") // 0).shape == (0,)


def test_masked_fill_and_where_refuse_a_mask_that_is_not_boolean(backend):
    """PyTorch: "masked_fill_ only supports boolean masks", "where expected condition to be a
    boolean tensor"; NumPy would read any nonzero value as True."""
    x = tinyattn.ones(2)
    with pytest.raises(TypeError, match="masked_fill: the mask .* must be boolean, got int64"):
        x.masked_fill(tinyattn.tensor([1, 0]), 0.0)
    with pytest.raises(TypeError, match="where: the mask .* must be boolean, got float32"):
        tinyattn.where(tinyattn.ones(2), x, x)


def test_masked_fill_value_takes_the_tensors_dtype(backend):
    """PyTorch: an int64 tensor filled with 0.5 stays int64 (0), a mask filled with 2 stays a mask."""
    filled = tinyattn.tensor([1, 2]).masked_fill(tinyattn.tensor([True, False]), 0.5)
    assert filled.dtype == "int64" and filled.tolist() == [0, 2]
    assert tinyattn.tensor([False]).masked_fill(tinyattn.tensor([True]), 2).tolist() == [True]


@pytest.mark.parametrize("join", [lambda a, b: tinyattn.concat([a, b]), lambda a, b: tinyattn.stack([a, b]),
                                  lambda a, b: tinyattn.where(tinyattn.tensor([True]), a, b)])
def test_joining_int8_with_uint8_is_refused_not_wrapped(join, backend):
    """PyTorch joins them in int16; ours cast int8 -1 to uint8 255, silently."""
    a, b = tinyattn.tensor(np.array([-1], dtype="int8")), tinyattn.tensor(np.array([3], dtype="uint8"))
    with pytest.raises(TypeError, match="int8 and uint8 together need int16"):
        join(a, b)


def test_a_negative_base_to_uint8_powers_is_refused(backend):
    """(-2) ** uint8 tensor: NumPy refused -2 as a uint8 (OverflowError); PyTorch wraps."""
    with pytest.raises(ValueError, match=r"pow: a negative base \(-2\) to uint8 powers"):
        (-2) ** tinyattn.tensor(np.array([1], dtype="uint8"))


def test_tensor_refuses_values_outside_an_integer_dtype(backend):
    """PyTorch: tensor(-1, dtype=uint8) is "value cannot be converted ... without overflow"."""
    with pytest.raises(ValueError, match="tensor: values from -1 to 2 do not fit uint8"):
        tinyattn.tensor([-1, 2], dtype="uint8")
    with pytest.raises(ValueError, match="tensor: values from 300.5 to 300.5 do not fit int8"):
        tinyattn.tensor(300.5, dtype="int8")
