"""Module and Parameter: how a model keeps, names, saves, loads and moves its weights, and the
errors a wrong call gets."""
import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn import nn


class TiedPair(nn.Module):
    """Two layers sharing one weight matrix, as a language model's embedding and head."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 3)
        self.second = nn.Linear(3, 3)
        self.second.weight = self.first.weight

    def forward(self, x):
        return self.second(self.first(x))


class Counter(nn.Module):
    """A layer with a persistent buffer (a scale it uses) and a non-persistent one."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("scale", tinyattn.full((2,), 3.0))
        self.register_buffer("scratch", tinyattn.zeros(2), persistent=False)

    def forward(self, x):
        return self.linear(x) * self.scale


def _model():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _values(module):
    return {name: p.numpy().copy() for name, p in module.state_dict().items()}


def _other_backend(backend):
    return "numpy" if backend != "numpy" else "array_api_strict"


# -- parameters ----------------------------------------------------------------------------------
def test_parameters_come_in_registration_order():
    layer = nn.TransformerEncoderLayer(4, 2, 8)
    names = [name for name, _ in layer.named_parameters()]
    assert names[:4] == ["self_attn.q_proj.weight", "self_attn.q_proj.bias",
                         "self_attn.k_proj.weight", "self_attn.k_proj.bias"]
    assert names[-4:] == ["norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    assert [id(p) for p in layer.parameters()] == [id(p) for _, p in layer.named_parameters()]


def test_parameter_order_is_the_same_in_every_instance():
    first, second = nn.GPT(11, 8, 2, 2, 6), nn.GPT(11, 8, 2, 2, 6)
    assert [n for n, _ in first.named_parameters()] == [n for n, _ in second.named_parameters()]


def test_a_tied_parameter_appears_once():
    model = TiedPair()
    assert [name for name, _ in model.named_parameters()] == ["first.weight", "first.bias", "second.bias"]
    gpt = nn.GPT(11, 8, 2, 1, 6)
    assert sum(p is gpt.token_embedding.weight for p in gpt.parameters()) == 1


def test_a_tied_parameter_collects_the_gradient_of_both_uses():
    model = TiedPair()
    x = tinyattn.randn(5, 3)
    model(x).sum().backward()
    w1, b1, w2 = model.first.weight, model.first.bias, model.second.weight
    h, upstream = x @ w1.T + b1, tinyattn.ones(5, 3)
    # y = h W^T + b2 with h = x W^T + b: the second use gives upstream^T h, the first
    # (upstream W)^T x, and the one shared weight holds their sum
    expected = upstream.T @ h + (upstream @ w2).T @ x
    np.testing.assert_allclose(w1.backend.to_numpy(w1.grad), expected.numpy(), rtol=1e-5)


def test_state_dict_has_tied_weights_under_both_names_as_pytorch():
    state = TiedPair().state_dict()
    assert list(state) == ["first.weight", "first.bias", "second.weight", "second.bias"]
    np.testing.assert_array_equal(state["first.weight"].numpy(), state["second.weight"].numpy())


# -- loading ---------------------------------------------------------------------------------------
def test_strict_load_reports_missing_unexpected_and_misshaped_keys_in_one_error():
    state = _model().state_dict()
    del state["0.bias"]
    state["extra.weight"] = np.zeros(2)
    state["2.weight"] = np.zeros((3, 3))
    with pytest.raises(RuntimeError) as error:
        _model().load_state_dict(state)
    message = str(error.value)
    assert "missing keys: 0.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "2.weight: checkpoint (3, 3), model (2, 4)" in message


def test_non_strict_load_skips_missing_and_unexpected_keys_but_not_wrong_shapes():
    model = _model()
    model.load_state_dict({"0.bias": np.ones(4), "extra": np.ones(1)}, strict=False)
    np.testing.assert_array_equal(model[0].bias.numpy(), np.ones(4))
    with pytest.raises(RuntimeError, match="0.bias: checkpoint"):
        model.load_state_dict({"0.bias": np.ones(5)}, strict=False)


def test_load_returns_the_missing_and_unexpected_keys_as_pytorch():
    model = _model()
    missing, unexpected = model.load_state_dict({"0.bias": np.ones(4), "extra": np.ones(1)}, strict=False)
    assert missing == ["0.weight", "2.weight", "2.bias"] and unexpected == ["extra"]
    result = model.load_state_dict(model.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_a_module_shared_under_two_names_is_saved_under_both_as_pytorch():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a

    model = Shared()
    assert list(model.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert len(list(model.parameters())) == 2                   # still updated once
    twin = Shared()
    twin.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(twin.b.weight.numpy(), model.a.weight.numpy())


def test_a_failed_load_leaves_the_model_unchanged():
    model = _model()
    before = _values(model)
    state = {name: value + 1.0 for name, value in before.items()}   # every key good but one
    state["2.bias"] = np.zeros(7)
    with pytest.raises(RuntimeError):
        model.load_state_dict(state)
    for name, value in _values(model).items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("source", ["numpy arrays", "tensors", "arrays of another backend"])
def test_load_accepts_numpy_arrays_tensors_and_other_backends(backend, source):
    model = _model()
    rng = np.random.default_rng(0)
    values = {name: rng.standard_normal(p.shape) for name, p in model.state_dict().items()}  # float64
    if source == "tensors":
        state = {name: tinyattn.tensor(v) for name, v in values.items()}
    elif source == "arrays of another backend":
        state = {name: tinyattn.tensor(v, backend=_other_backend(backend)).data for name, v in values.items()}
    else:
        state = values
    model.load_state_dict(state)
    for name, p in model.state_dict().items():
        assert p.backend.name == backend and p.dtype == "float32"           # the model's, not the source's
        np.testing.assert_allclose(p.numpy(), values[name], rtol=1e-7)


def test_load_copies_so_the_model_does_not_alias_its_source(backend):
    source, model = _model(), _model()
    model.load_state_dict(source.state_dict())                         # tensors sharing source's arrays
    loaded = _values(model)
    for p in source.parameters():
        p.detach()[:] = 0.0                                            # write into source's arrays
    for name, value in _values(model).items():
        np.testing.assert_array_equal(value, loaded[name])


def test_load_keeps_the_parameter_objects(backend):
    model = _model()
    params = list(model.parameters())
    model.load_state_dict(_model().state_dict())
    assert all(a is b for a, b in zip(params, model.parameters()))


# -- modes, gradients, moving --------------------------------------------------------------------
def test_train_and_eval_recurse_and_switch_dropout(backend):
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5)))
    x = tinyattn.ones(50, 4)
    model.eval()
    assert not any(m.training for m in model.modules())
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())
    model.train()
    assert all(m.training for m in model.modules())
    dropped = model(x).numpy() == 0
    assert 0.3 < dropped.mean() < 0.7


