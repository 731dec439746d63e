"""Reductions (sum, mean, max, min, var) over every kind of axis argument, with and without
keepdims: against PyTorch, finite differences (float64), on every backend."""
import numpy as np
import pytest
from oracle import check_op

import tinyattn


def _all_axes(axis):
    return () if axis is None else axis        # torch.amax / amin reduce every axis for dim=()


# name: (torch's expression, ours), each taking (x, axis, keepdims)
REDUCTIONS = {
    "sum": (lambda x, a, k: x.sum(dim=a, keepdim=k), lambda x, a, k: x.sum(a, k)),
    "mean": (lambda x, a, k: x.mean(dim=a, keepdim=k), lambda x, a, k: x.mean(a, k)),
    "max": (lambda x, a, k: x.amax(dim=_all_axes(a), keepdim=k), lambda x, a, k: x.max(a, k)),
    "min": (lambda x, a, k: x.amin(dim=_all_axes(a), keepdim=k), lambda x, a, k: x.min(a, k)),
    # var's second positional argument is PyTorch's unbiased, so keepdims goes by name
    "var": (lambda x, a, k: x.var(dim=a, keepdim=k), lambda x, a, k: x.var(a, keepdims=k)),
    "var correction=0": (lambda x, a, k: x.var(dim=a, keepdim=k, correction=0),
                         lambda x, a, k: x.var(a, keepdims=k, correction=0)),
}
AXES = [None, 0, 1, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("op", REDUCTIONS)
def test_reduction_matches_torch(op, axis, keepdims, backend, torch):
    torch_fn, our_fn = REDUCTIONS[op]
    check_op(torch, [(2, 3, 4)], lambda x: torch_fn(x, axis, keepdims), lambda x: our_fn(x, axis, keepdims))


@pytest.mark.parametrize("axis", [None, -1], ids=str)
@pytest.mark.parametrize("op", REDUCTIONS)
def test_reduction_in_float32_matches_torch(op, axis, backend, torch):
    torch_fn, our_fn = REDUCTIONS[op]
    check_op(torch, [(2, 3, 4)], lambda x: torch_fn(x, axis, False), lambda x: our_fn(x, axis, False),
             dtype="float32")


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "var"])
def test_reduction_accepts_dim_and_keepdim_as_aliases(op, backend, torch):
    torch_fn = REDUCTIONS[op][0]
    check_op(torch, [(2, 3, 4)], lambda x: torch_fn(x, (0, -1), True),
             lambda x: getattr(x, op)(dim=(0, -1), keepdim=True))


TIES = np.array([[1.0, 3.0, 3.0, 0.0],
                 [2.0, 2.0, -1.0, 2.0],
                 [3.0, 0.0, 0.0, 3.0]])     # the overall max 3 four times; ties within rows and columns


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_share_the_gradient_equally_among_ties(op, axis, backend, torch):
    torch_fn, our_fn = REDUCTIONS[op]
    check_op(torch, [TIES], lambda x: torch_fn(x, axis, False), lambda x: our_fn(x, axis, False),
             gradcheck=False)                                          # ties are kinks


@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_reduction_of_a_0d_tensor_matches_torch(op, axis, backend, torch):
    torch_fn, our_fn = REDUCTIONS[op]
    check_op(torch, [np.array(1.5)], lambda x: torch_fn(x, axis, False), lambda x: our_fn(x, axis, False))



def test_var_of_a_single_element_with_correction_is_nan_as_in_pytorch():
    assert np.isnan(tinyattn.tensor([3.0]).var().item())


