"""PyTorch code from a book or an article runs on tinyattn by changing only the imports.

`build_model(torch, nn, F)` is written the way PyTorch tutorials write a small language model
(nanoGPT's "Let's build GPT" head, the Annotated Transformer's positional encoding). It runs
once with PyTorch and once with tinyattn; with the same weights, the two give the same numbers.
"""
import math

import numpy as np
import pytest

import tinyattn
import tinyattn.functional as tF
import tinyattn.nn as tnn


def build_model(torch, nn, F, vocab=11, d=16, block=8):
    class PositionalEncoding(nn.Module):                      # the Annotated Transformer's
        def __init__(self, d_model, max_len):
            super().__init__()
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe.unsqueeze(0))

        def forward(self, x):
            return x + self.pe[:, : x.size(1)]

    class Head(nn.Module):                                    # nanoGPT's lecture version
        def __init__(self, head_size):
            super().__init__()
            self.key = nn.Linear(d, head_size, bias=False)
            self.query = nn.Linear(d, head_size, bias=False)
            self.value = nn.Linear(d, head_size, bias=False)
            self.register_buffer("tril", torch.tril(torch.ones(block, block)))
            self.dropout = nn.Dropout(0.0)

        def forward(self, x):
            B, T, C = x.shape
            k, q = self.key(x), self.query(x)
            wei = q @ k.transpose(-2, -1) * k.size(-1) ** -0.5
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
            wei = self.dropout(F.softmax(wei, dim=-1))
            return wei @ self.value(x)

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = nn.Embedding(vocab, d)
            self.position = PositionalEncoding(d, block)
            self.heads = nn.ModuleList([Head(d // 2), Head(d // 2)])
            self.ffwd = nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.Linear(4 * d, d))
            self.ln = nn.LayerNorm(d)
            self.lm_head = nn.Linear(d, vocab)

        def forward(self, idx, targets=None):
            x = self.position(self.token_embedding(idx))
            x = x + torch.cat([h(x) for h in self.heads], dim=-1)
            x = x + self.ffwd(self.ln(x))
            logits = self.lm_head(x)
            if targets is None:
                return logits, None
            B, T, C = logits.shape
            loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
            return logits, loss

    return TinyLM()


def test_the_same_pytorch_code_gives_the_same_loss_and_gradients(torch):
    theirs = build_model(torch, torch.nn, torch.nn.functional)
    ours = build_model(tinyattn, tnn, tF)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    idx, targets = rng.integers(0, 11, size=(2, 2, 8))

    t_logits, t_loss = theirs(torch.tensor(idx), torch.tensor(targets))
    t_loss.backward()
    o_logits, o_loss = ours(tinyattn.tensor(idx), tinyattn.tensor(targets))
    o_loss.backward()

    # float32 through a dozen layers: differences of a few ulps, amplified by softmax and exp
    assert abs(o_loss.item() - t_loss.item()) <= 1e-5 * abs(t_loss.item())
    np.testing.assert_allclose(o_logits.numpy(), t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.backend.to_numpy(p.grad), grads[name].grad.numpy(),
                                   rtol=1e-4, atol=1e-5, err_msg=name)


def test_the_common_idioms_work_on_every_backend(backend):
    x = tinyattn.arange(6, dtype=tinyattn.float).view(2, 3)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.transpose(0, 1).contiguous().shape == (3, 2)
    assert x.sum(dim=1, keepdim=True).shape == (2, 1) and x.unsqueeze(0).shape == (1, 2, 3)
    assert (tinyattn.arange(4) * 0.5).dtype == tinyattn.float32           # int * float -> float32
    assert tinyattn.arange(3).float().dtype == tinyattn.float32
    with tinyattn.no_grad():
        y = tinyattn.matmul(x, x.t())
    assert not y.requires_grad and y.shape == (2, 2)
    logits = tinyattn.randn(4, 5, requires_grad=True)
    loss = tnn.CrossEntropyLoss()(logits, tinyattn.tensor([0, 1, 2, 3]))
    values = logits.numpy().astype(np.float64)
    log_probs = values - np.log(np.exp(values).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(4), [0, 1, 2, 3]].mean()
    assert isinstance(loss.item(), float) and abs(loss.item() - expected) < 1e-6 * abs(expected)


def test_tril_triu_and_masked_fill_match_pytorch(torch):
    values = np.arange(12.0).reshape(3, 4)
    for k in (-1, 0, 1):
        np.testing.assert_array_equal(tinyattn.tril(tinyattn.tensor(values), k).numpy(),
                                      torch.tril(torch.tensor(values), k).numpy())
        np.testing.assert_array_equal(tinyattn.triu(tinyattn.tensor(values), k).numpy(),
                                      torch.triu(torch.tensor(values), k).numpy())
    mask = values > 5
    np.testing.assert_array_equal(
        tinyattn.tensor(values).masked_fill(tinyattn.tensor(mask), -1.0).numpy(),
        torch.tensor(values).masked_fill(torch.tensor(mask), -1.0).numpy())


def test_to_device_names_from_pytorch_code():
    assert tinyattn.ones(2).to("cpu").backend.name == "numpy"


def test_masks_combine_with_and_or_not(backend):
    causal = tinyattn.causal_mask(3)
    padding = tinyattn.tensor([True, True, False])
    np.testing.assert_array_equal((causal & padding).numpy(), np.tril(np.ones((3, 3), bool)) & [1, 1, 0])
    np.testing.assert_array_equal((~causal | padding).numpy(), ~np.tril(np.ones((3, 3), bool)) | [1, 1, 0])


def test_tensor_copies_its_data_as_torch_tensor(backend):
    host = np.arange(3.0)
    t = tinyattn.tensor(host, dtype="float64")
    t[0] = 99.0
    assert host[0] == 0.0
    source = tinyattn.ones(2)
    copy = tinyattn.tensor(source.data)
    copy[0] = 5.0
    assert source.numpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("value, dtype", [(3, None), (True, None), (0.5, None), (2.7, "int64"),
                                          (-2.7, "int64"), (1, "float64")])
def test_full_takes_its_dtype_from_the_value_as_torch(backend, torch, value, dtype):
    ours = tinyattn.full((2, 3), value, dtype=dtype)
    theirs = torch.full((2, 3), value, dtype=getattr(torch, dtype) if dtype else None)
    assert ours.dtype == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_tensor_of_a_list_of_0d_tensors_as_torch(backend, torch):
    parts = [tinyattn.tensor(1.5), tinyattn.tensor(2.0)]
    ours = tinyattn.tensor(parts)
    theirs = torch.tensor([torch.tensor(1.5), torch.tensor(2.0)])
    assert ours.dtype == "float32" and ours.numpy().tolist() == theirs.tolist()


@pytest.mark.parametrize("data", [2 ** 70, [object()]], ids=["beyond int64", "an object"])
def test_data_that_is_not_numeric_is_refused_when_made(data):
    # it used to build a tensor of objects, which failed later on repr or in an op
    with pytest.raises(TypeError, match="tensor: cannot make a numeric array"):
        tinyattn.tensor(data)


def test_a_function_decorated_with_no_grad_may_call_itself():
    """Each call restores the mode it found, so the outer call's exit restores grad mode on."""
    @tinyattn.no_grad()
    def depth(n):
        assert not tinyattn.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert tinyattn.is_grad_enabled()
