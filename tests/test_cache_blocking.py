"""Cache blocking (kernels/cache_blocking.py) changes where a chain runs, not what it computes."""
import numpy as np
import pytest

import tinyattn
import tinyattn.functional as F
from tinyattn.kernels.cache_blocking import row_chunks


@pytest.fixture(autouse=True)
def fused_paths():
    """These tests are about the chunked kernels under the fused paths: they run in the default
    mode also when the suite runs in reference mode, where the kernels would not run at all."""
    with tinyattn.reference_mode(False):
        yield


@pytest.mark.parametrize("rows, width, size", [(10, 3, 7), (10, 3, 1), (1, 5, 4), (0, 4, 8), (9, 2, None)])
def test_row_chunks_cover_every_row_once(rows, width, size):
    covered = [i for chunk in row_chunks(rows, width, size) for i in range(rows)[chunk]]
    assert covered == list(range(rows))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_blocked_gelu_equals_the_whole_array_version(backend, monkeypatch, approximate):
    """Blocks of 2 rows against one block: elementwise work is the same per element, so the two
    agree exactly, forward and backward."""
    rng = np.random.default_rng(0)
    x_values, g_values = rng.standard_normal((2, 9, 4)), rng.standard_normal((2, 9, 4))
    results = []
    for size in (8, None):
        monkeypatch.setattr(tinyattn.get_backend(), "chunk_elements", size)
        x = tinyattn.tensor(x_values, dtype="float32", requires_grad=True)
        y = F.gelu(x, approximate=approximate)
        y.backward(tinyattn.tensor(g_values, dtype="float32"))
        results.append((y.numpy(), x.backend.to_numpy(x.grad)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_blocked_layer_norm_equals_the_whole_array_version(backend, monkeypatch):
    """Blocks of 2 rows against one block, normalising over the last two axes. The weight and
    bias gradients are summed block by block, in another order: float64 rounding only."""
    rng = np.random.default_rng(0)
    x_values, g_values = rng.standard_normal((7, 3, 4)), rng.standard_normal((7, 3, 4))
    weight = rng.standard_normal((3, 4)) + 1.0
    results = []
    for size in (24, None):
        monkeypatch.setattr(tinyattn.get_backend(), "chunk_elements", size)
        norm = tinyattn.nn.LayerNorm((3, 4), dtype="float64")
        norm.weight.data = tinyattn.tensor(weight, dtype="float64").data
        x = tinyattn.tensor(x_values, dtype="float64", requires_grad=True)
        y = norm(x)
        y.backward(tinyattn.tensor(g_values, dtype="float64"))
        grads = [x.grad, norm.weight.grad, norm.bias.grad]
        results.append([y.numpy()] + [x.backend.to_numpy(g) for g in grads])
    for blocked, whole in zip(*results):
        np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-14)


def test_blocked_fused_attention_equals_the_readable_path(backend, monkeypatch):
    """The fused causal self-attention in blocks of one batch entry, against the readable path."""
    monkeypatch.setattr(tinyattn.get_backend(), "chunk_elements", 2 * 5 * 5)
    tinyattn.manual_seed(0)
    attn = tinyattn.nn.MultiHeadAttention(6, 2, dtype="float64")
    x = tinyattn.randn(3, 5, 6, dtype="float64", requires_grad=True)
    grads = []
    for fused in (True, False):
        x.grad = None
        attn.zero_grad()
        out = attn(x, is_causal=True) if fused else attn(x, is_causal=True, need_weights=True)[0]
        out.sum().backward()
        grads.append([out.numpy(), x.backend.to_numpy(x.grad)]
                     + [x.backend.to_numpy(p.grad) for p in attn.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
