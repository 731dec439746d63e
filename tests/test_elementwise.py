"""Elementwise primitives: against PyTorch (forward and every gradient), finite differences
(float64), on every backend. Binary ops are run on every kind of broadcasting DESIGN.md names."""
import numpy as np
import pytest
from oracle import away_from_zero, check_op, positive, uniform

import tinyattn

# name: (torch's expression, ours when it is spelled differently)
BINARY = {
    "add": (lambda a, b: a + b, None),
    "sub": (lambda a, b: a - b, None),
    "mul": (lambda a, b: a * b, None),
    "div": (lambda a, b: a / b, None),
    "maximum": (lambda a, b: a.maximum(b), tinyattn.maximum),
}

BROADCASTS = [
    ((3, 4), (3, 4)),           # same shape
    ((3, 1), (1, 4)),           # size-1 axes on both sides
    ((3, 1, 4), (5, 4)),        # different ranks and a size-1 axis
    ((4,), (2, 3, 4)),          # a vector against a stack of matrices
    ((2, 3, 4), (4,)),
    ((), (2, 3)),               # a 0-d tensor
    ((2, 3), ()),
]


def binary_inputs(shape_a, shape_b):
    """Distinct random values (no ties for maximum), b never near 0 (it may be a divisor)."""
    return [uniform(shape_a, seed=1), away_from_zero(shape_b, seed=2)]


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_op_broadcasts_like_torch(op, shapes, backend, torch):
    torch_fn, our_fn = BINARY[op]
    check_op(torch, binary_inputs(*shapes), torch_fn, our_fn)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1, 4), (5, 4)), ((), (2, 3))], ids=str)
@pytest.mark.parametrize("op", BINARY)
def test_binary_op_in_float32_matches_torch(op, shapes, backend, torch):
    torch_fn, our_fn = BINARY[op]
    check_op(torch, binary_inputs(*shapes), torch_fn, our_fn, dtype="float32")


