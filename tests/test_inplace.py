"""In-place operators (+=, -=, *=, /=): the manual SGD step `p -= lr * p.grad` under no_grad().

As in PyTorch, they write into the tensor's own array (every reference sees the new values),
keep its shape and dtype, and refuse updates that autograd would need to see.
"""
import operator
import re

import numpy as np
import pytest

import tinyattn
import tinyattn.nn as nn

IN_PLACE = {"+=": (operator.iadd, operator.add), "-=": (operator.isub, operator.sub),
            "*=": (operator.imul, operator.mul), "/=": (operator.itruediv, operator.truediv)}


def train_linear(update, steps=20, lr=0.1):
    """Fit y = 2x0 - x1 + 0.5 with a Linear and a hand-written SGD `update(p, lr)`; the losses."""
    tinyattn.manual_seed(0)
    model = nn.Linear(2, 1)
    x = tinyattn.tensor(np.random.default_rng(0).normal(size=(16, 2)))
    y = x @ tinyattn.tensor([[2.0], [-1.0]]) + 0.5
    losses = []
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with tinyattn.no_grad():
            for p in model.parameters():
                update(p, lr)
        losses.append(loss.item())
    return losses, model


def subtract_in_place(p, lr):
    p -= lr * p.grad            # p.grad is a raw backend array


def assign_data(p, lr):
    p.data = p.data - lr * p.grad


def test_manual_sgd_with_minus_equals_trains_a_linear(backend):
    losses, _ = train_linear(subtract_in_place)
    assert losses[-1] < 0.2 * losses[0]


def test_manual_sgd_with_minus_equals_matches_assigning_data(backend):
    in_place, model = train_linear(subtract_in_place)
    assigned, reference = train_linear(assign_data)
    np.testing.assert_allclose(in_place, assigned, rtol=1e-6)
    np.testing.assert_allclose(model.weight.numpy(), reference.weight.numpy(), rtol=1e-6)


def test_the_update_reaches_the_module_s_own_parameter(backend):
    model = nn.Linear(2, 1)
    weight, before = model.weight, model.weight.numpy().copy()
    p = next(iter(model.parameters()))
    with tinyattn.no_grad():
        p -= 1.0
    assert model.weight is weight
    np.testing.assert_allclose(model.weight.numpy(), before - 1.0)


@pytest.mark.parametrize("symbol", list(IN_PLACE))
@pytest.mark.parametrize("operand", ["tensor", "broadcast row", "number", "array", "float64 tensor"])
def test_in_place_operator_matches_the_out_of_place_one_and_keeps_the_tensor(symbol, operand, backend):
    in_place, out_of_place = IN_PLACE[symbol]
    x = tinyattn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    other = {"tensor": tinyattn.tensor([[2.0, 4.0, 8.0], [0.5, 1.0, 2.0]]),
             "broadcast row": tinyattn.tensor([2.0, 4.0, 8.0]),
             "number": 2.0,
             "array": tinyattn.tensor([2.0, 4.0, 8.0]).data,
             "float64 tensor": tinyattn.tensor([2.0, 4.0, 8.0], dtype="float64")}[operand]
    expected = out_of_place(x, other).numpy().astype(np.float32)
    original = x
    x = in_place(x, other)
    assert x is original
    assert x.shape == (2, 3) and x.dtype == "float32" and x.backend.name == backend
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)


def test_in_place_update_is_seen_through_every_reference(backend):
    x = tinyattn.zeros(3)
    alias = x
    x += 1.0
    np.testing.assert_array_equal(alias.numpy(), [1.0, 1.0, 1.0])


def test_integer_tensor_updates_with_integers_in_place(backend):
    i = tinyattn.arange(3)
    counter = i
    i += 1
    i *= 2
    assert i is counter and i.dtype == "int64"
    np.testing.assert_array_equal(i.numpy(), [2, 4, 6])


@pytest.mark.parametrize("symbol", list(IN_PLACE))
def test_updating_a_tensor_that_requires_grad_in_grad_mode_is_refused(symbol, backend):
    x = tinyattn.ones(3, requires_grad=True)
    expected = rf"{re.escape(symbol)}: .*invisible to backward.*tinyattn.no_grad\(\)"
    with pytest.raises(RuntimeError, match=expected):
        IN_PLACE[symbol][0](x, 2.0)
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0, 1.0])


def test_updating_with_an_operand_that_requires_grad_in_grad_mode_is_refused(backend):
    x = tinyattn.ones(3)
    with pytest.raises(RuntimeError, match=r"-=: .*invisible to backward.*`x = x - y`"):
        x -= tinyattn.ones(3, requires_grad=True)


def test_a_result_bigger_than_the_tensor_is_refused(backend):
    x = tinyattn.ones(3)
    with pytest.raises(ValueError, match=r"\+=: the result has shape \(2, 3\), which does not fit .*\(3,\)"):
        x += tinyattn.ones(2, 3)


def test_shapes_that_do_not_broadcast_name_the_operator(backend):
    x = tinyattn.ones(3)
    with pytest.raises(ValueError, match=r"\*=: shapes \(3,\) and \(4,\) cannot be broadcast"):
        x *= tinyattn.ones(4)


@pytest.mark.parametrize("update", ["i += 0.5", "i -= float tensor", "i /= 2"])
def test_an_integer_tensor_cannot_take_a_float_result(update, backend):
    i = tinyattn.arange(3)
    with pytest.raises(TypeError, match=r"result type float32 can't be cast to int64"):
        if update == "i += 0.5":
            i += 0.5
        elif update == "i -= float tensor":
            i -= tinyattn.ones(3)
        else:
            i /= 2
    np.testing.assert_array_equal(i.numpy(), [0, 1, 2])


def test_arithmetic_on_a_boolean_mask_is_refused(backend):
    mask = tinyattn.ones(3) > 0
    with pytest.raises(TypeError, match=r"\+=: arithmetic on a boolean tensor"):
        mask += 1


def test_a_0d_result_of_an_op_updates_in_place(backend):
    total = tinyattn.ones(3).sum()          # NumPy gives a 0-d result as an immutable scalar
    alias = total
    total += 1.0
    total *= 2.0
    assert total is alias and total.shape == () and total.item() == 8.0