def test_zero_grad_clears_every_gradient(backend):
    model = _model()
    model(tinyattn.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_moves_parameters_and_buffers_and_keeps_parameter_identity():
    model = Counter()
    params = list(model.parameters())
    model.to("array_api_strict")
    assert all(a is b for a, b in zip(params, model.parameters()))
    assert {t.backend.name for t in [*model.parameters(), model.scale, model.scratch]} == {"array_api_strict"}
    out = model(tinyattn.ones(1, 2, backend="array_api_strict"))
    assert out.backend.name == "array_api_strict"
    model.to("numpy")
    assert model.scale.backend.name == "numpy" and params[0].backend.name == "numpy"


def test_to_moves_the_gradients_with_the_parameters():
    # an optimiser stepping after `to` must still see the gradients of the backward before it
    model = Counter()
    model(tinyattn.randn(4, 2)).sum().backward()
    grad = model.linear.weight.backend.to_numpy(model.linear.weight.grad)
    model.to("float64")
    assert tinyattn.Tensor(model.linear.weight.grad).dtype == "float64"
    model.to("array_api_strict")
    moved = model.linear.weight.grad
    assert model.linear.weight.backend.to_numpy(moved).dtype == np.float64
    np.testing.assert_allclose(model.linear.weight.backend.to_numpy(moved), grad, rtol=1e-7)


def test_to_a_dtype_casts_floating_state_only():
    model = Counter()
    model.register_buffer("ids", tinyattn.arange(3))
    model.to("float64")
    assert model.linear.weight.dtype == model.scale.dtype == "float64"
    assert model.ids.dtype == "int64"


# -- buffers -------------------------------------------------------------------------------------
def test_persistent_buffers_are_saved_and_loaded_others_not():
    model = Counter()
    assert list(model.state_dict()) == ["scale", "linear.weight", "linear.bias"]   # own state first, as torch
    state = model.state_dict()
    state["scale"] = np.full(2, 5.0)
    model.load_state_dict(state)
    np.testing.assert_array_equal(model.scale.numpy(), [5.0, 5.0])


class Steps(nn.Module):
    """A module with an integer buffer, as a step counter or token ids kept with a model."""

    def __init__(self):
        super().__init__()
        self.register_buffer("steps", tinyattn.zeros(3, dtype="int64"))


# PyTorch 2.13's load_state_dict copies with casting, measured: float [1.7, -2.5, 3.0] into a long
# buffer becomes [1, -2, 3] and nan becomes -2**63, silently. Here whole numbers load as there, and
# anything else is refused, naming the key: a checkpoint's numbers must arrive as they were saved.
@pytest.mark.parametrize("values, shown", [
    ([1.7, -2.5, 3.0], "1.7"), ([np.nan, 1.0, 2.0], "nan"), ([1e30, 1.0, 2.0], "1e\\+30"),
], ids=["fractions", "nan", "too large"])
def test_floats_that_are_not_whole_numbers_are_refused_by_an_integer_buffer(backend, torch, values, shown):
    model = Steps()
    with pytest.raises(RuntimeError, match=r"load_state_dict into Steps: floats that an integer tensor "
                                           rf"cannot hold: steps: float64 values such as {shown} are not "
                                           "whole numbers an int64 tensor holds"):
        model.load_state_dict({"steps": np.array(values)})
    np.testing.assert_array_equal(model.steps.numpy(), [0, 0, 0])      # nothing loaded
    theirs = torch.nn.Module()
    theirs.register_buffer("steps", torch.zeros(3, dtype=torch.long))
    theirs.load_state_dict({"steps": torch.tensor([1.7, -2.5, 3.0])})
    assert theirs.steps.tolist() == [1, -2, 3]                           # what PyTorch does instead


@pytest.mark.parametrize("values", [np.array([1.0, -2.0, 3.0]), np.array([1, -2, 3], np.int32),
                                    np.array([True, False, True])], ids=["whole floats", "int32", "bool"])
def test_whole_floats_and_other_integers_load_into_an_integer_buffer_as_pytorch(backend, values):
    model = Steps()
    model.load_state_dict({"steps": values})
    assert model.steps.dtype == "int64"
    np.testing.assert_array_equal(model.steps.numpy(), values.astype(np.int64))


def test_buffers_are_not_parameters_and_get_no_gradient(backend):
    model = Counter()
    assert all(p is not model.scale for p in model.parameters())
    model(tinyattn.randn(4, 2)).sum().backward()
    assert model.scale.grad is None and not model.scale.requires_grad
    assert model.linear.weight.grad is not None


def test_assigning_to_a_buffer_name_updates_the_buffer():
    model = Counter()
    model.scale = model.scale * 2.0
    assert "scale" in model.state_dict() and "scale" in dict(model.named_buffers())
    np.testing.assert_array_equal(model.state_dict()["scale"].numpy(), [6.0, 6.0])


@pytest.mark.parametrize("name, value, kind", [
    ("weight", lambda: tinyattn.zeros(3, 2), "parameter 'weight' \\(nn.Parameter or None expected\\)"),
    ("scale", lambda: np.ones(2), "buffer 'scale' \\(a Tensor or None expected\\)"),
])
def test_a_registered_name_refuses_a_value_of_another_kind_as_pytorch(name, value, kind):
    # a plain tensor in a parameter's place would silently leave parameters() and the optimiser
    model = Counter()
    owner = model.linear if name == "weight" else model
    with pytest.raises(TypeError, match=f"cannot assign .* as {kind}"):
        setattr(owner, name, value())
    assert [n for n, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert "scale" in model.state_dict()


def test_train_takes_only_a_boolean():
    with pytest.raises(ValueError, match="mode must be True or False, got 'False'"):
        _model().train("False")


# -- printing and containers ---------------------------------------------------------------------
def test_repr_shows_the_layers_and_the_parameter_count():
    text = repr(_model())
    assert "(0): Linear(in_features=3, out_features=4, bias=True)" in text
    assert "26 parameters" in text                        # 3*4 + 4 + 4*2 + 2
    gpt = nn.GPT(50, 16, 2, 2, 8)
    assert f"{gpt.num_parameters():,} parameters" in repr(gpt)


def test_sequential_applies_its_modules_in_order(backend):
    model = _model()
    x = tinyattn.randn(5, 3)
    expected = model[2](F.relu(model[0](x)))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())
    assert len(model) == 3 and isinstance(list(model)[1], nn.ReLU)


def test_module_list_registers_its_modules_parameters():
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))

    stack = Stack()
    assert len(stack.layers) == 3 and stack.layers[2] is list(stack.layers)[2]
    assert [n for n, _ in stack.named_parameters()][-2:] == ["layers.2.weight", "layers.2.bias"]


