"""Common PyTorch spellings on Tensor: abs, std, argmin, .mT, // and %, and masks combined with
Python bools. Each against PyTorch, forward and backward (with a float64 gradient check, which
check_op runs), on every backend."""
import numpy as np
import pytest
from oracle import away_from_zero, check_op, positive

import tinyattn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_abs_matches_torch(dtype, backend, torch):
    check_op(torch, [away_from_zero((3, 4))], lambda x: x.abs(), dtype=dtype)
    check_op(torch, [away_from_zero((3, 4))], lambda x: abs(x), dtype=dtype)


def test_abs_has_gradient_0_at_0_as_torch(backend, torch):
    check_op(torch, [np.array([0.0, -0.0, -1.5, 2.0])], lambda x: x.abs(), gradcheck=False)


def test_abs_of_integers_stays_integer(backend):
    x = tinyattn.tensor([-3, 0, 2])
    assert x.abs().dtype == "int64"
    np.testing.assert_array_equal(x.abs().numpy(), [3, 0, 2])


STD_CALLS = {
    "std()": (lambda x: x.std(), lambda x: x.std()),
    "std(dim=1)": (lambda x: x.std(dim=1), lambda x: x.std(dim=1)),
    "std(0, keepdim)": (lambda x: x.std(0, keepdim=True), lambda x: x.std(0, keepdim=True)),
    "std((0, 2), correction=0)": (lambda x: x.std(dim=(0, 2), correction=0),
                                  lambda x: x.std(dim=(0, 2), correction=0)),
    "std(-1, correction=2)": (lambda x: x.std(dim=-1, correction=2),
                              lambda x: x.std(dim=-1, correction=2)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("call", STD_CALLS)
def test_std_matches_torch(call, dtype, backend, torch):
    theirs, ours = STD_CALLS[call]
    check_op(torch, [(3, 4, 5)], theirs, ours, dtype=dtype)


def test_std_names_itself_in_errors(backend):
    with pytest.raises(IndexError, match="std: dim 3 is out of range"):
        tinyattn.randn(2, 3).std(dim=3)


@pytest.mark.parametrize("kwargs", [{}, {"dim": 0}, {"dim": -1}, {"dim": 1, "keepdim": True}], ids=str)
def test_argmin_matches_torch(kwargs, backend, torch):
    values = np.random.default_rng(0).permutation(12).reshape(3, 4) - 5
    for dtype in ("int64", "float32"):
        ours = tinyattn.tensor(values, dtype=dtype).argmin(**kwargs)
        theirs = torch.tensor(values).to(getattr(torch, dtype)).argmin(**kwargs)
        assert ours.dtype == "int64"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_argmax_still_matches_torch(backend, torch):
    values = np.random.default_rng(1).permutation(12).reshape(3, 4)
    np.testing.assert_array_equal(tinyattn.tensor(values).argmax(dim=1).numpy(),
                                  torch.tensor(values).argmax(dim=1).numpy())


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)], ids=str)
def test_mT_transposes_the_last_two_axes_as_torch(shape, backend, torch):
    check_op(torch, [shape], lambda x: x.mT * 2.0)


def test_mT_of_a_vector_is_refused(backend):
    with pytest.raises(ValueError, match=r"mT: expects a matrix or a batch of matrices, got shape \(3,\)"):
        _ = tinyattn.ones(3).mT


# -- // and %: Python's signs (a % b takes the sign of b), as PyTorch ---------------------------
SIGNED_INTS = (np.array([7, -7, 7, -7, 6, 0]), np.array([3, 3, -3, -3, 3, 5]))


