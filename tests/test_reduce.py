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