@pytest.mark.parametrize("build", [lambda: nn.Sequential(nn.Linear(2, 3), F.relu),
                                   lambda: nn.Sequential([nn.Linear(2, 3)]),
                                   lambda: nn.ModuleList().append(lambda x: x)],
                         ids=["a function", "a list", "a lambda appended"])
def test_containers_refuse_what_is_not_a_module(build):
    # silently dropped, the function would leave a different network with no error
    with pytest.raises(TypeError, match="is not a Module"):
        build()


def test_cross_entropy_loss_module_matches_torch(torch, backend):
    logits = np.random.default_rng(0).standard_normal((6, 5))
    target = np.array([1, 0, 4, 2, 2, 3])
    ours = nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1)(tinyattn.tensor(logits),
                                                                    tinyattn.tensor(target))
    theirs = torch.nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1)(torch.tensor(logits),
                                                                            torch.tensor(target))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-6)   # float32 ours, float64 theirs


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [[1, 7], [-1, 2]], ids=["too large", "negative"])
def test_embedding_index_out_of_range_is_a_clear_error(backend, index):
    with pytest.raises(IndexError, match=r"Embedding\(5, 3\).*(7|-1)"):
        nn.Embedding(5, 3)(tinyattn.tensor(index))


def test_d_model_not_divisible_by_num_heads_is_a_clear_error():
    with pytest.raises(ValueError, match="d_model 10 is not divisible by num_heads 3"):
        nn.MultiHeadAttention(10, 3)