@pytest.mark.parametrize("op", ["//", "%"])
def test_integer_floor_division_and_remainder_match_torch(op, backend, torch):
    a, b = SIGNED_INTS
    fn = (lambda x, y: x // y) if op == "//" else (lambda x, y: x % y)
    for ours, theirs in [(fn(tinyattn.tensor(a), tinyattn.tensor(b)), fn(torch.tensor(a), torch.tensor(b))),
                         (fn(tinyattn.tensor(a), 3), fn(torch.tensor(a), 3)),
                         (fn(-7, tinyattn.tensor(b)), fn(-7, torch.tensor(b)))]:
        assert ours.dtype == "int64"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("op", ["//", "%"])
def test_float_floor_division_and_remainder_match_torch(op, backend, torch):
    a, b = np.random.default_rng(2).uniform(-5, 5, (3, 4)), away_from_zero((4,))
    fn = (lambda x, y: x // y) if op == "//" else (lambda x, y: x % y)
    for dtype in ("float32", "float64"):
        ours = fn(tinyattn.tensor(a, dtype=dtype), tinyattn.tensor(b, dtype=dtype))       # broadcasting
        theirs = fn(torch.tensor(a).to(getattr(torch, dtype)), torch.tensor(b).to(getattr(torch, dtype)))
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fn(tinyattn.tensor([1, 2, -3]), 0.5).numpy(),
                                  fn(torch.tensor([1, 2, -3]), 0.5).numpy())       # int with float: float32


def test_floor_division_carries_no_gradient(backend):
    x = tinyattn.tensor([1.5, -2.5], requires_grad=True)
    assert not (x // 2).requires_grad and not (3.0 // x).requires_grad


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_remainder_gradient_matches_torch_with_broadcasting(dtype, backend, torch):
    a = np.random.default_rng(3).uniform(-5, 5, (3, 4))
    check_op(torch, [a, away_from_zero((4,))], lambda x, y: x % y, dtype=dtype)
    check_op(torch, [a], lambda x: x % 1.5, dtype=dtype)


def test_a_number_modulo_a_tensor_has_the_gradient_minus_the_quotient(backend):
    # torch has no derivative for number % tensor; the formula is the same as for tensor % tensor
    tinyattn.gradcheck(lambda x: 2.5 % x, tinyattn.tensor(positive((3, 4)), requires_grad=True))


def test_integer_division_by_zero_is_an_error_as_in_torch(backend):
    for fn in (lambda x: x // 0, lambda x: x % 0, lambda x: 5 % x):
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            fn(tinyattn.tensor([1, 0]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")       # NumPy warns about x / 0; torch does not
def test_float_division_by_zero_gives_inf_and_nan_as_torch(backend, torch):
    ours, theirs = tinyattn.tensor([1.5, -1.5]), torch.tensor([1.5, -1.5])
    np.testing.assert_array_equal((ours // 0).numpy(), (theirs // 0).numpy())
    np.testing.assert_array_equal((ours % 0).numpy(), (theirs % 0).numpy())


def test_floor_division_of_a_mask_is_refused(backend):
    with pytest.raises(TypeError, match="//: arithmetic on a boolean tensor"):
        tinyattn.tensor([True, False]) // 2


# -- masks with Python bools ---------------------------------------------------------------------
@pytest.mark.parametrize("expression", ["True & m", "m & True", "False & m", "False | m", "m | True",
                                        "True | m"])
def test_a_mask_combines_with_python_bools_as_torch(expression, backend, torch):
    values = [True, False, True]
    ours = eval(expression, {"m": tinyattn.tensor(values)})
    theirs = eval(expression, {"m": torch.tensor(values)})
    assert ours.dtype == "bool"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# -- 0-d iteration, empty means --------------------------------------------------------------------
def test_iterating_a_0d_tensor_is_an_error_as_in_torch(backend):
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        list(tinyattn.tensor(1.0))


def test_iterating_gives_the_rows(backend):
    rows = list(tinyattn.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert len(rows) == 2
    np.testing.assert_array_equal(rows[1].numpy(), [3.0, 4.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")       # NumPy warns about the mean of nothing
def test_mean_over_an_empty_axis_is_nan_and_backpropagates_as_torch(backend, torch):
    ours, theirs = tinyattn.zeros(2, 0, requires_grad=True), torch.zeros(2, 0, requires_grad=True)
    y, t = ours.mean(dim=1), theirs.mean(dim=1)
    np.testing.assert_array_equal(y.numpy(), t.detach().numpy())
    y.sum().backward()
    t.sum().backward()
    assert tuple(ours.grad.shape) == tuple(theirs.grad.shape) == (2, 0)


@pytest.mark.parametrize("args", [(0, False), (0, True), (1, False, True), (None, False)], ids=str)
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_and_std_take_pytorchs_positional_unbiased(backend, torch, op, args):
    # x.var(0, False) is PyTorch's unbiased=False; reading it as keepdims would silently differ
    x = np.random.default_rng(0).standard_normal((3, 4))
    ours = getattr(tinyattn.tensor(x), op)(*args)
    theirs = getattr(torch.tensor(x), op)(*args)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_var_refuses_both_spellings_of_the_correction():
    with pytest.raises(TypeError, match="var: give unbiased or correction, not both"):
        tinyattn.randn(3).var(0, True, correction=0)


# -- functions of tinyattn the fuzz suite (test_fuzz_functional.py) found wanting ------------------
@pytest.mark.parametrize("fn", [tinyattn.tril, tinyattn.triu])
def test_tril_and_triu_keep_the_dtype_and_need_a_matrix(fn, backend):
    """PyTorch: tril of a mask is a mask (ours promoted it with the 0 to int64), and of a vector
    an error ("tril: input tensor must have at least 2 dimensions"); ours was an IndexError."""
    assert fn(tinyattn.tensor([[True, True], [True, True]])).dtype == "bool"
    with pytest.raises(ValueError, match=fn.__name__ + r": expects a matrix or a batch of matrices"):
        fn(tinyattn.ones(3))


@pytest.mark.parametrize("fn", [tinyattn.sin, tinyattn.cos])
def test_sin_and_cos_of_integers_are_float32(fn, backend):
    """As PyTorch (and exp here); NumPy computes sin of a uint8 or a mask in float16."""
    assert fn(tinyattn.tensor(np.array([1], dtype="uint8"))).dtype == "float32"


def test_arange_against_the_sign_of_its_step_or_of_booleans_is_refused(backend):
    """PyTorch: "upper bound and lower bound inconsistent with step sign"; NumPy gives []."""
    with pytest.raises(ValueError, match="arange: a step of 1 never gets from start 3 to stop 0"):
        tinyattn.arange(3, 0)
    with pytest.raises(TypeError, match="arange: a range of booleans"):
        tinyattn.arange(2, dtype="bool")


def test_full_with_a_number_outside_a_small_dtype_wraps_around(backend):
    """PyTorch: full((2,), -1, dtype=uint8) is 255; the backends refused -1 (OverflowError)."""
    assert tinyattn.full((2,), -1, dtype="uint8").tolist() == [255, 255]


def test_arange_of_an_integer_dtype_wants_integers(backend):
    """PyTorch casts arange(0, 1, 0.5, dtype=int64) in a way of its own; uint8 has no -1."""
    with pytest.raises(TypeError, match=r"arange: an integer dtype \(int64\) needs integer start"):
        tinyattn.arange(0, 1, 0.5, dtype="int64")
    with pytest.raises(ValueError, match="arange: uint8 has no negative values"):
        tinyattn.arange(-1, 2, dtype="uint8")