# A Python number on either side takes the tensor's dtype, so float32 stays float32 (as torch).
SCALAR_OPERANDS = {
    "scalar + x": lambda x: 2.0 + x,
    "x + scalar": lambda x: x + 2.0,
    "scalar - x": lambda x: 3.0 - x,
    "x - scalar": lambda x: x - 1.5,
    "scalar * x": lambda x: 2.0 * x,
    "x * int": lambda x: x * 3,
    "scalar / x": lambda x: 1.0 / x,
    "x / scalar": lambda x: x / 3,
    "scalar ** x": lambda x: 2.0 ** x,
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("expr", SCALAR_OPERANDS)
def test_python_scalar_operand_matches_torch(expr, dtype, backend, torch):
    check_op(torch, [away_from_zero((2, 3))], SCALAR_OPERANDS[expr], dtype=dtype)


@pytest.mark.parametrize("op", BINARY)
def test_an_input_on_both_sides_of_a_binary_op_gets_both_gradients(op, backend, torch):
    torch_fn, our_fn = BINARY[op]       # maximum(x, x) ties everywhere: half + half = 1
    check_op(torch, [away_from_zero((2, 3))], lambda x: torch_fn(x, x), lambda x: (our_fn or torch_fn)(x, x))


def test_maximum_with_a_python_scalar_matches_torch(backend, torch):
    check_op(torch, [(2, 3)], lambda x: x.maximum(x.new_tensor(0.5)), lambda x: tinyattn.maximum(x, 0.5))
    check_op(torch, [(2, 3)], lambda x: x.new_tensor(0.5).maximum(x), lambda x: tinyattn.maximum(0.5, x))


def test_maximum_splits_the_gradient_in_half_at_ties(backend, torch):
    a = np.array([[1.0], [2.0], [3.0]])                 # (3, 1) broadcast against (4,)
    b = np.array([1.0, 2.0, 0.0, 3.0])                  # every row of a ties with one of b
    check_op(torch, [a, b], lambda a, b: a.maximum(b), tinyattn.maximum, gradcheck=False)  # kinks


# name: (expression, input values where it is smooth and defined)
UNARY = {
    "neg": (lambda x: -x, uniform),
    "exp": (lambda x: x.exp(), uniform),
    "log": (lambda x: x.log(), positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "tanh": (lambda x: x.tanh(), uniform),
    "sigmoid": (lambda x: x.sigmoid(), uniform),
    "relu": (lambda x: x.relu(), away_from_zero),
    "pow 2": (lambda x: x ** 2, uniform),
    "pow 3": (lambda x: x ** 3, uniform),
    "pow 0.5": (lambda x: x ** 0.5, positive),
    "pow -1": (lambda x: x ** -1, away_from_zero),
    "pow -1.5": (lambda x: x ** -1.5, positive),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("op", UNARY)
def test_unary_op_matches_torch(op, dtype, backend, torch):
    fn, values = UNARY[op]
    check_op(torch, [values((2, 3, 4))], fn, dtype=dtype)


@pytest.mark.parametrize("op", ["neg", "exp", "tanh", "sigmoid", "pow 3"])
def test_unary_op_of_a_0d_tensor_matches_torch(op, backend, torch):
    check_op(torch, [np.array(0.7)], UNARY[op][0])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu"])
def test_function_spelling_matches_the_method(name, backend, torch):
    check_op(torch, [positive((2, 3))], lambda x: getattr(torch, name)(x), getattr(tinyattn, name))


def test_relu_gradient_at_zero_is_zero(backend, torch):
    check_op(torch, [np.array([-1.0, 0.0, 2.0])], lambda x: x.relu(), gradcheck=False)  # kink at 0


def test_pow_0_has_zero_gradient_even_at_zero(backend, torch):
    check_op(torch, [np.array([-1.0, 0.0, 2.0])], lambda x: x ** 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_and_tanh_of_large_inputs_do_not_overflow(dtype, backend, torch):
    big = np.array([-100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0])
    check_op(torch, [big], lambda x: x.sigmoid() + x.tanh(), dtype=dtype)


WHERE_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((4,), (3, 1), (1, 4))]


@pytest.mark.parametrize("cond_shape, a_shape, b_shape", WHERE_SHAPES, ids=str)
def test_where_routes_each_gradient_to_the_chosen_input(cond_shape, a_shape, b_shape, backend, torch):
    cond = np.random.default_rng(3).random(cond_shape) < 0.5
    check_op(torch, [a_shape, b_shape],
             lambda a, b: torch.where(torch.tensor(cond), a, b),
             lambda a, b: tinyattn.where(tinyattn.tensor(cond), a, b))


def test_where_with_a_python_scalar_branch_matches_torch(backend, torch):
    cond = np.array([[True, False, True], [False, False, True]])
    check_op(torch, [(2, 3)], lambda x: torch.where(torch.tensor(cond), x, 0.0),
             lambda x: tinyattn.where(tinyattn.tensor(cond), x, 0.0), dtype="float32")


def test_double_casts_up_and_its_gradient_comes_back_in_float32(backend, torch):
    check_op(torch, [(2, 3)], lambda x: x.double() * 2.0, dtype="float32")


def test_float_casts_down_and_its_gradient_comes_back_in_float64(backend, torch):
    # Gradcheck with eps 1e-2: the cast is linear, so a large step adds no truncation error, but
    # the output is rounded to float32 (6e-8 relative, values up to 2): each difference is off by
    # up to 2.4e-7 / 2e-2 = 1.2e-5, times the random upstream |u| <= ~3; float64's defaults can't hold.
    check_op(torch, [(2, 3)], lambda x: x.float(), gradcheck_eps=1e-2,
             gradcheck_tol=dict(atol=1e-5, rtol=1e-4))


def test_cast_to_integers_leaves_the_graph(backend):
    x = tinyattn.tensor([1.5, 2.5], requires_grad=True)
    assert x.long().dtype == "int64" and not x.long().requires_grad       # as torch


# number ** x is a true power (base ** x), not e^(x ln base): exact where the power is, and
# defined for a zero or negative base. Gradient base^x ln(base), with PyTorch's values at base <= 0.
POSITIVE_BASES = [2.0, 10, 0.5, 1.0, 3]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("base", POSITIVE_BASES, ids=str)
def test_number_to_the_power_of_a_tensor_matches_torch(base, dtype, backend, torch):
    check_op(torch, [uniform((2, 3))], lambda x: base ** x, dtype=dtype)


@pytest.mark.parametrize("base", POSITIVE_BASES, ids=str)
def test_number_to_the_power_of_a_tensor_passes_gradcheck(base, backend):
    x = tinyattn.tensor(uniform((2, 3)), dtype="float64", requires_grad=True)
    assert tinyattn.gradcheck(lambda x: base ** x, x)


def test_number_to_the_power_of_a_tensor_is_exact_where_the_power_is(backend):
    assert (10 ** tinyattn.tensor(3.0)).item() == 1000.0
    powers = 2.0 ** tinyattn.tensor([0.0, 1.0, 10.0, -2.0])
    np.testing.assert_array_equal(powers.numpy(), [1.0, 2.0, 1024.0, 0.25])


def test_number_to_the_power_of_an_integer_tensor_keeps_torch_s_dtype(backend, torch):
    ours, theirs = 2 ** tinyattn.arange(4), 2 ** torch.arange(4)
    assert ours.dtype == "int64" and ours.tolist() == theirs.tolist()
    ours, theirs = 2.5 ** tinyattn.arange(4), 2.5 ** torch.arange(4)
    assert ours.dtype == "float32"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("base", [0.0, 0, -2.0, -0.5])
def test_zero_and_negative_bases_give_torch_s_values_and_gradients(base, backend, torch):
    values = np.array([-1.0, 0.0, 0.5, 2.0, 3.0])
    x = tinyattn.tensor(values, dtype="float64", requires_grad=True)
    y = base ** x
    y.backward(tinyattn.ones(5, dtype="float64"))
    tx = torch.tensor(values, requires_grad=True)
    ty = base ** tx
    ty.backward(torch.ones(5, dtype=torch.float64))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.backend.to_numpy(x.grad), tx.grad.numpy())


def test_a_base_that_is_not_a_number_is_a_clear_error():
    with pytest.raises(TypeError, match="pow: the base must be a Python number, got complex"):
        (1 + 2j) ** tinyattn.tensor([1.0])
