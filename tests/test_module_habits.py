"""Module methods a PyTorch user reaches for: zero_grad(set_to_none), recurse/prefix, buffers,
named_children, apply, requires_grad_, and list-like ModuleList / Sequential."""
import numpy as np
import pytest

import tinyattn
from tinyattn import nn


class Block(nn.Module):
    """A layer with a child, its own parameter and a buffer: enough to tell the walks apart."""

    def __init__(self, lib=nn):
        super().__init__()
        self.proj = lib.Linear(3, 3)
        self.scale = lib.Parameter(tinyattn.ones(3) if lib is nn else _torch().ones(3))
        self.register_buffer("steps", tinyattn.zeros(1) if lib is nn else _torch().zeros(1))

    def forward(self, x):
        return self.proj(x) * self.scale


def _torch():
    import torch
    return torch


def _torch_block(torch):
    # the same shape of tree in PyTorch, built without our Module
    block = torch.nn.Module()
    block.proj = torch.nn.Linear(3, 3)
    block.scale = torch.nn.Parameter(torch.ones(3))
    block.register_buffer("steps", torch.zeros(1))
    return block


def _model():
    model = nn.Sequential(nn.Linear(2, 3), Block(), nn.ReLU())
    model[1](tinyattn.ones(1, 3))       # sanity: the block runs
    return model


def _torch_model(torch):
    return torch.nn.Sequential(torch.nn.Linear(2, 3), _torch_block(torch), torch.nn.ReLU())


def _grads(model):
    x = tinyattn.tensor(np.ones((4, 2), dtype="float32"))
    model(x).sum().backward()


def test_zero_grad_set_to_none_false_keeps_zero_arrays_of_the_same_shape_and_dtype(backend):
    model = _model()
    _grads(model)
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad is not None and tuple(p.grad.shape) == p.shape
        assert p.grad.dtype == p.data.dtype
        np.testing.assert_array_equal(tinyattn.Tensor._make(p.grad, False, None).numpy(), 0.0)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_named_parameters_takes_a_prefix_and_recurse_as_pytorch(torch):
    ours, theirs = _model(), _torch_model(torch)
    for kwargs in ({}, {"prefix": "net"}, {"recurse": False}):
        assert [n for n, _ in ours.named_parameters(**kwargs)] == \
            [n for n, _ in theirs.named_parameters(**kwargs)], kwargs
    assert [n for n, _ in ours[1].named_parameters(recurse=False)] == ["scale"]
    assert len(list(ours[1].parameters(recurse=False))) == 1
    assert len(list(ours[1].parameters())) == 3


def test_buffers_and_named_buffers_as_pytorch(torch):
    ours, theirs = _model(), _torch_model(torch)
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["1.steps"]
    assert [n for n, _ in ours.named_buffers(prefix="m")] == ["m.1.steps"]
    assert list(ours.buffers(recurse=False)) == []
    assert [b.shape for b in ours.buffers()] == [(1,)]


def test_named_children_lists_direct_children_once(torch):
    ours, theirs = _model(), _torch_model(torch)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    shared = nn.Linear(2, 2)
    twice = nn.ModuleList([shared, shared])
    assert [n for n, _ in twice.named_children()] == ["0"]
    assert list(twice.children()) == [shared]


def test_apply_visits_children_first_and_returns_self(torch):
    ours, theirs = _model(), _torch_model(torch)
    our_order, their_order = [], []
    assert ours.apply(lambda m: our_order.append(type(m).__name__)) is ours
    theirs.apply(lambda m: their_order.append(type(m).__name__))
    their_order = ["Block" if name == "Module" else name for name in their_order]
    assert our_order == their_order == ["Linear", "Linear", "Block", "ReLU", "Sequential"]


def test_apply_can_initialise_weights_by_layer_type(backend):
    def init(m):
        if isinstance(m, nn.Linear):
            m.weight.data = m.weight.backend.xp.zeros_like(m.weight.data)
    model = _model().apply(init)
    for weight in (model[0].weight, model[1].proj.weight):
        np.testing.assert_array_equal(weight.numpy(), 0.0)
    assert float(model[1].scale.sum()) == 3.0           # not a Linear: left alone


def test_requires_grad_false_freezes_every_parameter(backend):
    model = _model()
    assert model[1].requires_grad_(False) is model[1]
    _grads(model)
    assert all(p.grad is None for p in model[1].parameters())
    assert model[0].weight.grad is not None
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_module_list_extend_insert_and_setitem_renumber_as_pytorch(torch):
    ours = nn.ModuleList([nn.Linear(1, 1)]).extend([nn.ReLU(), nn.GELU()])
    theirs = torch.nn.ModuleList([torch.nn.Linear(1, 1)]).extend([torch.nn.ReLU(), torch.nn.GELU()])
    ours.insert(1, nn.Linear(1, 2))
    theirs.insert(1, torch.nn.Linear(1, 2))
    ours[-1] = nn.Linear(2, 1)
    theirs[-1] = torch.nn.Linear(2, 1)
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours[3].weight.shape == (1, 2)


def test_module_list_setitem_and_insert_refuse_non_modules_and_bad_indices():
    layers = nn.ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="function is not a Module"):
        layers[0] = tinyattn.functional.relu
    with pytest.raises(TypeError, match="function is not a Module"):
        layers.insert(0, tinyattn.functional.relu)
    with pytest.raises(IndexError, match="index 1 is out of range for length 1"):
        layers[1] = nn.ReLU()
    with pytest.raises(TypeError, match="indices must be integers or slices, not str"):
        layers["0"]


def test_slices_are_containers_of_the_same_modules_as_pytorch(torch):
    ours = nn.ModuleList([nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 2)])
    part = ours[1:]
    assert type(part) is nn.ModuleList and list(part) == list(ours)[1:]
    assert list(part.state_dict()) == list(torch.nn.ModuleList(
        [torch.nn.Linear(1, 1), torch.nn.ReLU(), torch.nn.Linear(1, 2)])[1:].state_dict())

    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    their_seq = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    head = seq[1:]
    assert type(head) is nn.Sequential and head[-1] is seq[2]
    assert list(head.state_dict()) == list(their_seq[1:].state_dict()) == ["2.weight", "2.bias"]
    x = tinyattn.ones(4, 3)
    np.testing.assert_array_equal(head(x).numpy(), seq[2](seq[1](x)).numpy())


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient_as_pytorch(torch, backend):
    layer = nn.Embedding(6, 4, padding_idx=-2)
    assert layer.padding_idx == 4 and "padding_idx=4" in repr(layer)
    np.testing.assert_array_equal(layer.weight.numpy()[4], 0.0)
    layer.weight.data[4, ...] = 1.5             # a set padding row is read as it is, as PyTorch
    twin = torch.nn.Embedding(6, 4, padding_idx=-2)
    with torch.no_grad():
        twin.weight.copy_(torch.tensor(layer.weight.numpy()))
    index = np.array([[1, 4, 4], [0, 4, 5]])
    upstream = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    out, their_out = layer(tinyattn.tensor(index)), twin(torch.tensor(index))
    (out * tinyattn.tensor(upstream)).sum().backward()
    (their_out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), their_out.detach().numpy())
    grad = tinyattn.Tensor._make(layer.weight.grad, False, None).numpy()
    np.testing.assert_allclose(grad, twin.weight.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(grad[4], 0.0)


def test_embedding_padding_idx_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="padding_idx 6 is out of range for num_embeddings=6"):
        nn.Embedding(6, 4, padding_idx=6)
