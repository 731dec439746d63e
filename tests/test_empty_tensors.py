"""Tensors with a zero-length axis give empty results of PyTorch's shapes, forward and backward,
in the default (fused) mode and in reference mode, rather than failing inside a kernel.

PyTorch 2.13 computes every case below: F.gelu, F.softmax and F.layer_norm of x with shape
(0, 4), (3, 0), (2, 0, 4) or (0,) return x's shape, x.grad has it too, and layer norm's weight
and bias get zero gradients; a decoder layer fed (B, 0) tokens gives (B, 0, d_model) with zero
gradients in every parameter.
"""
import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn import nn
from tinyattn.kernels.cache_blocking import row_chunks

EMPTY_SHAPES = [(0, 4), (3, 0), (2, 0, 4), (0,)]
MODES = pytest.mark.parametrize("reference", [False, True], ids=["fused", "reference"])


def _forward_backward(fn, shape):
    x = tinyattn.zeros(*shape, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return x, y


@MODES
@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_an_empty_tensor_is_empty_forward_and_backward(backend, reference, shape, approximate):
    with tinyattn.reference_mode(reference):
        x, y = _forward_backward(lambda x: F.gelu(x, approximate=approximate), shape)
    assert y.shape == shape and y.dtype == "float32"
    assert tuple(x.grad.shape) == shape


@MODES
@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_of_an_empty_tensor_is_empty_forward_and_backward(backend, reference, shape, axis):
    # torch.softmax(torch.zeros(3, 0), -1) has shape (3, 0): no max of an empty axis is needed
    with tinyattn.reference_mode(reference):
        x, y = _forward_backward(lambda x: F.softmax(x, axis), shape)
    assert y.shape == shape
    assert tuple(x.grad.shape) == shape


@MODES
@pytest.mark.parametrize("shape, axis", [((2, 0), -1), ((0, 3), 0), ((0,), 0), ((0, 3), -1)], ids=str)
def test_logsumexp_over_an_empty_axis_is_minus_inf_as_pytorch(backend, torch, reference, shape, axis):
    # torch.logsumexp(torch.zeros(2, 0), 1) is [-inf, -inf]: the log of an empty sum (0); over a
    # non-empty axis of an empty tensor, an empty result. Here it used to fail: a max of nothing.
    with tinyattn.reference_mode(reference):
        x, y = _forward_backward(lambda x: F.logsumexp(x, axis), shape)
    expected = torch.logsumexp(torch.zeros(*shape), axis)
    assert y.shape == tuple(expected.shape) and y.dtype == "float32"
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    assert tuple(x.grad.shape) == shape


# the reference layer norm averages rows of width 0 (the (3, 0) and (0,) cases): NumPy warns about
# the mean of an empty slice, whose nan never reaches the (empty) result
@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
@MODES
@pytest.mark.parametrize("shape", EMPTY_SHAPES, ids=str)
def test_layer_norm_of_an_empty_tensor_is_empty_with_zero_parameter_gradients(backend, reference, shape):
    weight = tinyattn.ones(shape[-1], requires_grad=True)
    bias = tinyattn.zeros(shape[-1], requires_grad=True)
    with tinyattn.reference_mode(reference):
        x, y = _forward_backward(lambda x: F.layer_norm(x, shape[-1], weight, bias), shape)
    assert y.shape == shape
    assert tuple(x.grad.shape) == shape
    for p in (weight, bias):
        np.testing.assert_array_equal(tinyattn.tensor(p.grad).numpy(), np.zeros(shape[-1]))


@MODES
def test_gpt_of_zero_tokens_gives_empty_logits_and_zero_gradients(backend, reference):
    tinyattn.manual_seed(0)
    model = nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=2, max_len=16)
    with tinyattn.reference_mode(reference):
        logits = model(tinyattn.zeros(2, 0, dtype="int64"))
        logits.sum().backward()
    assert logits.shape == (2, 0, 11)
    for name, p in model.named_parameters():
        assert p.grad is not None and tuple(p.grad.shape) == p.shape, name
        assert not np.any(tinyattn.tensor(p.grad).numpy()), name


@pytest.mark.parametrize("chunk_elements", [None, 4, 32768], ids=["whole (cupy)", "small", "numpy's"])
def test_row_chunks_of_zero_rows_is_one_empty_slice(chunk_elements):
    # chunk_elements=None (CuPy's setting) used to build range(0, 1, 0)
    assert row_chunks(0, 8, chunk_elements) == [slice(0, 0)]
    assert row_chunks(0, 0, chunk_elements) == [slice(0, 0)]


@pytest.mark.parametrize("chunk_elements", [None, 4])
def test_row_chunks_of_rows_of_zero_width_cover_every_row(chunk_elements):
    chunks = row_chunks(3, 0, chunk_elements)
    assert sum(c.stop - c.start for c in chunks) == 3


@pytest.mark.parametrize("shape", [(0, 3), (2, 0)], ids=["B = 0", "T = 0"])
def test_gpt_of_an_empty_batch_runs_with_whole_array_kernels_as_on_cupy(backend, monkeypatch, shape):
    # CuPy's backend sets chunk_elements=None: row_chunks then once built range(0, 1, 0) for zero rows
    monkeypatch.setattr(tinyattn.backend.get_backend(backend), "chunk_elements", None)
    model = nn.GPT(vocab_size=11, d_model=8, num_heads=2, num_layers=1, max_len=16)
    logits = model(tinyattn.zeros(*shape, dtype="int64"))
    logits.sum().backward()
    assert logits.shape == shape + (11,)
    assert tuple(model.token_embedding.weight.grad.shape) == (11, 8)
