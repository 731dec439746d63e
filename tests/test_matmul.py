"""Matrix products with broadcast batch dimensions and 1-D operands: against PyTorch, finite
differences (float64), on every backend. A batch dimension that was broadcast (a weight shared
by every row, a size-1 axis) must have its gradient summed over the batch."""
import pytest
from oracle import check_op

import tinyattn

SHAPES = [
    ((3, 4), (4, 2)),                   # matrix @ matrix
    ((3, 3), (3, 3)),                   # square: a gradient missing a transpose keeps its shape
    ((2, 3, 3), (3, 3)),                # (B, T, C) @ (C, C), as in every attention projection
    ((2, 3, 4), (4, 5)),                # (B, T, C) @ (C, D): a weight shared over the batch
    ((3, 4), (2, 4, 5)),                # a matrix shared over the other's batch
    ((2, 2, 3, 2), (2, 2, 2, 3)),       # (B, H, T, D) @ (B, H, D, T): attention scores
    ((2, 1, 3, 4), (5, 4, 2)),          # batch dims broadcast both ways: (2, 1) with (5,)
    ((4,), (4, 3)),                     # vector @ matrix
    ((3, 4), (4,)),                     # matrix @ vector
    ((4,), (4,)),                       # vector @ vector: a 0-d result
    ((4,), (2, 4, 3)),                  # vector @ batch of matrices
    ((2, 3, 4), (4,)),                  # batch of matrices @ vector
]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_matches_torch(shapes, backend, torch):
    check_op(torch, shapes, lambda a, b: a @ b)


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_in_float32_matches_torch(shapes, backend, torch):
    # float32's default tolerance (oracle.TOLERANCE) already allows for summation order
    check_op(torch, shapes, lambda a, b: a @ b, dtype="float32")


def test_matmul_function_is_the_operator(backend, torch):
    check_op(torch, [(2, 3, 4), (4, 2)], lambda a, b: torch.matmul(a, b), tinyattn.matmul)


def test_matmul_of_masks_is_refused_naming_matmul(backend):
    """PyTorch has no boolean matrix product ("addmm_impl_cpu_" not implemented for 'Bool')."""
    mask = tinyattn.tensor([[True, False]])
    with pytest.raises(TypeError, match="matmul: no matrix product of boolean tensors"):
        mask @ mask.T


def test_matmul_of_an_empty_batch_with_a_shared_weight_backpropagates(backend):
    """The backward folded the batch with reshape(-1, k): ambiguous, hence an error, for 0 rows."""
    x = tinyattn.zeros(1, 0, 0, dtype="float64", requires_grad=True)
    w = tinyattn.zeros(0, 2, dtype="float64", requires_grad=True)
    (x @ w).sum().backward()
    assert w.grad.shape == (0, 2) and x.grad.shape == (1, 0, 0)