def test_attention_mask_of_the_wrong_shape_is_a_clear_error(backend):
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4\) does not broadcast"):
        nn.MultiHeadAttention(8, 2)(tinyattn.randn(2, 3, 8), mask=tinyattn.ones(3, 4, dtype="bool"))


def test_attention_mask_that_is_not_boolean_is_a_clear_error(backend):
    with pytest.raises(TypeError, match="mask must be boolean"):
        nn.MultiHeadAttention(8, 2)(tinyattn.randn(2, 3, 8), mask=tinyattn.ones(3, 3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_loss_module_backward_matches_torch(torch, backend, reduction):
    """Forward and the gradient of the logits, in float64 both sides (same formula, another
    order of float64 sums: a few ulps), with an ignored position and label smoothing."""
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((6, 5)), np.array([1, 0, 4, 2, 2, 3])
    upstream = rng.standard_normal(6) if reduction == "none" else np.array(1.7)
    ours_in = tinyattn.tensor(logits, dtype="float64", requires_grad=True)
    ours = nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1, reduction=reduction)(
        ours_in, tinyattn.tensor(target))
    ours.backward(tinyattn.tensor(upstream, dtype="float64"))
    theirs_in = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1, reduction=reduction)(
        theirs_in, torch.tensor(target))
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours_in.backend.to_numpy(ours_in.grad), theirs_in.grad.numpy(),
                               rtol=1e-12, atol=1e-14)