# -- dtype rules and edge cases the fuzz suite (test_fuzz.py) found --------------------------------
def test_sum_over_dim_empty_tuple_reduces_every_axis(backend):
    """PyTorch: x.sum(dim=()) sums everything (NumPy's axis=() would sum nothing)."""
    x = tinyattn.ones(2, 3)
    assert x.sum(dim=()).item() == 6.0 and x.var(dim=()).shape == ()


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32"])
def test_sum_of_booleans_and_integers_is_int64(dtype, backend):
    """PyTorch sums them into int64; NumPy would sum uint8 into uint64, a dtype tinyattn lacks."""
    total = tinyattn.tensor(np.array([1, 0, 1], dtype=dtype)).sum()
    assert total.dtype == "int64" and total.item() == 2


def test_mean_of_integers_is_refused_naming_mean(backend):
    """PyTorch: "mean(): could not infer output dtype"; NumPy would quietly give float64."""
    with pytest.raises(TypeError, match="mean: the input must be floating point, got int64"):
        tinyattn.arange(4).mean()


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_and_std_of_integers_are_refused_naming_the_op(op, backend):
    """PyTorch: "std and var only support floating point and complex dtypes"."""
    with pytest.raises(TypeError, match=f"{op}: the input must be floating point"):
        getattr(tinyattn.arange(4), op)()


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_and_min_over_an_empty_axis_name_the_axis(op, backend):
    """PyTorch raises IndexError ("Expected reduction dim 0 to have non-zero size")."""
    with pytest.raises(IndexError, match=rf"{op}: axis 0 of the tensor of shape \(0, 2\) is empty"):
        getattr(tinyattn.zeros(0, 2), op)(dim=0)
    assert getattr(tinyattn.zeros(0, 2), op)(dim=1).shape == (0,)


def test_min_of_uint8_with_a_zero_is_zero(backend):
    """min was -max(-x), and -x wraps around in uint8 (-0 = 0 but -1 = 255): min([0, 5]) was 5."""
    x = tinyattn.tensor(np.array([0, 5], dtype="uint8"))
    assert x.min().item() == 0 and x.min().dtype == "uint8"


def test_max_and_min_of_a_mask_are_any_and_all(backend):
    """As in PyTorch (amax of a boolean tensor); the array API standard has no max of booleans."""
    mask = tinyattn.tensor([[True, False], [True, True]])
    assert mask.max(dim=1).tolist() == [True, True] and mask.min(dim=1).tolist() == [False, True]


def test_argmax_refuses_a_tuple_of_dims_and_a_mask(backend):
    """PyTorch: argmax takes one dim, and "argmax(): does not support bool input"."""
    with pytest.raises(TypeError, match=r"argmax: dim must be a single axis \(an int\), got \(0, 1\)"):
        tinyattn.ones(2, 3).argmax(dim=(0, 1))
    with pytest.raises(TypeError, match="argmin: not defined for a boolean tensor"):
        tinyattn.tensor([True, False]).argmin()


def test_argmax_of_an_empty_tensor_names_argmax(backend):
    """PyTorch raises IndexError ("Expected reduction dim to be specified for input.numel() == 0")."""
    with pytest.raises(IndexError, match=r"argmax: the tensor of shape \(0,\) is empty"):
        tinyattn.zeros(0).argmax()


def test_argmax_without_a_dim_keeps_every_axis_with_keepdim(backend):
    """PyTorch: x.argmax(keepdim=True) of a (2, 3) tensor has shape (1, 1)."""
    x = tinyattn.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    assert x.argmax(keepdim=True).shape == (1, 1) and x.argmax(keepdim=True).item() == 1


def test_variance_with_as_many_elements_as_the_correction_is_inf(backend):
    """PyTorch divides by max(0, n - correction): sum / 0 is inf (nan only for a sum of 0)."""
    assert tinyattn.tensor([0.0, 1.0]).var(correction=2).item() == float("inf")


def test_std_of_constant_values_has_gradient_zero(backend):
    """PyTorch's std backward is 0 where std is 0; sqrt's infinite slope there gave nan."""
    x = tinyattn.tensor([2.0, 2.0], dtype="float64", requires_grad=True)
    x.std().backward()
    assert x.backend.to_numpy(x.grad).tolist() == [0.0, 0.0]
